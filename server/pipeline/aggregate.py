"""Turn a round of accepted batches into what the store writes: chunks, summaries, bins.

Pure: no I/O. The flusher feeds it the batches it read from the stream (each with the
time the server received it and the visitor's persona and arm) and writes the result.
Frustration signals need what came before a batch (a rage click can straddle two rounds):
each session's carry state comes in with the round and goes out in the plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from server.domain.frustration import (
    DEFAULT_RULES,
    ERROR,
    FrustrationRules,
    SessionFrustration,
    Signal,
)
from server.domain.heatmap import anchor_cell, anchor_key, page_cell, scroll_bucket, viewport_class
from server.domain.zones import ZoneClicks, is_server_record


@dataclass(frozen=True)
class StreamedBatch:
    """A validated batch as the flusher reads it back from the stream."""

    entry_id: str
    batch: Mapping[str, Any]
    received_ms: int
    arm: str
    persona: str = "unknown"

    @property
    def chunk_id(self) -> str:
        return f"{self.batch['pvid']}:{self.batch['seq']}"


@dataclass
class Update:
    """One document's accumulated MongoDB update (operators -> {path: value})."""

    inc: dict[str, float] = field(default_factory=dict)
    max: dict[str, Any] = field(default_factory=dict)
    min: dict[str, Any] = field(default_factory=dict)
    set: dict[str, Any] = field(default_factory=dict)
    on_insert: dict[str, Any] = field(default_factory=dict)

    def add(self, path: str, amount: float = 1) -> None:
        self.inc[path] = self.inc.get(path, 0) + amount

    def keep_max(self, path: str, value: Any) -> None:
        if path not in self.max or value > self.max[path]:
            self.max[path] = value

    def keep_min(self, path: str, value: Any) -> None:
        if path not in self.min or value < self.min[path]:
            self.min[path] = value

    def operators(self) -> dict[str, dict[str, Any]]:
        """Return the update document for an existing record."""
        ops = {"$inc": self.inc, "$max": self.max, "$min": self.min, "$set": self.set}
        return {name: values for name, values in ops.items() if values}

    def as_new_document(self, doc_id: str) -> dict[str, Any]:
        """Return the document this update creates when nothing is stored yet."""
        doc: dict[str, Any] = {"_id": doc_id}
        for values in (self.on_insert, self.inc, self.max, self.min, self.set):
            for path, value in values.items():
                _set_path(doc, path, value)
        return doc


def _set_path(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        doc = doc.setdefault(part, {})
    doc[leaf] = value


@dataclass
class FlushPlan:
    chunks: list[dict[str, Any]] = field(default_factory=list)
    sessions: dict[str, Update] = field(default_factory=dict)
    # One record per visitor for the experiment: arm, latest persona, first and last seen.
    visitors: dict[str, Update] = field(default_factory=dict)
    heatmap_bins: dict[str, Update] = field(default_factory=dict)
    # (scroll document id, page view id, bucket): the flusher counts a bucket once per view.
    scroll_reached: list[tuple[str, str, int]] = field(default_factory=list)
    scroll_meta: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Frustration signals per page × viewport class × persona × arm × day (server/domain/
    # frustration.py); what each session carries to the next round, with the visitor it
    # belongs to and the earliest batch behind it (erasure checks).
    frustration: dict[str, Update] = field(default_factory=dict)
    # Zone views, clicks, orders and attributed revenue per page × zone × viewport class ×
    # persona × arm × day (server/domain/zones.py).
    zones: dict[str, Update] = field(default_factory=dict)
    carry: dict[str, dict[str, Any]] = field(default_factory=dict)
    carry_owner: dict[str, tuple[str, int]] = field(default_factory=dict)
    events: int = 0


def day_of(received_ms: int) -> str:
    return datetime.fromtimestamp(received_ms / 1000, UTC).strftime("%Y-%m-%d")


def chunk_document(item: StreamedBatch) -> dict[str, Any]:
    """The stored form of one batch: the unit of replay and of idempotency."""
    batch = item.batch
    return {
        "_id": item.chunk_id,
        "vid": batch["vid"],
        "sid": batch["sid"],
        "pvid": batch["pvid"],
        "seq": batch["seq"],
        "t0": batch["t0"],
        "path": batch["path"],
        "received_at": datetime.fromtimestamp(item.received_ms / 1000, UTC),
        "n": len(batch["events"]),
        "events": batch["events"],
        "agg": False,
    }


def plan_chunks(items: Iterable[StreamedBatch]) -> list[dict[str, Any]]:
    return [chunk_document(item) for item in items]


class SessionCarry:
    """What one session carries from round to round (`carry:<sid>`): frustration detection
    and the products it clicked per zone (server/domain/zones.py)."""

    def __init__(self, state: Mapping[str, Any] | None, rules: FrustrationRules) -> None:
        state = state or {}
        self.frustration = SessionFrustration(state.get("f"), rules)
        self.zones = ZoneClicks(state.get("z"))

    def to_state(self) -> dict[str, Any]:
        return {"f": self.frustration.to_state(), "z": self.zones.to_state()}


def plan_aggregates(
    items: Iterable[StreamedBatch],
    viewports: Mapping[str, int],
    carry: Mapping[str, Mapping[str, Any]] | None = None,
    rules: FrustrationRules = DEFAULT_RULES,
) -> FlushPlan:
    """Fold batches into session summaries, heatmap bins, scroll-depth marks, frustration
    signals and zone measures.

    `viewports` maps a page view id to its viewport width when an earlier batch told us
    (a batch without a `page` event still needs its view's width to bin clicks);
    `carry` maps a session id to what it carried out of earlier rounds.
    """
    plan = FlushPlan()
    widths = dict(viewports)
    known = carry or {}
    carried: dict[str, SessionCarry] = {}
    for item in items:
        sid = item.batch["sid"]
        session = carried.get(sid)
        if session is None:
            session = carried[sid] = SessionCarry(known.get(sid), rules)
        day = day_of(item.received_ms)
        if is_server_record(item.batch):
            _attribute_orders(plan, item, day, session.zones)
        else:
            _fold(plan, item, widths)
            _fold_zones(plan, item, day, session.zones, widths)
            for signal in session.frustration.feed(item.batch):
                _signal(plan, item, day, signal, widths)
        owner = plan.carry_owner.get(sid)
        plan.carry_owner[sid] = (
            item.batch["vid"],
            min(item.received_ms, owner[1]) if owner else item.received_ms,
        )
    plan.carry = {sid: session.to_state() for sid, session in carried.items()}
    return plan


def _zone_doc(
    plan: FlushPlan, item: StreamedBatch, day: str, path: str, zone: str, vclass: str
) -> Update:
    meta = {"day": day, "vc": vclass, "persona": item.persona, "arm": item.arm,
            "path": path, "zone": zone}  # fmt: skip
    return _document(plan.zones, meta)


def _fold_zones(
    plan: FlushPlan, item: StreamedBatch, day: str, zones: ZoneClicks, widths: Mapping[str, int]
) -> None:
    """Zone views and clicks; the products clicked in a zone, for a later order."""
    path = item.batch["path"]
    vclass = viewport_class(widths.get(item.batch["pvid"], 1280))
    for event in item.batch["events"]:
        kind = event["k"]
        if kind == "zone":
            _zone_doc(plan, item, day, path, event["z"], vclass).add("views")
        elif kind == "click" and "z" in event:
            _zone_doc(plan, item, day, path, event["z"], vclass).add("clicks")
            if "pid" in event:
                zones.click(event["pid"], path, event["z"], vclass)


def _attribute_orders(plan: FlushPlan, item: StreamedBatch, day: str, zones: ZoneClicks) -> None:
    """Each order line's amount to the zones its product was clicked in during the visit."""
    for event in item.batch["events"]:
        credited: set[str] = set()
        for share in zones.attribute(event["lines"]):
            doc = _zone_doc(plan, item, day, share.path, share.zone, share.viewport_class)
            doc.add("revenue_cents", share.revenue_cents)
            key = f"{share.path}|{share.zone}"
            if key not in credited:  # an order counts once per zone, whatever its lines
                credited.add(key)
                doc.add("orders")


def _fold(plan: FlushPlan, item: StreamedBatch, widths: dict[str, int]) -> None:
    batch = item.batch
    pvid, path = batch["pvid"], batch["path"]
    received = datetime.fromtimestamp(item.received_ms / 1000, UTC)
    day = day_of(item.received_ms)
    visitor = plan.visitors.setdefault(batch["vid"], Update())
    visitor.on_insert["arm"] = item.arm
    visitor.keep_min("first_seen", received)
    visitor.keep_max("last_seen", received)
    if item.persona != "unknown":
        visitor.set["persona"] = item.persona
    else:
        visitor.on_insert.setdefault("persona", "unknown")
    session = plan.sessions.setdefault(batch["sid"], Update())
    session.on_insert.update({"vid": batch["vid"], "arm": item.arm})
    session.keep_min("started_at", received)
    session.keep_max("last_at", received)
    session.set["persona"] = item.persona
    session.add("events", len(batch["events"]))
    session.add(f"pages.{pvid}.events", len(batch["events"]))
    session.on_insert.setdefault(f"pages.{pvid}.path", path)
    plan.events += len(batch["events"])

    for event in batch["events"]:
        kind = event["k"]
        if kind == "page":
            widths[pvid] = event["vw"]
            session.add("page_views")
            session.set[f"pages.{pvid}.path"] = event["path"]
            session.set[f"pages.{pvid}.vw"] = event["vw"]
            session.set[f"pages.{pvid}.t0"] = batch["t0"]
            _reach(plan, item, day, event["vw"], 0)
        elif kind == "click":
            session.add("clicks")
            session.add(f"pages.{pvid}.clicks")
            width = widths.get(pvid, 1280)
            heat = _bin(plan, item, day, "click", width)
            heat.add(f"page.{page_cell(event['x'], event['y'], width)}")
            key, cell = anchor_cell(event["a"], event["rx"], event["ry"]).split(":", 1)
            heat.add(f"anchor.{key}.{cell}")
            heat.set[f"anchors.{anchor_key(event['a'])}"] = event["a"]
            heat.add("n")
        elif kind == "move":
            width = widths.get(pvid, 1280)
            heat = _bin(plan, item, day, "move", width)
            heat.add(f"page.{page_cell(event['x'], event['y'], width)}")
            heat.add("n")
        elif kind == "scroll":
            session.keep_max("max_depth", event["d"])
            session.keep_max(f"pages.{pvid}.max_depth", event["d"])
            _reach(plan, item, day, widths.get(pvid, 1280), scroll_bucket(event["d"]))
        elif kind == "cart":
            session.add("cart_actions")
            if event["op"] == "order":
                session.set["converted"] = True
        elif kind == "vis":
            session.add("active_ms", event["act_ms"])


def _signal(
    plan: FlushPlan, item: StreamedBatch, day: str, signal: Signal, widths: Mapping[str, int]
) -> None:
    """Count a signal in its session and in its page's frustration document."""
    session = plan.sessions[item.batch["sid"]]
    session.add(f"fx.{signal.kind}")
    width = widths.get(signal.pvid, widths.get(item.batch["pvid"], 1280))
    vclass = viewport_class(width)
    meta = {"day": day, "vc": vclass, "persona": item.persona, "arm": item.arm,
            "path": signal.path}  # fmt: skip
    doc = _document(plan.frustration, meta)
    kind = signal.kind
    doc.add(f"n.{kind}")
    if signal.anchor is not None and signal.rx is not None and signal.ry is not None:
        key, cell = anchor_cell(signal.anchor, signal.rx, signal.ry).split(":", 1)
        doc.add(f"a.{key}.{kind}")
        doc.add(f"c.{kind}.{key}.{cell}")
        doc.set[f"anchors.{key}"] = signal.anchor
    if signal.x is not None and signal.y is not None:
        doc.add(f"p.{kind}.{page_cell(signal.x, signal.y, width)}")
    if kind == ERROR:
        doc.add(f"ek.{signal.error_kind or 'other'}")
        origin = signal.error_origin or "unknown"
        doc.add(f"eo.{anchor_key(origin)}")
        doc.set[f"origins.{anchor_key(origin)}"] = origin


def _bin(plan: FlushPlan, item: StreamedBatch, day: str, kind: str, width: int) -> Update:
    vclass = viewport_class(width)
    path = item.batch["path"]
    meta = {"day": day, "kind": kind, "vc": vclass, "persona": item.persona,
            "arm": item.arm, "path": path}  # fmt: skip
    return _document(plan.heatmap_bins, meta)


def _document(table: dict[str, Update], meta: dict[str, Any]) -> Update:
    """The round's update of the document these fields name: its id is their values joined
    by "|" in order, and a document it creates starts with them."""
    doc_id = "|".join(str(value) for value in meta.values())
    doc = table.get(doc_id)
    if doc is None:
        doc = table[doc_id] = Update()
        doc.on_insert.update(meta)
    return doc


def _reach(plan: FlushPlan, item: StreamedBatch, day: str, width: int, bucket: int) -> None:
    vclass = viewport_class(width)
    path = item.batch["path"]
    doc_id = f"{day}|{vclass}|{item.persona}|{item.arm}|{path}"
    plan.scroll_meta.setdefault(
        doc_id,
        {"day": day, "vc": vclass, "persona": item.persona, "arm": item.arm, "path": path},
    )
    plan.scroll_reached.append((doc_id, item.batch["pvid"], bucket))
