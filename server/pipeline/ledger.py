"""The aggregate ledger's vocabulary: a round's updates as flat ops, and hashes as documents.

Pure: no I/O. Aggregates (session summaries, visitor records, heatmap bins, scroll depth,
frustration signals, zones) live in Redis hashes, one per document, updated by one Lua call per
flush round together with the XACK of the round's entries (exactly once: both happen or
neither), and so does the state each session carries between rounds. A checkpoint copies
changed hashes into MongoDB as whole documents, so writing one twice is harmless.

A hash field is a dotted document path. Numbers are stored as they are (HINCRBY works on
them); any other value is stored as "j:" + JSON. Datetimes are epoch milliseconds.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from server.pipeline.aggregate import FlushPlan, StreamedBatch, Update

# Ops understood by the commit script (server/adapters/aggregate_ledger.py).
INC = "I"  # HINCRBY
INC_FLOAT = "F"  # HINCRBYFLOAT (an amount that is not a whole number)
MAX = "X"  # keep the larger number
MIN = "N"  # keep the smaller number
SET = "S"  # set the value
SET_ON_INSERT = "O"  # set the value unless the field exists
MAX_HOURLY = "Q"  # keep the larger number; the document counts as changed once per hour

SESSIONS, VISITORS, HEATMAP, SCROLL, FRUSTRATION, ZONES = "s", "v", "h", "d", "f", "z"
# Document fields that are datetimes (stored as epoch ms in the hash).
DATETIME_FIELDS = {
    SESSIONS: frozenset({"started_at", "last_at"}),
    VISITORS: frozenset({"first_seen", "last_seen"}),
    HEATMAP: frozenset(),
    SCROLL: frozenset(),
    FRUSTRATION: frozenset(),
    ZONES: frozenset(),
}
# Hash fields the ledger keeps for itself, never copied into documents.
GEN_FIELD = "_gen"  # bumped by every change: the checkpoint's generation number
STORED_FIELD = "_ck"  # set once MongoDB holds a document for this hash
# Epoch ms of the first attempt to insert this hash's document (kept by every later attempt
# as the document's `updated_at`): a duplicate key whose stored `updated_at` is this stamp is
# this hash's own insert by a checkpoint that died before settling, not an older document.
FIRST_WRITE_FIELD = "_w"

Op = tuple[str, str, str]  # (op, field, encoded value)


def encode_value(value: Any) -> str:
    """A hash value: numbers plain, datetimes as epoch ms, anything else as JSON."""
    if isinstance(value, bool):
        return "j:" + orjson.dumps(value).decode()
    if isinstance(value, datetime):
        return str(int(value.timestamp() * 1000))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float) and math.isfinite(value):
        # Plain too: the commit script compares MAX/MIN values with tonumber() (a scroll
        # depth is a fraction); "j:0.45" made it fail on every retry of the round.
        return repr(value)
    return "j:" + orjson.dumps(value).decode()


def decode_value(raw: str) -> Any:
    if raw.startswith("j:"):
        return orjson.loads(raw[2:])
    try:
        return int(raw)
    except ValueError:
        return float(raw)


def update_ops(update: Update, *, quiet_max: frozenset[str] = frozenset()) -> list[Op]:
    """One document's update as ledger ops (fields in `quiet_max` use MAX_HOURLY)."""
    ops: list[Op] = []
    for path, amount in update.inc.items():
        if amount:  # adding nothing must not count as a change
            whole = isinstance(amount, int) or float(amount).is_integer()
            ops.append((INC if whole else INC_FLOAT, path, encode_value(amount)))
    for path, value in update.max.items():
        ops.append((MAX_HOURLY if path in quiet_max else MAX, path, encode_value(value)))
    for path, value in update.min.items():
        ops.append((MIN, path, encode_value(value)))
    for path, value in update.set.items():
        ops.append((SET, path, encode_value(value)))
    for path, value in update.on_insert.items():
        if path not in update.set:
            ops.append((SET_ON_INSERT, path, encode_value(value)))
    return ops


@dataclass(frozen=True)
class KeyOps:
    """The ops for one aggregate document, with who it belongs to (for erasure checks)."""

    kind: str  # SESSIONS, VISITORS, HEATMAP or SCROLL
    doc_id: str
    ops: list[Op]
    vid: str = ""  # sessions and visitors: a visitor erased during the round is skipped
    received_ms: int = 0  # the earliest batch behind these ops


@dataclass(frozen=True)
class ScrollMark:
    pvid: str
    doc_id: str
    bucket: int


@dataclass(frozen=True)
class Carry:
    """What a session carries to the next round (frustration detection, products clicked per
    zone), as the round left it: set with the commit."""

    sid: str
    state: bytes  # JSON
    vid: str  # a visitor erased during the round gets none
    received_ms: int


@dataclass
class RoundOps:
    keys: list[KeyOps]
    scroll_marks: list[ScrollMark]
    scroll_meta: dict[str, list[Op]]  # applied to a scroll document only when it gains counts
    viewports: dict[str, int]  # page view -> width, for later batches without a page event
    carries: list[Carry] = field(default_factory=list)


def round_ops(plan: FlushPlan, items: Iterable[StreamedBatch]) -> RoundOps:
    """Turn a round's plan into the ops the commit script applies."""
    first_received: dict[str, int] = {}
    session_vid: dict[str, str] = {}
    viewports: dict[str, int] = {}
    for item in items:
        vid = item.batch["vid"]
        first_received[vid] = min(item.received_ms, first_received.get(vid, item.received_ms))
        session_vid[item.batch["sid"]] = vid
        for event in item.batch["events"]:
            if event["k"] == "page":
                viewports[item.batch["pvid"]] = event["vw"]
    keys: list[KeyOps] = []
    for sid, update in plan.sessions.items():
        vid = session_vid[sid]
        keys.append(KeyOps(SESSIONS, sid, update_ops(update), vid, first_received[vid]))
    for vid, update in plan.visitors.items():
        ops = update_ops(update, quiet_max=frozenset({"last_seen"}))
        keys.append(KeyOps(VISITORS, vid, ops, vid, first_received[vid]))
    for bin_id, update in plan.heatmap_bins.items():
        keys.append(KeyOps(HEATMAP, bin_id, update_ops(update)))
    for doc_id, update in plan.frustration.items():
        keys.append(KeyOps(FRUSTRATION, doc_id, update_ops(update)))
    for doc_id, update in plan.zones.items():
        keys.append(KeyOps(ZONES, doc_id, update_ops(update)))
    deepest: dict[tuple[str, str], int] = {}
    for doc_id, pvid, bucket in plan.scroll_reached:
        deepest[(doc_id, pvid)] = max(bucket, deepest.get((doc_id, pvid), -1))
    marks = [ScrollMark(pvid, doc_id, bucket) for (doc_id, pvid), bucket in deepest.items()]
    meta = {
        doc_id: [(SET_ON_INSERT, name, encode_value(value)) for name, value in fields.items()]
        for doc_id, fields in plan.scroll_meta.items()
    }
    carries = [
        Carry(sid, orjson.dumps(state), *plan.carry_owner[sid]) for sid, state in plan.carry.items()
    ]
    return RoundOps(keys, marks, meta, viewports, carries)


def document_from_hash(kind: str, doc_id: str, fields: Mapping[str, str]) -> dict[str, Any]:
    """The MongoDB document a ledger hash stands for (stamped with its generation)."""
    doc: dict[str, Any] = {"_id": doc_id}
    dates = DATETIME_FIELDS[kind]
    for name, raw in sorted(fields.items()):
        if name.startswith("_"):
            continue
        value = decode_value(raw)
        if name in dates and isinstance(value, int | float):
            value = datetime.fromtimestamp(value / 1000, UTC)
        _set_path(doc, name.split("."), value)
    doc["gen"] = int(fields.get(GEN_FIELD, 0))
    return doc


def _set_path(doc: dict[str, Any], parts: list[str], value: Any) -> None:
    for part in parts[:-1]:
        child = doc.get(part)
        if not isinstance(child, dict):
            child = doc[part] = {}
        doc = child
    doc[parts[-1]] = value


# How a stored document folds into a hash that restarted from nothing (its Redis copy had
# expired, then new batches came): counters add, bounds compare, the rest keeps Redis's value.
_SESSION_COUNTERS = frozenset({"events", "clicks", "page_views", "cart_actions", "active_ms"})
_FRUSTRATION_COUNTERS = frozenset({"n", "a", "c", "p", "ek", "eo"})
_ZONE_COUNTERS = frozenset({"views", "clicks", "orders", "revenue_cents"})
_PAGE_COUNTERS = frozenset({"events", "clicks"})


def _merge_op(kind: str, path: str) -> str:
    parts = path.split(".")
    if kind == SESSIONS:
        if path in _SESSION_COUNTERS or (parts[0] == "pages" and parts[-1] in _PAGE_COUNTERS):
            return INC
        if parts[0] == "fx":
            return INC
        if path in ("last_at", "max_depth") or (parts[0] == "pages" and parts[-1] == "max_depth"):
            return MAX
        if path == "started_at":
            return MIN
    elif kind == VISITORS:
        if path == "first_seen":
            return MIN
        if path == "last_seen":
            return MAX
    elif kind == HEATMAP:
        if path == "n" or parts[0] in ("page", "anchor"):
            return INC
    elif kind == SCROLL and parts[0] == "reached":
        return INC
    elif kind == FRUSTRATION and parts[0] in _FRUSTRATION_COUNTERS:
        return INC
    elif kind == ZONES and path in _ZONE_COUNTERS:
        return INC
    return SET_ON_INSERT


def merge_ops(kind: str, stored: Mapping[str, Any]) -> list[Op]:
    """Ops that fold a stored document into its restarted hash (applied once)."""
    ops: list[Op] = []
    for path, value in _flatten(stored):
        if path in ("_id", "gen", "updated_at"):
            continue
        ops.append((_merge_op(kind, path), path, encode_value(value)))
    return ops


def _flatten(doc: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in doc.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.extend(_flatten(value, path + "."))
        else:
            out.append((path, value))
    return out


# Raw events: each session's batches of a round go into one compressed frame.


def frame_id(sid: str, entry_ids: Iterable[str]) -> str:
    """Deterministic: the same entries make the same id, so a retried round inserts nothing."""
    digest = hashlib.blake2b(",".join(sorted(entry_ids)).encode(), digest_size=12).hexdigest()
    return f"{sid}:{digest}"


def plan_frames(items: Iterable[StreamedBatch]) -> list[dict[str, Any]]:
    """One document per session: its batches as one zlib-compressed JSON array."""
    by_session: dict[str, list[StreamedBatch]] = defaultdict(list)
    for item in items:
        by_session[item.batch["sid"]].append(item)
    frames = []
    for sid, batches in by_session.items():
        batches.sort(key=lambda i: (i.batch["t0"], i.batch["pvid"], i.batch["seq"]))
        records = [
            {
                "pvid": i.batch["pvid"], "seq": i.batch["seq"], "t0": i.batch["t0"],
                "path": i.batch["path"], "rt": i.received_ms, "persona": i.persona,
                "events": i.batch["events"],
            }
            for i in batches
        ]  # fmt: skip
        frames.append(
            {
                "_id": frame_id(sid, (i.entry_id for i in batches)),
                "vid": batches[0].batch["vid"],
                "sid": sid,
                "arm": batches[0].arm,
                "t0": min(i.batch["t0"] for i in batches),
                "received_at": datetime.fromtimestamp(
                    min(i.received_ms for i in batches) / 1000, UTC
                ),
                "n": sum(len(i.batch["events"]) for i in batches),
                "batches": len(batches),
                "z": zlib.compress(orjson.dumps(records), 3),
            }
        )
    return frames


def frame_chunks(frame: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A frame's batches in the shape of one stored chunk each (replay, export, recount).

    Each also says the arm and the persona it was counted under, so the aggregates can be
    recomputed from the raw events alone (tests/support/recompute.py).
    """
    records = orjson.loads(zlib.decompress(frame["z"]))
    return [
        {
            "_id": f"{record['pvid']}:{record['seq']}",
            "vid": frame["vid"], "sid": frame["sid"], "pvid": record["pvid"],
            "seq": record["seq"], "t0": record["t0"], "path": record["path"],
            "received_at": datetime.fromtimestamp(record["rt"] / 1000, UTC),
            "n": len(record["events"]), "events": record["events"],
            "arm": frame.get("arm"), "persona": record.get("persona", "unknown"),
        }
        for record in records
    ]  # fmt: skip
