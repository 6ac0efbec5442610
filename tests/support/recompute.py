"""Recompute every aggregate from the stored raw events, to check what the pipeline wrote.

The fault tests compare three things that must agree: what the clients had acknowledged,
the raw batches stored (frames, each batch read once), and the aggregate documents the
checkpoints wrote. This folds the stored batches one at a time, in the order the server
received them, with the same pure planning the flusher uses, into the documents a perfect
exactly-once pipeline would hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from server.adapters.event_store import MongoEventStore
from server.pipeline.aggregate import StreamedBatch, Update, plan_aggregates

# The fields each aggregate document gets from the events (the rest is bookkeeping).
IGNORED = {"_id", "gen", "updated_at"}


def _ms(value: Any) -> Any:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int(aware.timestamp() * 1000)
    return value


def comparable(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A document without bookkeeping fields, datetimes as epoch ms (either engine)."""

    def clean(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: clean(v) for k, v in value.items()}
        return _ms(value)

    return {k: clean(v) for k, v in doc.items() if k not in IGNORED}


def _apply(doc: dict[str, Any] | None, update: Update) -> dict[str, Any]:
    if doc is None:
        doc = update.as_new_document("x")
        doc.pop("_id")
        return doc
    for path, amount in update.inc.items():
        _put(doc, path, _get(doc, path, 0) + amount)
    for path, value in update.max.items():
        old = _get(doc, path, None)
        if old is None or _ms(value) > _ms(old):
            _put(doc, path, value)
    for path, value in update.min.items():
        old = _get(doc, path, None)
        if old is None or _ms(value) < _ms(old):
            _put(doc, path, value)
    for path, value in update.set.items():
        _put(doc, path, value)
    for path, value in update.on_insert.items():
        if _get(doc, path, None) is None:
            _put(doc, path, value)
    return doc


def _get(doc: Mapping[str, Any], path: str, default: Any) -> Any:
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return default
        node = node[part]
    return node


def _put(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        doc = doc.setdefault(part, {})
    doc[leaf] = value


async def expected_documents(events: MongoEventStore) -> dict[str, dict[str, dict[str, Any]]]:
    """Sessions, visitors, heatmap bins, scroll and frustration docs, from the stored batches."""
    batches = await events.stored_batches({})
    # The stream's order: by receive time, and within a millisecond (ingest stamps a burst
    # alike) by page view start, so a session's page views come in the order they began
    # (frustration's quick backs depend on it, as they do on the stream's order).
    batches.sort(key=lambda c: (_ms(c["received_at"]), c["t0"], c["pvid"], c["seq"]))
    docs: dict[str, dict[str, dict[str, Any]]] = {
        "sessions": {}, "visitors": {}, "heatmap_bins": {}, "scroll_depth": {},
        "frustration": {}, "zones": {},
    }  # fmt: skip
    widths: dict[str, int] = {}
    reach: dict[str, int] = {}
    carry: dict[str, dict[str, Any]] = {}  # as the flusher carries it in fx:<sid>
    for chunk in batches:
        item = StreamedBatch(
            entry_id=chunk["_id"],
            batch={
                key: chunk[key] for key in ("vid", "sid", "pvid", "seq", "t0", "path", "events")
            },
            received_ms=_ms(chunk["received_at"]),
            arm=chunk["arm"],
            persona=chunk.get("persona", "unknown"),
        )
        plan = plan_aggregates([item], widths, carry)
        carry.update(plan.carry)
        for event in item.batch["events"]:
            if event["k"] == "page":
                widths[item.batch["pvid"]] = event["vw"]
        for name, updates in (("sessions", plan.sessions), ("visitors", plan.visitors),
                              ("heatmap_bins", plan.heatmap_bins),
                              ("frustration", plan.frustration),
                              ("zones", plan.zones)):  # fmt: skip
            for doc_id, update in updates.items():
                docs[name][doc_id] = _apply(docs[name].get(doc_id), update)
        for doc_id, pvid, bucket in plan.scroll_reached:
            old = reach.get(pvid, -1)
            if bucket <= old:
                continue
            reach[pvid] = bucket
            update = Update(on_insert=dict(plan.scroll_meta[doc_id]))
            for reached in range(old + 1, bucket + 1):
                update.add(f"reached.{reached}")
            docs["scroll_depth"][doc_id] = _apply(docs["scroll_depth"].get(doc_id), update)
    return {name: {k: comparable(v) for k, v in by_id.items()} for name, by_id in docs.items()}


async def stored_documents(events: MongoEventStore) -> dict[str, dict[str, dict[str, Any]]]:
    """The aggregate documents MongoDB holds, in the same comparable form."""
    collections = {"sessions": events.sessions, "visitors": events.visitors,
                   "heatmap_bins": events.heatmap_bins, "scroll_depth": events.scroll_depth,
                   "frustration": events.frustration, "zones": events.zones}  # fmt: skip
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for name, collection in collections.items():
        out[name] = {str(doc["_id"]): comparable(doc) async for doc in collection.find({})}
    return out
