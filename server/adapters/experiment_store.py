"""ExperimentSummaries: fold visitors, triggers, orders and exposures into one summary.

The fold runs off the request path, at start and then every 30 s (`run`), and writes one
document, `experiment_summary/current`; the admin API reads only that document. It streams
whole collections with projections in driver batches, yielding to the event loop between
batches, and groups in Python: mongoeco's `$group` fails past 50,000 documents (DESIGN.md §2).

Units (docs/experiments.md): a visitor is one `experiment_visitors` record, under its arm.
It counts in the "all" row (intention to treat), and either under the persona it had when
it first qualified for an adaptation (its `experiment_triggers` record) or under
"not_qualified". Orders count for the visitor with the same vid and arm; orders with no
such visitor (the tracker never reported them) are counted as unattributed, not guessed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

from server.adapters.event_store import EXPERIMENT_VISITORS
from server.adapters.mongo_store import MongoStore
from server.adapters.shop_store import EXPERIMENT_TRIGGERS, EXPOSURES, ORDERS
from server.domain.experiment_fold import ExperimentFold, Order
from server.domain.experiment_report import ALL, NOT_QUALIFIED, SUMMARY_VERSION
from server.domain.experiments import ARMS

log = logging.getLogger(__name__)

EXPERIMENT_SUMMARY = "experiment_summary"
SUMMARY_ID = "current"
REFRESH_EVERY_S = 30.0
BATCH_SIZE = 1000


def epoch_ms(value: Any, default: int) -> int:
    """Milliseconds of a stored datetime (the embedded engine hands back naive UTC)."""
    if not isinstance(value, datetime):
        return default
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return int(aware.timestamp() * 1000)


class ExperimentSummaries:
    def __init__(self, store: MongoStore, batch_size: int = BATCH_SIZE) -> None:
        self.visitors = store[EXPERIMENT_VISITORS]
        self.triggers = store[EXPERIMENT_TRIGGERS]
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
            now = datetime.now(UTC)
            now_ms = int(now.timestamp() * 1000)
            orders = await self._orders_by_visitor(now_ms)
            triggers = await self._triggers_by_visitor(now_ms)
            fold = ExperimentFold()
            await self._fold_visitors(fold, orders, triggers, now_ms)
            exposures, by_adaptation = await self._count_exposures()
            doc = {
                "_id": SUMMARY_ID,
                "version": SUMMARY_VERSION,
                "computed_at": now,
                "duration_ms": round((time.monotonic() - started) * 1000),
                **fold.to_summary(now_ms, exposures),
                "exposures": [
                    {
                        "adaptation": name,
                        "arm": arm,
                        "counterfactual": counterfactual,
                        "count": count,
                    }
                    for (name, arm, counterfactual), count in sorted(by_adaptation.items())
                ],
                "unattributed_orders": sum(len(totals) for totals in orders.values()),
                "triggers_without_visitor": len(triggers),
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

    async def _orders_by_visitor(self, now_ms: int) -> dict[tuple[str, str], list[Order]]:
        orders: defaultdict[tuple[str, str], list[Order]] = defaultdict(list)
        projection = {"_id": 0, "vid": 1, "arm": 1, "total_cents": 1, "created_at": 1}
        async for doc in self._stream(self.orders, projection):
            if doc.get("arm") in ARMS and isinstance(doc.get("vid"), str):
                with contextlib.suppress(TypeError, ValueError):
                    total = int(doc.get("total_cents") or 0)
                    placed = epoch_ms(doc.get("created_at"), now_ms)
                    orders[(doc["vid"], doc["arm"])].append((placed, total))
        return orders

    async def _triggers_by_visitor(self, now_ms: int) -> dict[str, tuple[str, str, int]]:
        triggers: dict[str, tuple[str, str, int]] = {}
        projection = {"_id": 1, "persona": 1, "arm": 1, "at": 1}
        async for doc in self._stream(self.triggers, projection):
            if doc.get("arm") in ARMS and isinstance(doc.get("persona"), str):
                triggers[str(doc["_id"])] = (
                    doc["persona"],
                    doc["arm"],
                    epoch_ms(doc.get("at"), now_ms),
                )
        return triggers

    async def _fold_visitors(
        self, fold: ExperimentFold, orders: dict[tuple[str, str], list[Order]],
        triggers: dict[str, tuple[str, str, int]], now_ms: int,
    ) -> None:  # fmt: skip
        # Matched orders and triggers are popped: what remains afterwards is unattributed.
        projection = {"_id": 1, "arm": 1, "first_seen": 1}
        async for doc in self._stream(self.visitors, projection):
            arm = doc.get("arm")
            if arm not in ARMS:
                continue
            vid = str(doc["_id"])
            placed = orders.pop((vid, arm), [])
            first_seen = epoch_ms(doc.get("first_seen"), now_ms)
            fold.add(ALL, arm, first_seen, placed)
            trigger = triggers.pop(vid, None)
            if trigger is not None and trigger[1] == arm:
                fold.add(trigger[0], arm, trigger[2], placed)
            else:
                fold.add(NOT_QUALIFIED, arm, first_seen, placed)

    async def _count_exposures(self) -> tuple[Counter[tuple[str, str]], Counter[Any]]:
        # An exposure counts under the persona it was shown (or would have been shown) for.
        by_row: Counter[tuple[str, str]] = Counter()
        by_adaptation: Counter[tuple[str, str, bool]] = Counter()
        projection = {"_id": 0, "adaptation": 1, "persona": 1, "arm": 1, "counterfactual": 1}
        async for doc in self._stream(self.exposures, projection):
            arm = doc.get("arm")
            if arm in ARMS:
                by_row[(str(doc.get("persona")), arm)] += 1
                by_row[(ALL, arm)] += 1
                key = (str(doc.get("adaptation") or "?"), arm, bool(doc.get("counterfactual")))
                by_adaptation[key] += 1
        return by_row, by_adaptation
