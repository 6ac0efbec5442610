"""A changed retention on a real MongoDB: the TTL index is changed in place with collMod.

mongoeco's wire server (tests/integration/test_privacy_retention.py) has no collMod, so this
path runs against a hand-written fake of the two calls a MongoDB server answers.
"""

from __future__ import annotations

from typing import Any

from pymongo.errors import OperationFailure

from server.adapters.mongo_store import MongoStore, RetentionRule

DAY = 86_400


class FakeCollection:
    def __init__(self, calls: list[Any], existing: dict[str, int]) -> None:
        self.calls, self.existing = calls, existing

    async def create_index(self, keys: Any, *, name: str, expireAfterSeconds: int) -> str:
        self.calls.append(("create_index", keys, name, expireAfterSeconds))
        if name in self.existing and self.existing[name] != expireAfterSeconds:
            raise OperationFailure("IndexOptionsConflict", code=85)
        self.existing[name] = expireAfterSeconds
        return name


class FakeDatabase:
    """What a real MongoDB does with these calls: conflict on create, then collMod."""

    def __init__(self) -> None:
        self.calls: list[Any] = []
        self.existing: dict[str, int] = {"ttl_received_at": 30 * DAY}

    def __getitem__(self, name: str) -> FakeCollection:
        return FakeCollection(self.calls, self.existing)

    async def command(self, spec: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("command", spec))
        self.existing[spec["index"]["name"]] = spec["index"]["expireAfterSeconds"]
        return {"ok": 1}


async def test_a_changed_expiry_is_applied_with_collmod_on_mongodb() -> None:
    database = FakeDatabase()
    store = MongoStore({"vitrine": database}, "vitrine", embedded=False)
    await store.apply_retention([RetentionRule("event_chunks", "received_at", 7)])
    assert database.calls == [
        ("create_index", [("received_at", 1)], "ttl_received_at", 7 * DAY),
        ("command", {"collMod": "event_chunks",
                     "index": {"name": "ttl_received_at", "expireAfterSeconds": 7 * DAY}}),
    ]  # fmt: skip
    assert database.existing["ttl_received_at"] == 7 * DAY
    embedded = MongoStore({"vitrine": database}, "vitrine", embedded=True)
    await embedded.apply_retention([RetentionRule("event_chunks", "received_at", 1)])
    assert len(database.calls) == 2, "no TTL index on the embedded engine"
