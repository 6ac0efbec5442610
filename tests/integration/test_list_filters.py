"""List filters of thousands of values, on the embedded engine (or VITRINE_TEST_MONGODB_URI).

mongoeco refuses a list filter of ~500 values or more with sqlite3's "Expression tree is too
large"; every store method that filters by a list splits it (mongo_store.list_chunks). Each
path here gets 5,000 values and must return what one unchunked query would.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from functools import cmp_to_key
from typing import Any

import pytest

from server.adapters.dashboard_store import EXPOSURES, DashboardReads
from server.adapters.event_store import EVENT_INDEXES, HEATMAP_BINS
from server.adapters.mongo_store import MAX_LIST_FILTER, MongoStore, find_in, list_chunks
from server.adapters.persona_store import PERSONA_HISTORY, PERSONA_INDEXES
from server.adapters.shop_store import (
    EXPOSURE_INDEXES,
    ORDERS,
    PRODUCTS,
    SHOP_INDEXES,
    CatalogStore,
    compare_by_spec,
)
from server.domain.coupons import as_utc
from tests.support.settings import MONGODB_URI, unique_name

N = 5_000
NOW = datetime.now(UTC).replace(microsecond=0)
BATCH = 5_000  # insert_many batch size


@pytest.fixture(scope="module")
async def store(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MongoStore]:
    """A store of its own (an isolated database) with the app's indexes on these collections.

    Not the unique ones: mongoeco checks them by scanning, ~100 inserts/s; they change no read.
    """
    name = unique_name()
    opened = await MongoStore.open(MONGODB_URI, name, tmp_path_factory.mktemp(name))
    specs = (*SHOP_INDEXES, *EXPOSURE_INDEXES, *PERSONA_INDEXES, *EVENT_INDEXES)
    await opened.ensure_indexes(
        spec
        for spec in specs
        if not spec.unique
        and spec.collection in {PRODUCTS, ORDERS, EXPOSURES, PERSONA_HISTORY, HEATMAP_BINS}
    )
    try:
        yield opened
    finally:
        if not opened.embedded:
            await opened.client.drop_database(name)
        await opened.close()


async def insert(collection: Any, docs: list[dict[str, Any]]) -> None:
    for start in range(0, len(docs), BATCH):
        await collection.insert_many(docs[start : start + BATCH], ordered=False)


def sid(i: int) -> str:
    return f"session{i:012d}"


def vid(i: int) -> str:
    return f"visitor{i:010d}"


def test_list_chunks_deduplicates_and_keeps_first_seen_order() -> None:
    values = [f"id{i:05d}" for i in range(N)]
    chunks = list_chunks(values + values[::3] + values[:10])
    assert all(0 < len(chunk) <= MAX_LIST_FILTER for chunk in chunks)
    assert [value for chunk in chunks for value in chunk] == values
    assert len(chunks) == -(-N // MAX_LIST_FILTER)
    assert list_chunks([]) == []
    assert list_chunks(iter(["a", "b", "a", "c"]), size=2) == [["a", "b"], ["c"]]


async def test_find_in_finds_every_document_once(store: MongoStore) -> None:
    things = store["things"]
    await insert(
        things, [{"_id": f"id{i:05d}", "n": i, "even": i % 2 == 0} for i in range(N + 300)]
    )
    wanted = [f"id{i:05d}" for i in range(N)]
    # Duplicates in the input, unknown ids, shuffled: every stored one comes back once.
    asked = wanted[::-1] + wanted[: N // 2] + [f"nope{i}" for i in range(50)]
    found = await find_in(things, "_id", asked, {"even": True}, {"n": 1})
    assert sorted(doc["_id"] for doc in found) == [f"id{i:05d}" for i in range(0, N, 2)]
    assert all(set(doc) == {"_id", "n"} and doc["n"] % 2 == 0 for doc in found)
    assert await find_in(things, "_id", []) == []


@pytest.fixture(scope="module")
async def sessions_data(store: MongoStore) -> dict[str, Any]:
    """N sessions (one visitor each) with persona history, exposures and orders, plus noise."""
    history, exposures, orders = [], [], []
    for i in range(N):
        at = NOW - timedelta(hours=2, seconds=i)
        history.append({"vid": vid(i), "sid": sid(i), "at": at, "persona": "explorer",
                        "shown": "explorer", "confidence": 0.7, "changed": True})  # fmt: skip
        if i % 50 == 0:  # an earlier change, stored later, and a prediction that changed nothing
            history.append({"vid": vid(i), "sid": sid(i), "at": at - timedelta(minutes=5),
                            "persona": "hurried", "shown": "hurried", "changed": True})  # fmt: skip
            history.append({"vid": vid(i), "sid": sid(i), "at": at + timedelta(minutes=1),
                            "persona": "hurried", "shown": "explorer", "changed": False})  # fmt: skip
        exposures.append({"vid": vid(i), "sid": sid(i), "at": at, "adaptation": "tutorial",
                          "persona": "explorer", "arm": "treatment"})  # fmt: skip
        if i % 70 == 0:
            exposures.append({"vid": vid(i), "sid": sid(i), "at": at - timedelta(minutes=3),
                              "adaptation": "banner", "persona": "explorer", "arm": "treatment"})  # fmt: skip
        if i % 2 == 0:  # an order in the session; every 4th one is older than a day
            created = NOW - timedelta(days=3 if i % 4 == 0 else 0, hours=1)
            orders.append({"_id": f"o{i}", "vid": vid(i), "session_id": sid(i),
                           "idempotency_key": f"k{i}", "total_cents": 100 + i,
                           "persona": "explorer", "arm": "treatment", "created_at": created})  # fmt: skip
        if i % 5 == 0:  # the same visitor's order in a session not asked for
            orders.append({"_id": f"other{i}", "vid": vid(i), "session_id": f"elsewhere{i:08d}",
                           "idempotency_key": f"x{i}", "total_cents": 7, "persona": "explorer",
                           "arm": "treatment", "created_at": NOW - timedelta(days=5)})  # fmt: skip
    for j in range(200):  # sessions and visitors nobody asks for
        history.append({"vid": f"stranger{j}", "sid": f"strange{j}", "at": NOW, "changed": True})
        exposures.append({"vid": f"stranger{j}", "sid": f"strange{j}", "at": NOW})
        orders.append({"_id": f"s{j}", "vid": f"stranger{j}", "session_id": sid(j),
                       "idempotency_key": f"s{j}", "total_cents": 1, "created_at": NOW})  # fmt: skip
    await insert(store[PERSONA_HISTORY], history)
    await insert(store[EXPOSURES], exposures)
    await insert(store[ORDERS], orders)
    return {"history": history, "exposures": exposures, "orders": orders}


def grouped_oldest_first(docs: list[dict[str, Any]], sids: set[str]) -> dict[str, list[datetime]]:
    grouped: dict[str, list[datetime]] = defaultdict(list)
    for doc in docs:
        if doc["sid"] in sids and doc.get("changed", True):
            grouped[doc["sid"]].append(as_utc(doc["at"]))
    return {key: sorted(value) for key, value in grouped.items()}


async def test_persona_changes_and_exposures_of_5000_sessions(
    store: MongoStore, sessions_data: dict[str, Any]
) -> None:
    reads = DashboardReads(store)
    sids = [sid(i) for i in range(N)]
    wanted = set(sids)

    changes = await reads.persona_changes(sids)
    assert len(changes) == N
    expected = grouped_oldest_first(sessions_data["history"], wanted)
    assert {key: [as_utc(c["at"]) for c in value] for key, value in changes.items()} == expected
    assert [c["persona"] for c in changes[sid(50)]] == ["hurried", "explorer"]
    assert sum(len(value) for value in changes.values()) == N + N // 50

    exposures = await reads.exposures_of(sids)
    assert len(exposures) == N
    expected = grouped_oldest_first(sessions_data["exposures"], wanted)
    assert {key: [as_utc(e["at"]) for e in value] for key, value in exposures.items()} == expected
    assert [e["adaptation"] for e in exposures[sid(70)]] == ["banner", "tutorial"]
    assert sum(len(value) for value in exposures.values()) == N + -(-N // 70)


async def test_order_totals_and_orders_since_of_5000_visitors(
    store: MongoStore, sessions_data: dict[str, Any]
) -> None:
    reads = DashboardReads(store)
    sids = [sid(i) for i in range(N)]
    vids = [vid(i) for i in range(N)] + [vid(i) for i in range(0, N, 3)]  # repeats, as pages do
    asked_vids, asked_sids = set(vids), set(sids)
    orders = sessions_data["orders"]

    totals = await reads.order_totals(vids, sids)
    expected: dict[str, int] = defaultdict(int)
    for order in orders:
        if order["vid"] in asked_vids and order["session_id"] in asked_sids:
            expected[order["session_id"]] += order["total_cents"]
    assert len(totals) == N // 2
    assert totals == dict(expected)
    # A page's few sessions (one list filter each) give the same totals as the big lookup.
    page = sids[:20]
    assert await reads.order_totals(vids[:20], page) == {
        s: expected[s] for s in page if s in expected
    }
    assert await reads.order_totals([], sids) == {} and await reads.order_totals(vids, []) == {}

    since = NOW - timedelta(days=1)
    recent = await reads.orders_since(vids, since)
    expected_ids = sorted(
        order["_id"]
        for order in orders
        if order["vid"] in asked_vids and as_utc(order["created_at"]) >= since
    )
    assert len(expected_ids) == N // 4
    assert sorted(order["_id"] for order in recent) == expected_ids
    assert all(
        set(order) <= {"_id", "persona", "arm", "total_cents", "session_id"} for order in recent
    )


async def test_heatmap_pages_of_5000_days(store: MongoStore) -> None:
    first = date(2000, 1, 1)
    days = [(first + timedelta(days=i)).isoformat() for i in range(N)]
    bins: list[dict[str, Any]] = [
        {"path": f"/product/p{i:05d}" if i % 10 == 0 else f"/c/{i % 40}", "kind": "click",
         "day": day, "updated_at": NOW}
        for i, day in enumerate(days)
    ]  # fmt: skip
    bins += [
        {"path": f"/outside/{j}", "kind": "click", "day": f"1999-01-{j + 1:02d}"} for j in range(20)
    ]
    await insert(store[HEATMAP_BINS], bins)
    pages = await DashboardReads(store).heatmap_pages(days)
    expected = sorted({b["path"] for b in bins if not b["path"].startswith("/outside/")})
    assert pages == expected and len(pages) == N // 10 + 36


def product(i: int) -> dict[str, Any]:
    return {
        "_id": f"p{i:05d}",
        "slug": f"product-{i:05d}",
        "name": f"Product {i}",
        "description": "",
        "category": f"cat{i:05d}",
        "price_cents": 1000 + i,
        "effective_price_cents": 1000 + (i * 37) % 500,
        "discount_percent": (i * 13) % 40,
        "stock": 0 if i % 11 == 0 else 5,
        "popularity": i % 97,  # ties across chunks of categories: _id decides
        "created_at": f"2024-01-{1 + i % 28:02d}",
        "image": f"/img/{i}.webp",
    }


async def test_catalog_lookups_of_5000_ids_and_categories(store: MongoStore) -> None:
    products = [product(i) for i in range(N + 100)]
    await insert(store[PRODUCTS], products)
    catalog = CatalogStore(store)

    ids = [p["_id"] for p in products[:N]]
    found = await catalog.get_many(ids + ids[:700] + ["nope"])
    assert sorted(found) == ids
    assert all(found[p["_id"]].price_cents == p["price_cents"] for p in products[:N])

    categories = sorted({p["category"] for p in products[:N]}, reverse=True)
    exclude = {p["_id"] for p in products[: N - 500]}  # too many for one $nin: matched here

    def expected(
        asked: set[str], sort_key: Any, excluded: set[str], keep: Any = lambda p: True
    ) -> list[str]:
        """What one query sorted and limited to 60 gives, then the in-stock ones."""
        matching = [
            p for p in products if p["category"] in asked and p["_id"] not in excluded and keep(p)
        ]
        first = sorted(matching, key=sort_key)[:60]
        return [p["_id"] for p in first if p["stock"] > 0][:60]

    picks = await catalog.top_in_categories(categories, "popular", exclude=exclude, limit=60)
    popular = expected(set(categories), lambda p: (-p["popularity"], p["_id"]), exclude)
    assert [p.id for p in picks] == popular and len(popular) > 40

    # Fewer categories (two chunks, to keep the test short), a $nin that fits one filter.
    some, few = categories[:800], set(ids[-300:])
    picks = await catalog.top_in_categories(some, "discount", exclude=few, limit=60)
    want = expected(set(some), lambda p: (-p["discount_percent"], p["_id"]), few,
                    lambda p: p["discount_percent"] > 0)  # fmt: skip
    assert [p.id for p in picks] == want and len(want) > 40


def test_merged_chunks_sort_in_mongodb_type_order() -> None:
    """Chunks merged in Python sort as MongoDB would: missing/null < numbers < strings."""
    docs: list[dict[str, Any]] = [
        {"_id": "e", "popularity": "7"},
        {"_id": "d", "popularity": 3.5},
        {"_id": "c"},
        {"_id": "b", "popularity": None},
        {"_id": "a", "popularity": 10},
        {"_id": "f", "popularity": 3.5},
        {"_id": "g", "popularity": True},
        {"_id": "h", "popularity": datetime(2024, 1, 1)},
        {"_id": "i", "popularity": datetime(2023, 1, 1, tzinfo=UTC)},
    ]

    def ids_sorted(direction: int) -> list[str]:
        def compare(left: dict[str, Any], right: dict[str, Any]) -> int:
            return compare_by_spec(left, right, [("popularity", direction), ("_id", 1)])

        return [doc["_id"] for doc in sorted(docs, key=cmp_to_key(compare))]

    # Ties (3.5; null and missing) keep _id order both ways: it is the last key, ascending.
    assert ids_sorted(1) == ["b", "c", "d", "f", "a", "e", "g", "i", "h"]
    assert ids_sorted(-1) == ["h", "i", "g", "e", "a", "d", "f", "b", "c"]
