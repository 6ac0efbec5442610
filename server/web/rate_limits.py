"""A small Redis-backed limiter for the routes worth guessing at: login, coupons, orders.

Fixed windows (`window_seconds`) counted in Redis, so every server process shares them;
each route is limited per visitor and/or per client address (settings `[rate_limits]`).
Over the limit: 429 `{"error": "rate_limited"}` with `Retry-After`. When Redis is away the
limiter lets requests through: the routes themselves still work, only the counting stops.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import redis.asyncio as aioredis
from quart import g, request

from server.web.common import json_response, services

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")

# route name -> (scope, setting holding that scope's limit per window)
RULES: dict[str, tuple[tuple[str, str], ...]] = {
    "login": (("ip", "login_per_ip"),),
    "apply_coupon": (("vid", "apply_coupon_per_visitor"), ("ip", "apply_coupon_per_ip")),
    "process_order": (("vid", "process_order_per_visitor"), ("ip", "process_order_per_ip")),
}


def _subject(scope: str) -> str | None:
    if scope == "vid":
        current = g.get("visitor")
        return current.vid if current is not None else None
    return request.remote_addr or "unknown"


async def over_limit(name: str) -> int:
    """Count this request against `name`'s limits; return seconds to wait (0: go ahead)."""
    shop = services()
    limits = shop.settings.rate_limits
    if not limits.enabled:
        return 0
    window = limits.window_seconds
    now = time.time()
    slot = int(now // window)
    subjects: list[tuple[str, str]] = []
    allowed: list[int] = []
    for scope, setting in RULES[name]:
        subject = _subject(scope)
        if subject is not None:
            subjects.append((scope, subject[:64]))
            allowed.append(int(getattr(limits, setting)))
    if not subjects:
        return 0
    try:
        counts = await shop.counters.count(name, subjects, slot, window)
    except (aioredis.RedisError, OSError):
        log.warning("rate limiter unavailable; letting %s through", name, exc_info=True)
        return 0
    if any(count > limit for count, limit in zip(counts, allowed, strict=True)):
        return max(1, int((slot + 1) * window - now + 0.999))
    return 0


def rate_limited(
    name: str,
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[Any]]]:
    """Limit a route by the rule `name` of RULES."""
    if name not in RULES:
        raise ValueError(f"no rate limit rule {name!r}")

    def decorate(handler: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[Any]]:
        @functools.wraps(handler)
        async def limited(*args: P.args, **kwargs: P.kwargs) -> Any:
            wait = await over_limit(name)
            if wait:
                response = json_response(
                    {"error": "rate_limited", "detail": f"too many attempts; retry in {wait} s"},
                    429,
                )
                response.headers["Retry-After"] = str(wait)
                return response
            return await handler(*args, **kwargs)

        return limited

    return decorate
