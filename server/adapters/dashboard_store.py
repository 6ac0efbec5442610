"""DashboardReads: what the admin console reads from summaries, orders and persona history.

Every query is an indexed point read or a bounded range (DESIGN.md §1): sessions by
`last_at`, orders by `vid`, persona history and exposures by `sid`. Nothing here reads raw
events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from server.adapters.event_store import HEATMAP_BINS, SESSIONS
from server.adapters.mongo_store import MAX_LIST_FILTER, MongoStore, find_in, list_chunks
from server.adapters.persona_store import PERSONA_HISTORY
from server.adapters.shop_store import ORDERS
from server.domain.frustration import SIGNALS

EXPOSURES = "exposures"  # written by the adaptation layer: {vid, sid, at, adaptation, persona, arm}
SUMMARY_FIELDS = {"vid": 1, "persona": 1, "arm": 1, "converted": 1, "last_at": 1}


@dataclass(frozen=True)
class SessionFilter:
    """The sessions list's filters; None means "any"."""

    since: datetime
    until: datetime
    persona: str | None = None
    arm: str | None = None
    converted: bool | None = None
    vid: str | None = None
    signal: str | None = None  # a frustration signal the session had, or "any"

    def query(self) -> dict[str, Any]:
        query: dict[str, Any] = {"last_at": {"$gte": self.since, "$lt": self.until}}
        if self.persona is not None:
            query["persona"] = self.persona
        if self.arm is not None:
            query["arm"] = self.arm
        if self.converted is not None:
            query["converted"] = True if self.converted else {"$ne": True}
        if self.vid is not None:
            query["vid"] = self.vid
        if self.signal == "any":
            query["$or"] = [{f"fx.{kind}": {"$gt": 0}} for kind in SIGNALS]
        elif self.signal is not None:
            query[f"fx.{self.signal}"] = {"$gt": 0}
        return query


class DashboardReads:
    def __init__(self, store: MongoStore) -> None:
        self.sessions = store[SESSIONS]
        self.orders = store[ORDERS]
        self.history = store[PERSONA_HISTORY]
        self.exposures = store[EXPOSURES]
        self.heatmap_bins = store[HEATMAP_BINS]

    async def sessions_since(self, since: datetime) -> list[dict[str, Any]]:
        """Summaries (few fields) of sessions active since `since` (a range on last_at)."""
        cursor = self.sessions.find({"last_at": {"$gte": since}}, SUMMARY_FIELDS)
        docs: list[dict[str, Any]] = await cursor.to_list()
        return docs

    async def session_page(
        self, filters: SessionFilter, skip: int, limit: int
    ) -> list[dict[str, Any]]:
        """One page of sessions, most recently active first."""
        cursor = self.sessions.find(filters.query()).sort("last_at", -1).skip(skip).limit(limit)
        docs: list[dict[str, Any]] = await cursor.to_list()
        return docs

    async def persona_changes(self, sids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Per session, the predictions that changed the shown persona, oldest first."""
        return await _by_sid_oldest_first(
            self.history,
            sids,
            {"changed": True},
            {
                "_id": 0,
                "sid": 1,
                "at": 1,
                "persona": 1,
                "shown": 1,
                "confidence": 1,
                "reasons": 1,
                "source": 1,
                "model_version": 1,
            },
        )

    async def exposures_of(self, sids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Per session, the adaptations shown, oldest first."""
        return await _by_sid_oldest_first(
            self.exposures,
            sids,
            {},
            {
                "_id": 0,
                "sid": 1,
                "at": 1,
                "adaptation": 1,
                "persona": 1,
                "arm": 1,
                "counterfactual": 1,
            },
        )

    async def order_totals(self, vids: Sequence[str], sids: Sequence[str]) -> dict[str, int]:
        """Per session, the total of the orders placed in it (cents).

        The visitors are looked up by the (vid, created_at) index, in chunks; the sessions
        are a second list filter while they fit one, else they are matched here.
        """
        if not vids or not sids:
            return {}
        wanted = list(dict.fromkeys(sids))
        query = {"session_id": {"$in": wanted}} if len(wanted) <= MAX_LIST_FILTER else {}
        orders = await find_in(self.orders, "vid", vids, query, {"session_id": 1, "total_cents": 1})
        sessions = set(wanted)
        totals: dict[str, int] = defaultdict(int)
        for order in orders:
            if order.get("session_id") in sessions:
                totals[order["session_id"]] += int(order.get("total_cents", 0))
        return dict(totals)

    async def orders_since(self, vids: Sequence[str], since: datetime) -> list[dict[str, Any]]:
        """Orders of these visitors since `since` (the (vid, created_at) index)."""
        if not vids:
            return []
        return await find_in(
            self.orders,
            "vid",
            vids,
            {"created_at": {"$gte": since}},
            {"persona": 1, "arm": 1, "total_cents": 1, "session_id": 1},
        )

    async def heatmap_pages(self, days: Sequence[str]) -> list[str]:
        """Pages with heatmap data on these days (bins are few: one per day and filter set)."""
        paths: set[str] = set()
        for chunk in list_chunks(days):
            found = await self.heatmap_bins.distinct("path", {"day": {"$in": chunk}})
            paths.update(str(path) for path in found)
        return sorted(paths)


async def _by_sid_oldest_first(
    collection: Any, sids: Sequence[str], query: dict[str, Any], projection: dict[str, int]
) -> dict[str, list[dict[str, Any]]]:
    """Documents of these sessions grouped by `sid`, each group sorted by `at`.

    A session's documents all come from the one chunk that holds its sid, sorted there by
    the database: each group is what one unchunked query sorted by `at` gives.
    """
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for chunk in list_chunks(sids):
        cursor = collection.find({**query, "sid": {"$in": chunk}}, projection).sort("at", 1)
        for doc in await cursor.to_list():
            grouped[doc["sid"]].append(doc)
    return dict(grouped)


def persona_counts(sessions: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """How many sessions show each persona (`unknown` included)."""
    counts: dict[str, int] = defaultdict(int)
    for session in sessions:
        counts[str(session.get("persona") or "unknown")] += 1
    return dict(counts)


def conversion_by_persona(
    sessions: Sequence[Mapping[str, Any]], orders: Sequence[Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Sessions, conversions, conversion rate and revenue per persona."""
    table: dict[str, dict[str, Any]] = {}
    for session in sessions:
        row = table.setdefault(
            str(session.get("persona") or "unknown"),
            {"sessions": 0, "converted": 0, "rate": 0.0, "revenue_cents": 0},
        )
        row["sessions"] += 1
        row["converted"] += 1 if session.get("converted") else 0
    for order in orders:
        row = table.setdefault(
            str(order.get("persona") or "unknown"),
            {"sessions": 0, "converted": 0, "rate": 0.0, "revenue_cents": 0},
        )
        row["revenue_cents"] += int(order.get("total_cents", 0))
    for row in table.values():
        row["rate"] = round(row["converted"] / row["sessions"], 4) if row["sessions"] else 0.0
    return table
