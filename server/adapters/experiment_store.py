"""ExperimentSummaries: fold visitors, orders and exposures into one experiment summary.

The fold runs off the request path, at start and then every 30 s (`run`), and writes one
document, `experiment_summary/current`; the admin API reads only that document. It streams
whole collections with projections in driver batches, yielding to the event loop between
batches (the embedded engine runs in this process), and groups in Python: mongoeco's `$group`
fails past 50,000 documents (DESIGN.md §2).

Units (docs/experiments.md): a visitor is one `experiment_visitors` record, under its arm and
its latest persona. Orders count for the visitor with the same vid and arm; orders with no
such visitor (the tracker never reported them) are counted as unattributed, not guessed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from personas_engine.vocabulary import LABELS, UNKNOWN
from server.adapters.event_store import EXPERIMENT_VISITORS
from server.adapters.mongo_store import MongoStore
from server.adapters.shop_store import ORDERS
from server.domain.experiments import ARMS

log = logging.getLogger(__name__)

EXPERIMENT_SUMMARY = "experiment_summary"
EXPOSURES = "exposures"  # written by the adaptation layer: {vid, sid, at, adaptation, persona, arm}
SUMMARY_ID = "current"
REFRESH_EVERY_S = 30.0
BATCH_SIZE = 1000
_INT64_MAX = 2**63 - 1


@dataclass
class Cell:
    """Running totals of one persona × arm (money in cents)."""

    visitors: int = 0
    converters: int = 0
    orders: int = 0
    revenue: int = 0
    order_squares: int = 0
    visitor_squares: int = 0
    exposures: int = 0

    def add_visitor(self, order_totals: list[int]) -> None:
        spent = sum(order_totals)
        self.visitors += 1
        self.converters += 1 if order_totals else 0
        self.orders += len(order_totals)
        self.revenue += spent
        self.order_squares += sum(total * total for total in order_totals)
        self.visitor_squares += spent * spent

    def to_document(self) -> dict[str, int | float]:
        # BSON holds int64: past it (sums of squares of a huge shop) a float is close enough.
        return {k: v if abs(v) <= _INT64_MAX else float(v) for k, v in asdict(self).items()}


def persona_of(value: Any) -> str:
    return value if isinstance(value, str) and value in LABELS else UNKNOWN


class ExperimentSummaries:
    def __init__(self, store: MongoStore, batch_size: int = BATCH_SIZE) -> None:
        self.visitors = store[EXPERIMENT_VISITORS]
        self.orders = store[ORDERS]
        self.exposures = store[EXPOSURES]
        self.summaries = store[EXPERIMENT_SUMMARY]
        self.batch_size = batch_size
        # Serialises refreshes: a slow periodic one must not land after a newer one.
        self._lock = asyncio.Lock()

    async def current(self) -> dict[str, Any] | None:
        """The last summary written (a point read), or None before the first refresh."""
        doc: dict[str, Any] | None = await self.summaries.find_one({"_id": SUMMARY_ID})
        return doc

    async def refresh(self) -> dict[str, Any]:
        """Recompute the summary from the collections, store it and return it."""
        async with self._lock:
            started = time.monotonic()
            orders = await self._orders_by_visitor()
            cells: defaultdict[tuple[str, str], Cell] = defaultdict(Cell)
            await self._fold_visitors(cells, orders)
            by_adaptation = await self._fold_exposures(cells)
            doc = {
                "_id": SUMMARY_ID,
                "computed_at": datetime.now(UTC),
                "duration_ms": round((time.monotonic() - started) * 1000),
                "cells": [
                    {"persona": persona, "arm": arm, **cell.to_document()}
                    for (persona, arm), cell in sorted(cells.items())
                ],
                "exposures": [
                    {"adaptation": name, "arm": arm, "count": count}
                    for (name, arm), count in sorted(by_adaptation.items())
                ],
                "unattributed_orders": sum(len(totals) for totals in orders.values()),
            }
            await self.summaries.replace_one({"_id": SUMMARY_ID}, doc, upsert=True)
            return doc

    async def run(self, every_s: float = REFRESH_EVERY_S) -> None:
        """Refresh now and every `every_s` seconds; a failed round is logged, not fatal."""
        while True:
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("experiment summary refresh failed", exc_info=True)
            await asyncio.sleep(every_s)

    async def _stream(self, collection: Any, projection: dict[str, int]) -> Any:
        count = 0
        async for doc in collection.find({}, projection, batch_size=self.batch_size):
            yield doc
            count += 1
            if count % self.batch_size == 0:
                await asyncio.sleep(0)  # let requests run between batches

    async def _orders_by_visitor(self) -> dict[tuple[str, str], list[int]]:
        orders: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
        projection = {"_id": 0, "vid": 1, "arm": 1, "total_cents": 1}
        async for doc in self._stream(self.orders, projection):
            if doc.get("arm") in ARMS and isinstance(doc.get("vid"), str):
                with contextlib.suppress(TypeError, ValueError):
                    orders[(doc["vid"], doc["arm"])].append(int(doc.get("total_cents") or 0))
        return orders

    async def _fold_visitors(
        self, cells: defaultdict[tuple[str, str], Cell], orders: dict[tuple[str, str], list[int]]
    ) -> None:
        # Matched orders are popped: what remains afterwards is unattributed.
        async for doc in self._stream(self.visitors, {"_id": 1, "arm": 1, "persona": 1}):
            arm = doc.get("arm")
            if arm in ARMS:
                totals = orders.pop((str(doc["_id"]), arm), [])
                cells[(persona_of(doc.get("persona")), arm)].add_visitor(totals)

    async def _fold_exposures(self, cells: defaultdict[tuple[str, str], Cell]) -> Counter[Any]:
        # An exposure counts under the persona it was shown for, not the visitor's latest.
        by_adaptation: Counter[tuple[str, str]] = Counter()
        projection = {"_id": 0, "adaptation": 1, "persona": 1, "arm": 1}
        async for doc in self._stream(self.exposures, projection):
            arm = doc.get("arm")
            if arm in ARMS:
                cells[(persona_of(doc.get("persona")), arm)].exposures += 1
                by_adaptation[(str(doc.get("adaptation") or "?"), arm)] += 1
        return by_adaptation
