"""Admin login, logout and the guard every admin route, API and socket uses."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlparse

import redis.asyncio as aioredis
from quart import Blueprint, redirect, render_template, request, session

from server.domain.errors import Unauthenticated
from server.web.common import json_response, services
from server.web.rate_limits import rate_limited

log = logging.getLogger(__name__)
blueprint = Blueprint("admin_auth", __name__)

P = ParamSpec("P")
R = TypeVar("R")

MAX_FAILURE_DELAY_S = 8.0


def current_admin() -> dict[str, str] | None:
    admin = session.get("admin")
    return admin if isinstance(admin, dict) else None


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/admin/api/", "/get-", "/predict-")) or (
        request.accept_mimetypes.best == "application/json"
    )


def require_admin(
    *roles: str,
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[Any]]]:
    """Refuse the route without an admin login (401 for APIs, a redirect for pages)."""
    allowed = roles or ("admin", "analyst")

    def decorate(handler: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[Any]]:
        @functools.wraps(handler)
        async def guarded(*args: P.args, **kwargs: P.kwargs) -> Any:
            admin = current_admin()
            if admin is None:
                if wants_json():
                    raise Unauthenticated("unauthenticated", "admin login required")
                return redirect(f"/admin/login?next={request.path}")
            if admin.get("role") not in allowed:
                return json_response(
                    {"error": "forbidden_role", "detail": "not for your role"}, 403
                )
            return await handler(*args, **kwargs)

        return guarded

    return decorate


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an open redirect after login is a phishing tool.
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/admin"
    return urlparse(target).path or "/admin"


def _failure_name(username: str) -> str:
    return username.lower()[:64]


async def _failure_delay(username: str) -> float:
    try:
        failures = await services().counters.login_failures(_failure_name(username))
    except (aioredis.RedisError, OSError):
        failures = 0
    return 0.0 if failures == 0 else min(0.25 * 2 ** (failures - 1), MAX_FAILURE_DELAY_S)


async def _record_failure(username: str) -> None:
    try:
        await services().counters.record_login_failure(_failure_name(username))
    except (aioredis.RedisError, OSError):
        log.warning("could not record a failed login", exc_info=True)


@blueprint.get("/admin/login")
async def login_form() -> str:
    return await render_template("admin/login.html", next=_safe_next(request.args.get("next")))


@blueprint.post("/admin/login")
@rate_limited("login")
async def login() -> Any:
    form = await request.form
    username = (form.get("username") or "")[:64]
    password = (form.get("password") or "")[:256]
    # Growing delays: every failure doubles the wait before the next answer for this name.
    await asyncio.sleep(await _failure_delay(username))
    admin = await services().admins.authenticate(username, password) if username else None
    if admin is None:
        await _record_failure(username)
        return (
            await render_template(
                "admin/login.html", next=_safe_next(form.get("next")), error=True
            ),
            401,
        )
    await services().counters.clear_login_failures(_failure_name(username))
    session.clear()  # a fresh session at login: no fixation
    session["admin"] = {"username": admin.username, "role": admin.role}
    session.permanent = True
    return redirect(_safe_next(form.get("next")))


@blueprint.post("/admin/logout")
async def logout() -> Any:
    session.clear()
    return redirect("/admin/login")
