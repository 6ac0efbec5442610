"""One storage adapter over either Mongo client: PyMongo's AsyncMongoClient or mongoeco's."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo.errors import OperationFailure

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexSpec:
    """An index a collection needs; `unique` and `sparse` as in MongoDB."""

    collection: str
    keys: Sequence[tuple[str, int]]
    unique: bool = False
    sparse: bool = False

    @property
    def name(self) -> str:
        return "_".join(f"{key}_{direction}" for key, direction in self.keys)


@dataclass(frozen=True)
class RetentionRule:
    """Documents of `collection` whose `field` is older than `days` are removed."""

    collection: str
    field: str
    days: int


@dataclass
class MongoStore:
    """The database handle plus what differs between real MongoDB and the embedded engine.

    Real MongoDB gets TTL indexes; the embedded engine (mongoeco) gets a periodic purge,
    because a TTL index there makes every insert scan the collection.
    """

    client: Any
    database_name: str
    embedded: bool
    db: Any = field(init=False)

    def __post_init__(self) -> None:
        self.db = self.client[self.database_name]

    @classmethod
    async def open(cls, uri: str, database: str, var_dir: Path) -> MongoStore:
        """Open an embedded mongoeco engine (uri == "embedded") or a real MongoDB by URI."""
        if uri == "embedded":
            from mongoeco import AsyncMongoClient as EcoClient
            from mongoeco.engines.sqlite import SQLiteEngine

            var_dir.mkdir(parents=True, exist_ok=True)
            # Any, as MongoStore.client: either driver's client; mongoeco's __aenter__ (its
            # way to connect) is unannotated.
            client: Any = EcoClient(SQLiteEngine(str(var_dir / "mongo.sqlite3")))
            await client.__aenter__()
            return cls(client, database, embedded=True)
        from pymongo import AsyncMongoClient

        client = AsyncMongoClient(uri, tz_aware=True, serverSelectionTimeoutMS=5000)
        return cls(client, database, embedded=False)

    def __getitem__(self, name: str) -> Any:
        return self.db[name]

    async def ping(self) -> bool:
        """Answer whether the database answers a ping."""
        try:
            reply = await self.db.command("ping")
        except Exception:  # any driver error means "not healthy" here
            log.warning("mongodb ping failed", exc_info=True)
            return False
        return bool(reply.get("ok"))

    async def ensure_indexes(self, specs: Iterable[IndexSpec]) -> None:
        """Create the indexes that are missing (cheap when they exist)."""
        for spec in specs:
            options: dict[str, Any] = {"name": spec.name}
            if spec.unique:
                options["unique"] = True
            if spec.sparse:
                options["sparse"] = True
            await self.db[spec.collection].create_index(list(spec.keys), **options)

    async def apply_retention(self, rules: Iterable[RetentionRule]) -> None:
        """On real MongoDB, create or update one TTL index per rule."""
        if self.embedded:
            return
        for rule in rules:
            seconds = rule.days * 86_400
            name = f"ttl_{rule.field}"
            try:
                await self.db[rule.collection].create_index(
                    [(rule.field, 1)], name=name, expireAfterSeconds=seconds
                )
            except OperationFailure:
                # The index exists with another expiry: change it in place.
                try:
                    await self.db.command(
                        {
                            "collMod": rule.collection,
                            "index": {"name": name, "expireAfterSeconds": seconds},
                        }
                    )
                except OperationFailure:
                    # A server without collMod (mongoeco's wire server): build it again.
                    log.warning("collMod refused; rebuilding %s.%s", rule.collection, name)
                    await self.db[rule.collection].drop_index(name)
                    await self.db[rule.collection].create_index(
                        [(rule.field, 1)], name=name, expireAfterSeconds=seconds
                    )

    async def purge_expired(
        self, rules: Iterable[RetentionRule], now: datetime | None = None
    ) -> dict[str, int]:
        """Delete what the retention rules expire; the embedded engine's stand-in for TTL."""
        now = now or datetime.now(UTC)
        deleted: dict[str, int] = {}
        for rule in rules:
            cutoff = now - timedelta(days=rule.days)
            result = await self.db[rule.collection].delete_many({rule.field: {"$lt": cutoff}})
            deleted[rule.collection] = int(result.deleted_count)
        return deleted

    async def close(self) -> None:
        await self.client.close()


# mongoeco turns a list filter into one SQL expression per element and refuses 500 or more
# ("Expression tree is too large", an sqlite3 error, not a PyMongoError; DESIGN.md §2).
# Every list-valued filter goes through these helpers, on real MongoDB too (it costs nothing).
MAX_LIST_FILTER = 400


def list_chunks(values: Iterable[Any], size: int = MAX_LIST_FILTER) -> list[list[Any]]:
    """Split the values of a list filter into pieces the embedded engine serves."""
    unique = list(dict.fromkeys(values))
    return [unique[start : start + size] for start in range(0, len(unique), size)]


async def find_in(
    collection: Any,
    field_name: str,
    values: Iterable[Any],
    query: dict[str, Any] | None = None,
    projection: Any = None,
) -> list[dict[str, Any]]:
    """`find({field: {"$in": values}, **query})`, in chunks; documents in no particular order."""
    found: list[dict[str, Any]] = []
    for chunk in list_chunks(values):
        cursor = collection.find({**(query or {}), field_name: {"$in": chunk}}, projection)
        found.extend(await cursor.to_list())
    return found
