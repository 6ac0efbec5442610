"""Retention: the rules the settings ask for, the embedded engine's purge, and TTL indexes on a
MongoDB server (mongoeco's wire server here; it has no collMod, so a change rebuilds the index).
How a real MongoDB's collMod path is driven is in tests/unit/test_retention_collmod.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from server.adapters.mongo_store import MongoStore, RetentionRule
from server.bootstrap import retention_rules, start_services, stop_services
from server.settings import load_settings
from tests.support.live_server import mongo_wire_process

DAY = 86_400
EXPECTED = {
    "event_chunks": ("received_at", 30),
    "event_frames": ("received_at", 30),
    "replay_chunks": ("received_at", 30),
    "persona_history": ("at", 90),
    "sessions": ("last_at", 400),
    "experiment_visitors": ("last_seen", 400),
    "heatmap_bins": ("updated_at", 400),
    "scroll_depth": ("updated_at", 400),
    "frustration": ("updated_at", 400),
    "zones": ("updated_at", 400),
    "exposures": ("at", 400),
    "experiment_triggers": ("at", 400),
    "admin_audit": ("at", 400),
    "visitor_prefs": ("at", 400),
    "carts": ("updated_at", 30),
}


def as_table(rules: list[RetentionRule]) -> dict[str, tuple[str, int]]:
    table = {rule.collection: (rule.field, rule.days) for rule in rules}
    assert len(table) == len(rules), "one rule per collection"
    return table


def test_the_rules_cover_every_collection_with_visitor_data() -> None:
    assert as_table(retention_rules(load_settings(environ={}))) == EXPECTED
    changed = load_settings(
        environ={"VITRINE_RETENTION__EVENTS_DAYS": "7", "VITRINE_RETENTION__PREDICTIONS_DAYS": "14"}
    )
    table = as_table(retention_rules(changed))
    assert table["event_chunks"] == ("received_at", 7)
    assert table["event_frames"] == ("received_at", 7)
    assert table["persona_history"] == ("at", 14)
    assert table["replay_chunks"] == ("received_at", 30)


async def test_the_embedded_purge_removes_expired_documents_only(app: Any) -> None:
    services = app.services
    assert services.store.embedded
    (loop,) = [task for task in services.tasks if task.get_name() == "retention"]
    # The loop purges once at start: stopped here, so it cannot race the documents below (a
    # slow first purge deleted some "old" ones before the call under test counted them).
    loop.cancel()
    await asyncio.gather(loop, return_exceptions=True)
    rules = retention_rules(services.settings)
    now = datetime.now(UTC)
    for rule in rules:
        await services.store[rule.collection].insert_many(
            [
                {"_id": f"old-{rule.collection}", rule.field: now - timedelta(days=rule.days + 1)},
                {"_id": f"edge-{rule.collection}", rule.field: now - timedelta(days=rule.days - 1)},
                {"_id": f"new-{rule.collection}", rule.field: now},
            ]
        )
    deleted = await services.store.purge_expired(rules)
    assert deleted == {rule.collection: 1 for rule in rules}
    for rule in rules:
        ids = {doc["_id"] async for doc in services.store[rule.collection].find({}, {"_id": 1})}
        assert f"old-{rule.collection}" not in ids, rule
        assert {f"edge-{rule.collection}", f"new-{rule.collection}"} <= ids, rule
    # A month later the 30-day collections lose the rest; the others only their edge document.
    later = await services.store.purge_expired(rules, now=now + timedelta(days=31))
    assert later["event_chunks"] == 2 and later["persona_history"] == 1


@pytest.fixture
async def wire_uri(tmp_path: Path) -> AsyncIterator[str]:
    """mongoeco's wire server as a process: what `apply_retention` sees as a MongoDB server."""
    with mongo_wire_process(tmp_path) as uri:
        store = await MongoStore.open(uri, "probe", tmp_path)
        try:
            for _ in range(100):
                if await store.ping():
                    break
                await asyncio.sleep(0.1)
        finally:
            await store.close()
        yield uri


async def ttl_indexes(store: MongoStore, collections: Any) -> dict[str, tuple[str, int]]:
    found = {}
    for name in collections:
        for index_name, info in (await store[name].index_information()).items():
            if "expireAfterSeconds" in info:
                found[name] = (index_name, int(info["expireAfterSeconds"]))
    return found


async def test_ttl_indexes_are_created_at_start_and_follow_the_config(
    make_settings: Any, wire_uri: str
) -> None:
    first = make_settings(mongodb={"uri": wire_uri}, flusher={"enabled": False},
                          personas={"enabled": False})  # fmt: skip
    services = await start_services(first, seed=False)
    try:
        assert not services.store.embedded
        assert "retention" not in {task.get_name() for task in services.tasks}  # TTL does it
        found = await ttl_indexes(services.store, EXPECTED)
        assert found == {name: (f"ttl_{field}", days * DAY) for name, (field, days) in
                         EXPECTED.items()}  # fmt: skip
    finally:
        await stop_services(services)

    second = make_settings(
        mongodb={"uri": wire_uri}, flusher={"enabled": False}, personas={"enabled": False},
        retention={"events_days": 7, "aggregates_days": 200},
    )  # fmt: skip
    services = await start_services(second, seed=False)
    try:
        found = await ttl_indexes(services.store, EXPECTED)
        assert found["event_chunks"] == ("ttl_received_at", 7 * DAY)
        assert found["heatmap_bins"] == ("ttl_updated_at", 200 * DAY)
        assert found["replay_chunks"] == ("ttl_received_at", 30 * DAY)
        # The server itself expires documents past the TTL.
        chunks = services.store["event_chunks"]
        now = datetime.now(UTC)
        await chunks.insert_many([{"_id": "old", "received_at": now - timedelta(days=8)}])
        await chunks.insert_many([{"_id": "new", "received_at": now}])
        assert [doc["_id"] async for doc in chunks.find({}, {"_id": 1})] == ["new"]
    finally:
        await stop_services(services)
