"""Consent and erasure over HTTP, and the consent checks the page, the beacon and /track share.

- `GET /api/consent`, `POST /api/consent` `{analytics, personalization[, where]}`: the
  visitor's choice, kept in a signed cookie, in Redis and in MongoDB (docs/privacy.md);
- `DELETE /api/me`: the visitor erases their own data (and gets a new identity);
- `DELETE /admin/api/visitors/<vid>`: an admin erases a visitor.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis.asyncio as aioredis
from quart import Blueprint, Response, current_app, g, request

from server.adapters.erasure import Eraser
from server.adapters.privacy_store import ConsentStore
from server.container import Services
from server.domain.consent import (
    CONSENT_COOKIE,
    Choice,
    Consent,
    ConsentCookie,
    decide,
    signal_declines,
)
from server.domain.errors import InvalidInput, NotFound, Unavailable
from server.domain.events import ID_PATTERN
from server.domain.validation import require_object
from server.services.adaptation import opted_out
from server.services.identity import VID_COOKIE, VisitorIdentity
from server.web.admin_auth import current_admin, require_admin
from server.web.common import json_response, read_json, services, visitor

log = logging.getLogger(__name__)
blueprint = Blueprint("privacy_api", __name__)

BEACON_PATH = "/record-session-data"
CHOICE_FIELDS = frozenset({"analytics", "personalization", "where"})
WHERE = ("banner", "settings")
VISITOR_ACTOR = {"username": "(the visitor)", "role": "visitor"}


def consent_store(shop: Services) -> ConsentStore:
    return shop.privacy.consent


def eraser(shop: Services) -> Eraser:
    return shop.privacy.eraser


def _codec() -> ConsentCookie:
    return services().privacy.resolver.codec


async def request_consent() -> Consent:
    """This request's consent (cached on `g`): browser signals, then the cookie, then default."""
    cached: Consent | None = g.get("consent")
    if cached is not None:
        return cached
    shop, current = services(), g.get("visitor")
    dnt, gpc = request.headers.get("DNT"), request.headers.get("Sec-GPC")
    if current is None:  # no visitor to speak of (a static file): signals and default only
        declines = signal_declines(dnt, gpc)
        return decide(None, shop.settings.privacy.consent_default, dnt=declines[0],
                      gpc=declines[1])  # fmt: skip
    # A new visitor's cookie (if any) belongs to someone else: it is not read.
    cookie = None if current.is_new else request.cookies.get(CONSENT_COOKIE)
    consent = await shop.privacy.resolver.resolve(current.vid, cookie, dnt, gpc)
    g.consent = consent
    return consent


async def personalization_allowed(shop: Services, vid: str) -> bool:
    """May this visitor be shown a persona or an adaptation? (this request's visitor: its
    cookie and browser signals; anyone else: the consent record)"""
    current = g.get("visitor")
    if current is not None and current.vid == vid:
        return (await request_consent()).personalization
    return await consent_store(shop).personalization_allowed(vid)


async def request_opted_out(shop: Services, vid: str) -> bool:
    """`opted_out` for a request: the request's own consent decides personalization."""
    return await opted_out(shop, vid, allowed=await personalization_allowed(shop, vid))


@blueprint.before_app_request
async def refuse_beacon_without_consent() -> Response | None:
    """Answer a beacon sent without analytics consent with the `no_consent` ack."""
    if request.path != BEACON_PATH or request.method != "POST":
        return None
    shop = services()
    identity: VisitorIdentity = current_app.extensions["vitrine_identity"]
    vid = identity.unsign(request.cookies.get(VID_COOKIE))
    if vid is None:
        return None  # the batch cannot name this visitor: ingest answers forbidden_visitor
    consent = await shop.privacy.resolver.resolve(
        vid, request.cookies.get(CONSENT_COOKIE), request.headers.get("DNT"),
        request.headers.get("Sec-GPC"),
    )  # fmt: skip
    if consent.analytics:
        return None
    return json_response(shop.pipeline.ingest.reject("no_consent"), 403)


def _consent_reply(consent: Consent, record: dict[str, Any] | None = None) -> dict[str, Any]:
    shop = services()
    reply = {**consent.to_dict(), "default": shop.settings.privacy.consent_default}
    stored = (record or {}).get("consent")
    if isinstance(stored, dict):
        at = stored.get("at")
        reply["recorded"] = {
            "analytics": bool(stored.get("analytics")),
            "personalization": bool(stored.get("personalization")),
            "at": at.isoformat() if hasattr(at, "isoformat") else None,
        }
    return reply


@blueprint.get("/api/consent")
async def get_consent() -> Any:
    shop, current = services(), visitor()
    record = await consent_store(shop).record_of(current.vid)
    return json_response(_consent_reply(await request_consent(), record))


def read_choice(body: Any) -> tuple[bool, bool, str]:
    data = require_object(body)
    if not set(data) <= CHOICE_FIELDS:
        raise InvalidInput("invalid_field", "only analytics, personalization and where")
    analytics, personalization = data.get("analytics"), data.get("personalization")
    if not isinstance(analytics, bool) or not isinstance(personalization, bool):
        raise InvalidInput("invalid_field", "analytics and personalization are true or false")
    where = data.get("where", "banner")
    if where not in WHERE:
        raise InvalidInput("invalid_field", "where is banner or settings")
    return analytics, personalization, where


@blueprint.post("/api/consent")
async def set_consent() -> Any:
    """Record a choice; DNT and GPC still win over it while the browser sends them."""
    analytics, personalization, where = read_choice(await read_json(4096))
    shop, current = services(), visitor()
    choice = Choice(analytics, personalization, int(time.time()))
    try:
        await consent_store(shop).record(current.vid, choice, where)
    except (aioredis.RedisError, OSError):
        raise Unavailable("unavailable", "the choice could not be saved; try again") from None
    dnt, gpc = signal_declines(request.headers.get("DNT"), request.headers.get("Sec-GPC"))
    g.consent = decide(choice, shop.settings.privacy.consent_default, dnt=dnt, gpc=gpc)
    response = json_response(_consent_reply(g.consent, await consent_store(shop).record_of(
        current.vid)))  # fmt: skip
    response.set_cookie(
        CONSENT_COOKIE,
        _codec().dump(current.vid, choice),
        max_age=shop.settings.privacy.consent_max_age_days * 86_400,
        httponly=True,
        samesite="Lax",
        secure=shop.settings.security.cookie_secure,
    )
    return response


async def _erase(shop: Services, vid: str, actor: dict[str, str], ip: str | None) -> Any:
    try:
        return await eraser(shop).erase(vid, actor, ip=ip)
    except (aioredis.RedisError, OSError):
        # Redis goes first: erasing again later finishes the job (erasure is idempotent).
        raise Unavailable("unavailable", "erasure could not finish; try again") from None


@blueprint.delete("/api/me")
async def erase_me() -> Any:
    """Erase the visitor's own data, then forget who they were (a new visitor id follows)."""
    shop, current = services(), visitor()
    # No address in the audit entry: it would be new personal data about the erased visitor.
    report = await _erase(shop, current.vid, VISITOR_ACTOR, None)
    response = json_response({"erased": True, **report.to_dict()})
    secure = shop.settings.security.cookie_secure
    for name in (VID_COOKIE, CONSENT_COOKIE):
        response.delete_cookie(name, httponly=True, samesite="Lax", secure=secure)
    return response


@blueprint.delete("/admin/api/visitors/<vid>")
@require_admin("admin")
async def erase_visitor(vid: str) -> Any:
    """An admin erases a visitor by id (audited under the admin's name)."""
    if not ID_PATTERN.fullmatch(vid):
        raise NotFound("unknown_visitor", "not a visitor id")
    report = await _erase(services(), vid, current_admin() or {}, request.remote_addr)
    return json_response({"vid": vid, "erased": True, **report.to_dict()})
