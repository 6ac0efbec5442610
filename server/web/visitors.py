"""Resolve the visitor for each request: cookie, visit id in Redis, arm, CSRF check."""

from __future__ import annotations

import logging

import redis.asyncio as aioredis
from quart import Response, g, request

from server.container import Services
from server.domain.errors import Forbidden
from server.domain.experiments import assign_arm
from server.domain.visitor import Visitor
from server.services.identity import VID_COOKIE, VID_MAX_AGE, VisitorIdentity, new_id

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The beacon cannot send headers; its batch must name the cookie's visitor instead.
CSRF_EXEMPT_PATHS = frozenset({"/record-session-data"})


async def current_visit(services: Services, vid: str) -> str:
    """Return the visit id of `vid`, starting a new visit after the idle timeout."""
    idle_s = services.settings.identity.session_idle_minutes * 60
    candidate = new_id()
    try:
        return await services.visitor_state.continue_visit(vid, candidate, idle_s)
    except (aioredis.RedisError, OSError):
        log.warning("redis unavailable; visit id not persisted", exc_info=True)
        return candidate


async def resolve_visitor(services: Services, identity: VisitorIdentity) -> None:
    """Attach g.visitor; refuse state-changing requests without the visitor's CSRF token."""
    vid = identity.unsign(request.cookies.get(VID_COOKIE))
    is_new = vid is None
    if vid is None:
        vid = new_id()
    session_id = await current_visit(services, vid)
    settings = services.settings.experiments
    arm = assign_arm(vid, settings.holdout_fraction, settings.force_arm)
    g.visitor = Visitor(vid=vid, session_id=session_id, arm=arm, is_new=is_new)
    g.csrf_token = identity.csrf_token(vid)
    if request.method in SAFE_METHODS or request.path in CSRF_EXEMPT_PATHS:
        return
    token = request.headers.get("X-CSRF-Token")
    if token is None and request.mimetype in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        token = (await request.form).get("csrf_token")
    if is_new or not identity.check_csrf(vid, token):
        raise Forbidden("csrf_failed", "missing or wrong CSRF token; reload the page")


def issue_cookie(response: Response, identity: VisitorIdentity, secure: bool) -> Response:
    """Set the signed vid cookie on a new visitor's first response."""
    current: Visitor | None = g.get("visitor")
    if current is not None and current.is_new:
        response.set_cookie(
            VID_COOKIE,
            identity.sign(current.vid),
            max_age=VID_MAX_AGE,
            httponly=True,
            samesite="Lax",
            secure=secure,
        )
    return response
