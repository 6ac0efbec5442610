"""Admin accounts: argon2 password hashes in MongoDB, and the first account on first run."""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pymongo.errors import DuplicateKeyError

from server.adapters.mongo_store import MongoStore
from server.adapters.shop_store import insert_document
from server.domain.errors import Conflict, InvalidInput

log = logging.getLogger(__name__)

ADMINS = "admins"
ROLES = ("admin", "analyst")
USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{3,64}$")
_hasher = PasswordHasher()
# Verifying against this keeps a wrong username as slow as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


@dataclass(frozen=True)
class Admin:
    username: str
    role: str


class AdminStore:
    def __init__(self, store: MongoStore) -> None:
        self._admins = store[ADMINS]

    async def count(self) -> int:
        return int(await self._admins.count_documents({}))

    async def create(self, username: str, password: str, role: str = "admin") -> Admin:
        """Create an account; the password is stored only as an argon2 hash."""
        if not USERNAME.fullmatch(username):
            raise InvalidInput("invalid_username", "3..64 letters, digits or _.@-")
        if len(password) < 10:
            raise InvalidInput("weak_password", "at least 10 characters")
        if role not in ROLES:
            raise InvalidInput("invalid_role", f"one of {', '.join(ROLES)}")
        doc: dict[str, Any] = {
            "_id": username,
            "password_hash": _hasher.hash(password),
            "role": role,
            "created_at": datetime.now(UTC),
        }
        try:
            await insert_document(self._admins, doc)
        except DuplicateKeyError:
            raise Conflict("admin_exists", f"{username} already exists") from None
        return Admin(username, role)

    async def authenticate(self, username: str, password: str) -> Admin | None:
        """Return the admin when the password matches, else None (same cost either way)."""
        doc = await self._admins.find_one({"_id": username})
        try:
            _hasher.verify(doc["password_hash"] if doc else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        if doc is None:
            return None
        return Admin(doc["_id"], doc.get("role", "admin"))

    async def get(self, username: str) -> Admin | None:
        doc = await self._admins.find_one({"_id": username})
        return Admin(doc["_id"], doc.get("role", "admin")) if doc else None

    async def ensure_first_admin(
        self, username: str | None, password: str | None, var_dir: Path
    ) -> str | None:
        """Create the first admin when none exists; return a message for the console."""
        if await self.count() > 0:
            return None
        if username and password:
            try:
                await self.create(username, password)
            except Conflict:  # another process created it a moment ago
                return None
            return f"created admin {username!r} from VITRINE_ADMIN_USER / VITRINE_ADMIN_PASSWORD"
        username = username or "admin"
        password = secrets.token_urlsafe(12)
        try:
            await self.create(username, password)
        except Conflict:
            return None
        path = var_dir / "admin-password.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_text(f"{username}\n{password}\n", encoding="utf-8")
        return f"created admin {username!r} with a generated password (saved in {path})"
