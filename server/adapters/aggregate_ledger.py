"""RedisAggregateLedger: aggregates in Redis hashes, applied with the round's XACK in one script.

Why Redis and not MongoDB for the running counts: a Lua script is atomic, so a round's
increments and the acknowledgement of its stream entries happen together or not at all.
A flusher killed anywhere, a MongoDB error, or a retry after a claim can then neither lose
nor double a count. MongoDB receives whole documents from the checkpoint
(server/workers/checkpointer.py); writing one twice gives the same document.

Keys (built by server/adapters/redis_keys.py, where their scope and erasure are listed; the
Lua scripts get them, or the stems they append an id to, in their header):
  agg:<kind>:<doc id>   one hash per session (s), visitor (v), heatmap bin (h), scroll doc (d)
  agg:dirty             hashes changed since their last checkpoint
  agg:framed            stream entries whose frames are stored and not yet committed, with
                        the persona they were framed under
  reach:<pvid>          a page view's deepest scroll bucket (counted once per view)
  vw:<pvid>             a page view's viewport width (binning batches without a page event)
  carry:<sid>           what a session carries between rounds (set with the commit, so a
                        retried round starts from the state its first attempt started from)
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aioredis

from server.adapters.redis_keys import CARRY, ERASED, REACH, VIEWPORT, RedisKeys, ttl_of
from server.pipeline.ledger import FIRST_WRITE_FIELD, GEN_FIELD, SCROLL, STORED_FIELD, Op, RoundOps

# One flush round, applied atomically with the XACK of its entries. ARGV[1] is a small JSON
# header; ARGV[2] one flat JSON array of strings (one C decode, no table per op; far cheaper
# to send than as separate arguments): the entry ids, then per document: key, vid, received
# ms, op count and (op, field, value) triples; then scroll marks (pvid, key, bucket), scroll
# metadata (key, count, field/value pairs), viewports (pvid, width) and carry states
# (sid, vid, received ms, JSON). The header names the dirty set and framed hash, and the key
# stems of tombstones, reach, viewport and carry marks (the script appends the vid,
# pvid or sid). Returns JSON:
# {"ok": false} when an entry is no longer pending for this consumer (claimed by another,
# or acknowledged), in which case nothing was applied; else {"ok": true, "scroll":
# [[doc key, lowest new bucket, highest], ...]}.
_COMMIT = """
local h = cjson.decode(ARGV[1])
local A = cjson.decode(ARGV[2])
local stream = KEYS[1]
local at = 1
local ids = {}
for i = 1, h.n_ids do ids[i] = A[at]; at = at + 1 end
if #ids > 0 then
  -- Usually one call: this consumer's pending entries in the round's range are the round.
  local owned = redis.call('XPENDING', stream, h.g, h.lo, h.hi, #ids + 1, h.c)
  local all = #owned == #ids
  if all then
    local wanted = {}
    for _, id in ipairs(ids) do wanted[id] = true end
    for _, entry in ipairs(owned) do
      if not wanted[entry[1]] then all = false; break end
    end
  end
  if not all then
    for _, id in ipairs(ids) do
      if #redis.call('XPENDING', stream, h.g, id, id, 1, h.c) == 0 then
        return cjson.encode({ok = false})
      end
    end
  end
end
local dirty_key = h.dirty
local function touch(key)
  redis.call('HINCRBY', key, '_gen', 1)
  redis.call('SADD', dirty_key, key)
  redis.call('PERSIST', key)
end
for _ = 1, h.n_keys do
  local key, vid, rt, n = A[at], A[at + 1], tonumber(A[at + 2]), tonumber(A[at + 3])
  at = at + 4
  local skip = false
  if vid ~= '' then
    local erased = redis.call('GET', h.erased .. vid)
    if erased and tonumber(erased) >= rt then skip = true end
  end
  if skip then
    at = at + 3 * n
  else
    local changed = redis.call('EXISTS', key) == 0
    local sets = {}
    for _ = 1, n do
      local kind, field, value = A[at], A[at + 1], A[at + 2]
      at = at + 3
      if kind == 'I' then
        redis.call('HINCRBY', key, field, value); changed = true
      elseif kind == 'F' then
        redis.call('HINCRBYFLOAT', key, field, value); changed = true
      elseif kind == 'S' then
        sets[#sets + 1] = field; sets[#sets + 1] = value
      elseif kind == 'O' then
        if redis.call('HSETNX', key, field, value) == 1 then changed = true end
      else
        local old = redis.call('HGET', key, field)
        local new = tonumber(value)
        local better = (old == false) or (kind == 'N' and new < tonumber(old))
          or (kind ~= 'N' and new > tonumber(old))
        if better then
          redis.call('HSET', key, field, value)
          if kind ~= 'Q' or old == false
            or math.floor(new / 3600000) ~= math.floor(tonumber(old) / 3600000) then
            changed = true
          end
        end
      end
    end
    for i = 1, #sets, 400 do
      local last = math.min(i + 399, #sets)
      if not changed then
        local fields = {}
        for j = i, last, 2 do fields[#fields + 1] = sets[j] end
        local olds = redis.call('HMGET', key, unpack(fields))
        for j, old in ipairs(olds) do
          if old ~= sets[i + 2 * j - 1] then changed = true; break end
        end
      end
      redis.call('HSET', key, unpack(sets, i, last))
    end
    if changed then touch(key) elseif h.ttl > 0 and redis.call('TTL', key) > 0 then
      redis.call('EXPIRE', key, h.ttl)
    end
  end
end
local reach = {}
for _ = 1, h.n_reach do
  reach[#reach + 1] = {A[at], A[at + 1], tonumber(A[at + 2])}
  at = at + 3
end
local meta = {}
for _ = 1, h.n_meta do
  local key, n = A[at], tonumber(A[at + 1])
  meta[key] = {at + 2, n}
  at = at + 2 + 2 * n
end
local scroll = {}
for _, m in ipairs(reach) do
  local rk = h.reach .. m[1]
  local old = tonumber(redis.call('GET', rk) or '-1')
  if m[3] > old then
    redis.call('SET', rk, m[3], 'EX', h.view_ttl)
    local key = m[2]
    for b = old + 1, m[3] do redis.call('HINCRBY', key, 'reached.' .. b, 1) end
    local fields = meta[key]
    if fields then
      for j = 0, fields[2] - 1 do
        redis.call('HSETNX', key, A[fields[1] + 2 * j], A[fields[1] + 2 * j + 1])
      end
    end
    touch(key)
    table.insert(scroll, {key, old + 1, m[3]})
  end
end
for _ = 1, h.n_vw do
  redis.call('SET', h.vw .. A[at], A[at + 1], 'EX', h.view_ttl)
  at = at + 2
end
for _ = 1, h.n_carry do
  local sid, vid, rt = A[at], A[at + 1], tonumber(A[at + 2])
  local erased = redis.call('GET', h.erased .. vid)
  if not (erased and tonumber(erased) >= rt) then
    redis.call('SET', h.carry .. sid, A[at + 3], 'EX', h.view_ttl)
  end
  at = at + 4
end
for i = 1, #ids, 500 do
  redis.call('XACK', stream, h.g, unpack(ids, i, math.min(i + 499, #ids)))
  redis.call('HDEL', h.framed, unpack(ids, i, math.min(i + 499, #ids)))
end
return cjson.encode({ok = true, scroll = scroll})
"""

# After a checkpoint wrote these generations: forget the hashes that did not change since,
# and let them expire (they are in MongoDB now). ARGV: ttl, then key, gen, stored pairs.
_SETTLE = """
local settled = 0
for i = 2, #ARGV, 3 do
  local key = ARGV[i]
  if redis.call('EXISTS', key) == 1 then
    if ARGV[i + 2] == '1' then redis.call('HSET', key, '_ck', '1') end
    if redis.call('HGET', key, '_gen') == ARGV[i + 1] then
      redis.call('SREM', KEYS[1], key)
      redis.call('EXPIRE', key, ARGV[1])
      settled = settled + 1
    end
  else
    redis.call('SREM', KEYS[1], key)
  end
end
return settled
"""

# Fold a stored document into a hash that restarted from nothing, once (flag: _ck).
_MERGE_ONCE = """
if redis.call('HEXISTS', KEYS[1], '_ck') == 1 then return 0 end
local ops = cjson.decode(ARGV[1])
for _, op in ipairs(ops) do
  local kind, field, value = op[1], op[2], op[3]
  local old = redis.call('HGET', KEYS[1], field)
  local replace = old == false
    or (kind == 'N' and tonumber(value) < tonumber(old))
    or (kind == 'X' and tonumber(value) > tonumber(old))
  if kind == 'I' then redis.call('HINCRBY', KEYS[1], field, value)
  elseif kind == 'F' then redis.call('HINCRBYFLOAT', KEYS[1], field, value)
  elseif replace then redis.call('HSET', KEYS[1], field, value)
  end
end
redis.call('HSET', KEYS[1], '_ck', '1')
redis.call('HINCRBY', KEYS[1], '_gen', 1)
redis.call('SADD', KEYS[2], KEYS[1])
redis.call('PERSIST', KEYS[1])
return 1
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# Before inserting documents of hashes MongoDB does not hold yet: stamp each hash with the
# first attempt's time unless an earlier attempt did; return each hash's stamp ('' if gone).
_STAMP_FIRST_WRITE = """
local stamps = {}
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    redis.call('HSETNX', key, ARGV[2], ARGV[1])
    stamps[i] = redis.call('HGET', key, ARGV[2])
  else
    stamps[i] = ''
  end
end
return stamps
"""

# Take the lease when it is free, or when the holder has the same owner name (ARGV[3], ends
# with ':'): that holder is this process's previous life, which died holding it.
_LOCK = """
local held = redis.call('GET', KEYS[1])
if held and (ARGV[3] == '' or string.sub(held, 1, #ARGV[3]) ~= ARGV[3]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""


@dataclass(frozen=True)
class CommitResult:
    ok: bool  # False: another consumer owns (or acknowledged) an entry; nothing was applied
    scroll: dict[str, dict[int, int]]  # scroll document -> bucket -> views newly reaching it


@dataclass(frozen=True)
class LedgerHash:
    key: str
    kind: str
    doc_id: str
    fields: dict[str, str]

    @property
    def gen(self) -> str:
        return self.fields.get(GEN_FIELD, "0")

    @property
    def stored(self) -> bool:
        return STORED_FIELD in self.fields


class RedisAggregateLedger:
    """The aggregates of the events stream `stream` (its entries are acknowledged here)."""

    def __init__(
        self, client: aioredis.Redis, keys: RedisKeys | str, *, stream: str | None = None,
        hash_ttl_s: int = 6 * 3600, view_ttl_s: int = ttl_of(REACH),
    ) -> None:  # fmt: skip
        self.redis = client
        self.keys = keys if isinstance(keys, RedisKeys) else RedisKeys(keys)
        self.stream = stream or self.keys.events_stream()
        self.hash_ttl_s = hash_ttl_s
        self.view_ttl_s = view_ttl_s
        self.dirty_key = self.keys.aggregates_dirty()
        self.framed_key = self.keys.aggregates_framed()  # entries whose frames are stored
        self.lock_key = self.keys.checkpoint_lock()
        self._commit = client.register_script(_COMMIT)
        self._settle = client.register_script(_SETTLE)
        self._merge = client.register_script(_MERGE_ONCE)
        self._release = client.register_script(_RELEASE)
        self._lock = client.register_script(_LOCK)
        self._stamp = client.register_script(_STAMP_FIRST_WRITE)

    def key(self, kind: str, doc_id: str) -> str:
        return self.keys.aggregate(kind, doc_id)

    def split_key(self, key: str) -> tuple[str, str]:
        return self.keys.split_aggregate(key)

    async def framed(self, entry_ids: Sequence[str]) -> dict[str, str]:
        """Of these entries, those whose frames are stored (not yet committed): their persona.

        A retry counts them under the persona their frames recorded, so the aggregates always
        agree with the raw events, even if the visitor's persona changed in between.
        """
        if not entry_ids:
            return {}
        values = await self.redis.hmget(self.framed_key, list(entry_ids))
        return {e: _text(v) for e, v in zip(entry_ids, values, strict=True) if v is not None}

    async def mark_framed(self, personas: Mapping[str, str]) -> None:
        """Note that these entries' frames are stored (the commit of each forgets it)."""
        items = list(personas.items())
        async with self.redis.pipeline(transaction=False) as pipe:
            for start in range(0, len(items), 1000):
                pipe.hset(self.framed_key, mapping=dict(items[start : start + 1000]))
            await pipe.execute()

    async def viewports(self, pvids: Sequence[str]) -> dict[str, int]:
        """Widths of page views whose `page` event came in an earlier round."""
        if not pvids:
            return {}
        raw = await self.redis.mget([self.keys.viewport(pvid) for pvid in pvids])
        return {pvid: int(v) for pvid, v in zip(pvids, raw, strict=True) if v is not None}

    async def carries(self, sids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """What sessions carry between rounds, as the last committed round left it."""
        if not sids:
            return {}
        raw = await self.redis.mget([self.keys.carry(sid) for sid in sids])
        return {sid: orjson.loads(v) for sid, v in zip(sids, raw, strict=True) if v is not None}

    async def commit(
        self, group: str, consumer: str, entry_ids: Sequence[str], ops: RoundOps
    ) -> CommitResult:
        """Apply a round's ops and acknowledge its entries (of `self.stream`), atomically."""
        ids = sorted(entry_ids, key=_stream_order)
        keys = self.keys
        header = {
            "dirty": self.dirty_key, "framed": self.framed_key, "erased": keys.stem(ERASED),
            "reach": keys.stem(REACH), "vw": keys.stem(VIEWPORT), "carry": keys.stem(CARRY),
            "g": group, "c": consumer, "ttl": self.hash_ttl_s,
            "view_ttl": self.view_ttl_s, "lo": ids[0] if ids else "-",
            "hi": ids[-1] if ids else "+", "n_ids": len(ids), "n_keys": len(ops.keys),
            "n_reach": len(ops.scroll_marks), "n_meta": len(ops.scroll_meta),
            "n_vw": len(ops.viewports), "n_carry": len(ops.carries),
        }  # fmt: skip
        flat: list[str] = list(ids)
        for k in ops.keys:
            flat.extend((self.key(k.kind, k.doc_id), k.vid, str(k.received_ms), str(len(k.ops))))
            for op in k.ops:
                flat.extend(op)
        for m in ops.scroll_marks:
            flat.extend((m.pvid, self.key(SCROLL, m.doc_id), str(m.bucket)))
        for doc_id, meta in ops.scroll_meta.items():
            flat.extend((self.key(SCROLL, doc_id), str(len(meta))))
            for _, name, value in meta:
                flat.extend((name, value))
        for pvid, width in ops.viewports.items():
            flat.extend((pvid, str(width)))
        for d in ops.carries:
            flat.extend((d.sid, d.vid, str(d.received_ms), d.state.decode()))
        args = [orjson.dumps(header), orjson.dumps(flat)]
        reply = orjson.loads(await self._commit(keys=[self.stream], args=args))
        scroll: dict[str, dict[int, int]] = {}
        for key, low, high in reply.get("scroll") or ():
            counts = scroll.setdefault(self.split_key(key)[1], {})
            for bucket in range(int(low), int(high) + 1):
                counts[bucket] = counts.get(bucket, 0) + 1
        return CommitResult(bool(reply["ok"]), scroll)

    async def dirty(self, limit: int) -> list[str]:
        """Up to `limit` hashes changed since their last checkpoint."""
        keys: list[str] = []
        cursor = 0
        while True:
            cursor, batch = await self.redis.sscan(self.dirty_key, cursor, count=1000)
            keys.extend(_text(key) for key in batch)
            if cursor == 0 or len(keys) >= limit:
                return list(dict.fromkeys(keys))[:limit]

    async def read(self, keys: Sequence[str]) -> list[LedgerHash]:
        """The hashes' fields (a key erased meanwhile comes back with no fields)."""
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hgetall(key)
            replies = await pipe.execute()
        hashes = []
        for key, fields in zip(keys, replies, strict=True):
            kind, doc_id = self.split_key(key)
            hashes.append(
                LedgerHash(key, kind, doc_id, {_text(f): _text(v) for f, v in fields.items()})
            )
        return hashes

    async def settle(self, written: Sequence[tuple[LedgerHash, bool]]) -> int:
        """Mark what a checkpoint wrote: (hash as read, whether MongoDB now holds it)."""
        if not written:
            return 0
        settled = 0
        for start in range(0, len(written), 1000):
            args: list[Any] = [self.hash_ttl_s]
            for item, stored in written[start : start + 1000]:
                args.extend((item.key, item.gen, "1" if stored else "0"))
            settled += int(await self._settle(keys=[self.dirty_key], args=args))
        return settled

    async def stamp_first_write(self, keys: Sequence[str], now_ms: int) -> dict[str, int]:
        """Each hash's first-insert stamp (FIRST_WRITE_FIELD), set to `now_ms` where absent.

        A hash erased meanwhile is left out."""
        stamps: dict[str, int] = {}
        for start in range(0, len(keys), 1000):
            part = list(keys[start : start + 1000])
            replies = await self._stamp(keys=part, args=[now_ms, FIRST_WRITE_FIELD])
            for key, raw in zip(part, replies, strict=True):
                if _text(raw):
                    stamps[key] = int(_text(raw))
        return stamps

    async def merge_once(self, key: str, ops: Sequence[Op]) -> bool:
        """Fold a stored document into `key` unless that was done already."""
        payload = orjson.dumps([list(op) for op in ops])
        return bool(await self._merge(keys=[key, self.dirty_key], args=[payload]))

    async def lock(self, lease_ms: int, owner: str = "") -> str | None:
        """Take the checkpoint lease (one checkpoint or erasure at a time); None if taken.

        With a stable `owner` (a process's name, e.g. VITRINE_FLUSHER_CONSUMER), a lease the
        same owner still holds is taken over: that holder was this process before a crash
        or a kill, and waiting out its lease would stop checkpoints for LEASE_MS.
        """
        token = f"{owner}:{secrets.token_hex(8)}" if owner else secrets.token_hex(8)
        mine = f"{owner}:" if owner else ""
        if await self._lock(keys=[self.lock_key], args=[token, lease_ms, mine]):
            return token
        return None

    async def unlock(self, token: str) -> None:
        await self._release(keys=[self.lock_key], args=[token])

    async def forget(self, keys: Sequence[str]) -> int:
        """Delete hashes (erasure): they leave the dirty set too."""
        if not keys:
            return 0
        async with self.redis.pipeline(transaction=False) as pipe:
            for start in range(0, len(keys), 500):
                pipe.delete(*keys[start : start + 500])
                pipe.srem(self.dirty_key, *keys[start : start + 500])
            replies = await pipe.execute()
        return sum(int(n) for n in replies[::2])

    async def backlog(self) -> int:
        return int(await self.redis.scard(self.dirty_key))


def _stream_order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
