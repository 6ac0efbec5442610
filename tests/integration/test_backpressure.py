"""Backpressure: past `[redis] max_backlog` unwritten batches, ingest answers "busy", clients
keep their batches and resend, and nothing is lost once a flusher catches up.

No flusher runs at first (`[workers] mode = "none"`: the deployment runs
`python -m server worker flusher` itself, started here later). Shoppers are the real
browser transport (client/src/transport.js over socket.io-client, run by node:
tests/integration/test_backpressure_client.mjs), plus a visitor posting to the beacon
endpoint. They drive the stream to its bound; then a flusher process starts, and every
batch sent is stored, once. A direct test shows what keeps that true: the stream is trimmed
only below what every consumer group acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import redis.asyncio as aioredis

from server.adapters.redis_buffer import RedisEventBuffer
from tests.support.batches import batch, click, moves, page_event, page_view_id
from tests.support.flusher_process import FlusherProcess
from tests.support.live_server import running_app, visitor_cookie
from tests.support.node_shoppers import NODE, start_node_shopper
from tests.support.polling import eventually
from tests.support.probes import stream_drained
from tests.support.settings import UNLIMITED

DRIVER = Path(__file__).with_name("test_backpressure_client.mjs")
MAX_BACKLOG = 30
SHOPPERS, SHOPPER_BATCHES = 2, 45
BEACON_BATCHES = 8


class NodeShopper:
    """One node shopper; its latest counters are read while it runs."""

    def __init__(self, process: Any, me: dict[str, Any]) -> None:
        self.process = process
        self.me = me
        self.latest: dict[str, Any] = {}
        self.final: dict[str, Any] | None = None
        self.busy_kept = False  # seen holding batches after a retryable refusal
        self.max_pending = 0
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, url: str, batches: int, interval_ms: int) -> NodeShopper:
        process, me = await start_node_shopper(DRIVER, url, batches, interval_ms, 120, 1000)
        return cls(process, me)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            report = orjson.loads(line)
            stats = report["stats"]
            self.latest = stats
            self.max_pending = max(self.max_pending, stats["pending"])
            if stats["retried"] > 0 and stats["pending"] > 0:
                self.busy_kept = True
            if report.get("final"):
                self.final = report

    async def finished(self) -> dict[str, Any]:
        await self._reader
        _, err = await self.process.communicate()
        assert self.process.returncode == 0, err.decode()[-2000:]
        assert self.final is not None
        return self.final

    async def kill(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


async def healthz(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, Any]]:
    async with http.get(url + "/healthz") as response:
        return response.status, await response.json()


async def beacon(
    http: aiohttp.ClientSession, url: str, cookie: str, item: dict[str, Any]
) -> tuple[int, dict[str, Any]]:
    async with http.post(url + "/record-session-data", data=orjson.dumps(item),
                         headers={"Cookie": cookie, "Content-Type": "application/json"}) as response:  # fmt: skip
        return response.status, await response.json()


def beacon_batches(me: dict[str, Any]) -> list[dict[str, Any]]:
    pvid = page_view_id()
    return [
        batch(me["vid"], me["session_id"], pvid, seq,
              ([page_event()] if seq == 0 else []) + moves(3) + [click(300 + seq)])
        for seq in range(BEACON_BATCHES)
    ]  # fmt: skip


@pytest.mark.skipif(NODE is None, reason="node is needed for the real client")
async def test_clients_keep_their_batches_while_busy_and_all_land_once_a_flusher_runs(
    make_settings: Any, tmp_path: Path
) -> None:
    settings = make_settings(
        redis={"max_backlog": MAX_BACKLOG}, workers={"mode": "none"},
        personas={"enabled": False}, tracking=UNLIMITED,
    )  # fmt: skip
    flusher = FlusherProcess(settings, tmp_path / "flusher.log",
                             VITRINE_FLUSHER__BLOCK_MS="200",
                             VITRINE_FLUSHER__ROUND_EVERY_S="0.05",
                             VITRINE_FLUSHER__CHECKPOINT_EVERY_S="0.2")  # fmt: skip
    async with (
        running_app(settings) as (app, url),
        aiohttp.ClientSession() as http,
        contextlib.AsyncExitStack() as cleanup,
    ):
        services = app.services
        events = services.pipeline.events
        longest = StreamLength(services.redis, services.key("events"))
        cleanup.push_async_callback(longest.stop)
        shoppers = []
        for _ in range(SHOPPERS):
            shoppers.append(await NodeShopper.start(url, SHOPPER_BATCHES, 20))
            cleanup.push_async_callback(shoppers[-1].kill)

        async def at_bound() -> bool:
            return longest.now >= MAX_BACKLOG

        await eventually(at_bound, timeout=60)
        # The beacon fallback is refused alike: 503 "busy" (its client keeps the batch).
        cookie, me = await visitor_cookie(url)
        beacons = beacon_batches(me)
        for item in beacons:
            assert await beacon(http, url, cookie, item) == (503, {"ok": False, "error": "busy"})

        async def shoppers_held_batches() -> bool:
            return all(s.busy_kept for s in shoppers)

        await eventually(shoppers_held_batches, timeout=60)
        status, report = await healthz(http, url)
        assert status == 503 and report["backpressure"] is True, report
        assert "backpressure: ingest answers busy" in report["reasons"]
        assert report["stream"]["stream_length"] == MAX_BACKLOG
        assert services.pipeline.ingest.busy_batches > 0
        assert await events.count_events({}) == 0  # nothing written yet

        await flusher.start()  # `python -m server worker flusher`
        cleanup.push_async_callback(flusher.stop)
        for item in beacons:  # the beacon's client sends again until accepted

            async def accepted(item: dict[str, Any] = item) -> bool:
                status, ack = await beacon(http, url, cookie, item)
                return status == 200 and ack == {"ok": True, "seq": item["seq"]}

            await eventually(accepted, timeout=90, interval=0.3)
        reports = [await s.finished() for s in shoppers]
        sent = {s.me["session_id"]: r["events"] for s, r in zip(shoppers, reports, strict=True)}
        sent[me["session_id"]] = sum(len(item["events"]) for item in beacons)

        async def all_stored() -> bool:
            return await events.count_events({}) >= sum(sent.values())

        await eventually(all_stored, timeout=90, interval=0.5)
        # Anything extra would be written before the flusher acknowledges the last entry.
        await eventually(lambda: stream_drained(url), timeout=60)
        stored = await events.stored_batches({})
        assert sum(chunk["n"] for chunk in stored) == sum(sent.values())
        # Every batch sent is stored, once: the stream dropped none that was not written.
        expected_ids = {f"{r['pvid']}:{seq}" for r in reports for seq in range(r["batches"])}
        expected_ids |= {f"{item['pvid']}:{item['seq']}" for item in beacons}
        assert sorted(chunk["_id"] for chunk in stored) == sorted(expected_ids)
        for report in reports:
            assert report["stats"]["pending"] == 0 and report["stats"]["rejected"] == 0
            assert report["stats"]["overflow"] == 0, report  # none dropped client-side
            assert report["stats"]["retried"] > 0  # each was refused and resent
        for sid, count in sent.items():

            async def checkpointed(sid: str = sid, count: int = count) -> bool:
                session = await events.session(sid)
                return bool(session) and session["events"] == count

            await eventually(checkpointed, timeout=60)

        async def healthy() -> dict[str, Any] | None:
            status, report = await healthz(http, url)
            return report if status == 200 else None

        report = await eventually(healthy, timeout=60)
        assert report["backpressure"] is False
        assert longest.max == MAX_BACKLOG  # the stream reached its bound, never went past it
        assert await flusher.stop() == 0, flusher.log()
        print(f"\n[backpressure] bound {MAX_BACKLOG}; sent {sum(sent.values())} events in "
              f"{len(expected_ids)} batches, stored {len(stored)} batches; busy answers "
              f"{services.pipeline.ingest.busy_batches}; shoppers retried "
              f"{[r['stats']['retried'] for r in reports]}, held at most "
              f"{[s.max_pending for s in shoppers]}; stream sampled, slowest "
              f"{longest.slowest_s:.2f} s, missed {longest.missed}")  # fmt: skip


class StreamLength:
    """Samples the stream's length every 20 ms while the test runs.

    An observer: a sample whose reply times out (a loaded machine can hold one for seconds)
    is counted as missed, not allowed to end the sampling or fail the test's teardown.
    """

    def __init__(self, client: aioredis.Redis, stream: str) -> None:
        self.client, self.stream = client, stream
        self.now = self.max = self.missed = 0
        self.slowest_s = 0.0  # the longest wait for one sample, to tell a stall when one shows
        self._task = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        while True:
            asked = time.monotonic()
            try:
                self.now = int(await self.client.xlen(self.stream))
            except aioredis.TimeoutError:
                self.missed += 1
            else:
                self.max = max(self.max, self.now)
            self.slowest_s = max(self.slowest_s, time.monotonic() - asked)
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def test_trimming_keeps_every_entry_a_group_has_not_acknowledged(
    valkey: Any, unique_name: str
) -> None:
    """A flusher with entries pending and a second group lagging behind it: trimming
    removes only entries both acknowledged (enough entries that Valkey's approximate
    trimming, by whole nodes of 100 entries, removes some)."""
    client = aioredis.Redis.from_url(valkey.url)
    buffer = RedisEventBuffer(client, f"{unique_name}:", "events", max_backlog=10_000)
    total = 1000
    try:
        await buffer.ensure_group("flusher")
        await buffer.ensure_group("laggard")
        for seq in range(total):
            assert await buffer.append_once("pvTrim0001", seq, b'{"seq": %d}' % seq) == 1
        everything = await entries(client, buffer.stream)
        ids = list(everything)
        acked: dict[str, set[str]] = {"flusher": set(), "laggard": set()}

        async def read(group: str, count: int) -> list[str]:
            got = await buffer.read(group, f"{group}-0", count, 10)
            assert len(got) == count
            return [entry.entry_id for entry in got]

        async def ack(group: str, entry_ids: list[str]) -> None:
            await buffer.ack(group, entry_ids)
            acked[group] |= set(entry_ids)

        def unacknowledged() -> set[str]:
            return {i for i in ids if not all(i in done for done in acked.values())}

        async def trim() -> set[str]:
            """Trim; every entry some group has not acknowledged is still there, intact."""
            await buffer.trim_acknowledged()
            left = await entries(client, buffer.stream)
            for entry_id in unacknowledged():
                assert left.get(entry_id) == everything[entry_id], entry_id
            assert set(left) <= set(ids)
            return set(left)

        # The flusher wrote and acknowledged 800, has 100 more pending (read, being written),
        # 100 unread; the laggard has not read anything yet: nothing may go.
        await ack("flusher", await read("flusher", 800))
        flusher_pending = await read("flusher", 100)
        assert await trim() == set(ids)
        # The laggard read 500 and acknowledged 300 (200 pending for it).
        laggard_read = await read("laggard", 500)
        await ack("laggard", laggard_read[:300])
        left = await trim()
        assert ids[0] not in left  # trimming does happen...
        assert set(ids[300:]) <= left  # ...never past the laggard's oldest pending entry
        # The laggard catches up to 850; the flusher's pending entries are now the oldest.
        await ack("laggard", laggard_read[300:])
        await ack("laggard", await read("laggard", 350))
        assert (await buffer.lag("flusher"))["pending"] == 100
        left = await trim()
        assert set(ids[800:]) <= left and ids[0] not in left
        # Both acknowledge everything they read; the unread (by the laggard: 150, by the
        # flusher: 100) stay.
        await ack("flusher", flusher_pending)
        left = await trim()
        assert set(ids[850:]) <= left
        assert len(unacknowledged()) == 150
    finally:
        await client.aclose()


async def entries(client: aioredis.Redis, stream: str) -> dict[str, bytes]:
    return {entry_id.decode(): fields[b"b"] for entry_id, fields in await client.xrange(stream)}
