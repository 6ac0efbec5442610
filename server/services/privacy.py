"""Consent, worked out once for every door a shopper comes in by.

A page request, the /track socket's handshake and the tail beacon all carry the same
evidence: the browser's Do-Not-Track and Global Privacy Control headers, the signed consent
cookie, and (in Redis) whether the visitor has since been erased or changed their mind on
another device. `ConsentResolver.resolve` combines them with the deployment's default by the
pure rule in server/domain/consent.py; each edge only reads its own headers and cookies.
"""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio as aioredis

from server.adapters.privacy_store import ConsentStore
from server.domain.consent import (
    CONSENT_COOKIE,
    ERASED_FLAG,
    Choice,
    Consent,
    ConsentCookie,
    Default,
    decide,
    signal_declines,
)
from server.services.identity import cookie_from_header

REVOCATION_CHECK_S = 2.0  # an open /track connection rechecks the visitor's flag this often


class ConsentResolver:
    def __init__(self, store: ConsentStore, secret_key: str, default: Default) -> None:
        self.store = store
        self.codec = ConsentCookie(secret_key)
        self.default = default

    async def resolve(
        self, vid: str, cookie: str | None, dnt_header: str | None, gpc_header: str | None
    ) -> Consent:
        """The visitor's consent from its signals, its cookie and the Redis flag."""
        dnt, gpc = signal_declines(dnt_header, gpc_header)
        if dnt or gpc:  # the browser's signal wins; no need to read anything else
            return decide(None, self.default, dnt=dnt, gpc=gpc)
        choice, erased = await self._checked(vid, self.codec.load(vid, cookie))
        return decide(choice, self.default, erased=erased)

    async def _checked(self, vid: str, choice: Choice | None) -> tuple[Choice | None, bool]:
        """Compare a cookie's choice with the Redis flag: (choice, erased since)."""
        if choice is None:
            return None, False
        try:
            flag = await self.store.flag(vid)
        except (aioredis.RedisError, OSError):
            return choice, False  # the cookie is signed: trust it while Redis is away
        if flag == ERASED_FLAG:
            return None, True
        if flag is None:
            await self.store.restore_flag(vid, choice)
        return choice, False


class ConsentGate:
    """The /track namespace's checks: at connect from the handshake, then a cheap recheck."""

    def __init__(self, resolver: ConsentResolver, store: ConsentStore) -> None:
        self.resolver = resolver
        self.store = store

    async def at_connect(self, environ: dict[str, Any], vid: str) -> Consent:
        return await self.resolver.resolve(
            vid, cookie_from_header(environ.get("HTTP_COOKIE"), CONSENT_COOKIE),
            environ.get("HTTP_DNT"), environ.get("HTTP_SEC_GPC"),
        )  # fmt: skip

    async def revoked(self, session: dict[str, Any]) -> bool:
        """Has the visitor declined analytics (or been erased) since the socket connected?"""
        now = time.monotonic()
        if now - session.get("consent_checked", 0.0) < REVOCATION_CHECK_S:
            return bool(session.get("consent_revoked", False))
        try:
            revoked = await self.store.analytics_revoked(session["vid"])
        except (aioredis.RedisError, OSError):
            revoked = False  # ingest answers "unavailable" anyway; the client keeps its batch
        session["consent_checked"], session["consent_revoked"] = now, revoked
        return revoked
