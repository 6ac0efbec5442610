"""AuditStore: who opened which replay or export, and when (append-only)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from server.adapters.mongo_store import IndexSpec, MongoStore

AUDIT_LOG = "admin_audit"
AUDIT_INDEXES = (
    IndexSpec(AUDIT_LOG, [("at", -1)]),
    IndexSpec(AUDIT_LOG, [("target", 1), ("at", -1)]),
)
# Actions recorded; the names are what the audit API and docs/admin.md show.
REPLAY_VIEW = "replay.view"
REPLAY_WATCH = "replay.watch"
SESSION_EXPORT = "session.export"


class AuditStore:
    def __init__(self, store: MongoStore) -> None:
        self.log = store[AUDIT_LOG]

    async def record(
        self, admin: dict[str, str], action: str, target: str, *, ip: str | None = None
    ) -> dict[str, Any]:
        """Append one entry; `admin` is the logged-in admin's session record."""
        entry = {
            "at": datetime.now(UTC),
            "username": admin.get("username", "?"),
            "role": admin.get("role", "?"),
            "action": action,
            "target": target,
            "ip": ip,
        }
        # insert_many, not insert_one: the embedded engine's insert_one scans the collection.
        await self.log.insert_many([entry])
        return entry

    async def recent(self, limit: int = 100, target: str | None = None) -> list[dict[str, Any]]:
        """The newest entries first, optionally for one target (a session id)."""
        query: dict[str, Any] = {} if target is None else {"target": target}
        docs: list[dict[str, Any]] = (
            await self.log.find(query, {"_id": 0}).sort("at", -1).limit(limit).to_list()
        )
        return docs
