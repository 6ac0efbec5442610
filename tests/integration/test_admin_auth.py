"""Admin side access: every admin route, API and the /admin namespace refuse anonymous callers.

The routes come from the app's URL map, so a new admin route is covered without touching
this file; the roles each route declares (`require_admin(*roles)`) are what an analyst is
refused, and the routes that hand out recordings or erase data must declare admin only.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import socketio
from quart.testing import QuartClient

from server.adapters.embedded_valkey import EmbeddedValkey
from server.app import VitrineApp, create_app
from tests.support.settings import build_settings, unique_name
from tests.support.shopper import Shopper

ADMIN = ("console-admin", "admin-password-1")
ANALYST = ("console-analyst", "analyst-password-1")
# Reachable without login by design: the login form itself and logging out.
PUBLIC_ADMIN_ENDPOINTS = {"admin_auth.login_form", "admin_auth.login", "admin_auth.logout"}
# Routes that hand out recordings, exports or the audit trail, or erase data: admin only.
ADMIN_ONLY = re.compile(r"/(replay|export|events|audit|visitors|erase)\b|^/admin/sessions/<")
SAMPLE_ARGUMENTS = {"int": "1", "path": "x/y", "default": "abcdefgh12345678"}
SESSION_ID = "sessionAuditTest0001"


def declared_roles(view: Any) -> tuple[str, ...] | None:
    """The roles `require_admin` was given for this view, or None when it is not guarded."""
    try:
        captured = inspect.getclosurevars(view).nonlocals
    except TypeError:
        return None
    if "handler" not in captured or "allowed" not in captured:
        return None
    return tuple(captured["allowed"])


def admin_routes(app: VitrineApp) -> Iterator[tuple[str, str, tuple[str, ...] | None, str]]:
    """(method, url, declared roles, rule) for every guarded route and everything under /admin."""
    for rule in app.quart.url_map.iter_rules():
        roles = declared_roles(app.quart.view_functions[rule.endpoint])
        under_admin = rule.rule.startswith("/admin") and rule.endpoint not in PUBLIC_ADMIN_ENDPOINTS
        if roles is None and not under_admin:
            continue
        url = re.sub(
            r"<(?:(\w+)(?:\([^)]*\))?:)?\w+>",
            lambda m: SAMPLE_ARGUMENTS.get(m.group(1) or "default", "x"),
            rule.rule,
        )
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield method, url, roles, rule.rule


@pytest.fixture(scope="module")
async def admin_app(
    valkey: EmbeddedValkey, models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[VitrineApp]:
    """One app for the module (starting one costs seconds), with an admin and an analyst."""
    name = unique_name()
    settings = build_settings(name, tmp_path_factory.mktemp(name), models_dir, valkey.url)
    vitrine = create_app(settings)
    async with vitrine.quart.test_app_class(vitrine.quart, startup_timeout=120):
        await vitrine.services.admins.create(*ADMIN, "admin")
        await vitrine.services.admins.create(*ANALYST, "analyst")
        now = datetime.now(UTC)
        await vitrine.services.pipeline.events.sessions.insert_many(
            [{"_id": SESSION_ID, "vid": "visitorAuditTest01", "arm": "treatment",
              "started_at": now - timedelta(minutes=3), "last_at": now, "events": 3}]
        )  # fmt: skip
        yield vitrine


async def visitor(app: VitrineApp) -> Shopper:
    shopper = Shopper(QuartClient(app.quart))
    await shopper.start()
    return shopper


async def logged_in(app: VitrineApp, account: tuple[str, str]) -> Shopper:
    shopper = await visitor(app)
    form = {"username": account[0], "password": account[1], "csrf_token": shopper.csrf}
    response = await shopper.http.post("/admin/login", form=form)
    assert response.status_code == 302, await response.get_data(as_text=True)
    return shopper


async def call(shopper: Shopper, method: str, url: str) -> Any:
    headers = {"X-CSRF-Token": shopper.csrf}
    if method == "GET":
        return await shopper.http.get(url)
    return await shopper.http.open(url, method=method, json={}, headers=headers)


async def test_every_admin_route_refuses_anonymous_callers(admin_app: VitrineApp) -> None:
    routes = list(admin_routes(admin_app))
    rules = {rule for *_, rule in routes}
    # The admin side as the issue lists it is all there (and so covered).
    for expected in ("/admin", "/admin/heatmap", "/admin/sessions", "/admin/sessions/<session_id>",
                     "/admin/api/overview", "/admin/api/heatmap", "/admin/api/sessions",
                     "/admin/api/sessions/<session_id>/replay", "/admin/api/sessions/<session_id>/export",
                     "/get-movement-data", "/admin/api/audit"):  # fmt: skip
        assert expected in rules, expected
    anonymous = await visitor(admin_app)  # a visitor with a CSRF token: only the login is missing
    for method, url, roles, rule in routes:
        assert roles is not None, f"{rule} is under /admin but not guarded by require_admin"
        response = await call(anonymous, method, url)
        if response.status_code in (301, 302, 303):
            assert response.headers["Location"].startswith("/admin/login"), (method, url)
        else:
            assert response.status_code == 401, (method, url, response.status_code)
            assert (await response.get_json())["error"] == "unauthenticated"


async def test_analysts_are_refused_what_their_role_does_not_declare(admin_app: VitrineApp) -> None:
    routes = list(admin_routes(admin_app))
    for _, _, roles, rule in routes:
        if ADMIN_ONLY.search(rule):
            assert roles == ("admin",), f"{rule} must be admin only, declares {roles}"
    analyst = await logged_in(admin_app, ANALYST)
    refused = 0
    for method, url, roles, _ in routes:
        if roles is not None and "analyst" not in roles:
            response = await call(analyst, method, url)
            assert response.status_code == 403, (method, url, response.status_code)
            refused += 1
    assert refused >= 4  # replay page and API, export, audit
    for allowed in ("/admin", "/admin/heatmap", "/admin/sessions", "/admin/api/overview"):
        assert (await analyst.get(allowed)).status_code == 200, allowed
    for replay in (f"/admin/sessions/{SESSION_ID}", f"/admin/api/sessions/{SESSION_ID}/replay"):
        assert (await analyst.get(replay)).status_code == 403


async def test_opening_a_replay_is_audited(admin_app: VitrineApp) -> None:
    admin = await logged_in(admin_app, ADMIN)
    assert (await admin.get(f"/admin/sessions/{SESSION_ID}")).status_code == 200
    response = await admin.get(f"/admin/api/sessions/{SESSION_ID}/replay")
    assert response.status_code == 200
    response = await admin.get(f"/admin/api/sessions/{SESSION_ID}/export")
    assert response.status_code == 200
    entries = (await (await admin.get(f"/admin/api/audit?target={SESSION_ID}")).get_json())[
        "entries"
    ]
    actions = [(e["username"], e["role"], e["action"], e["target"]) for e in entries]
    assert (ADMIN[0], "admin", "replay.view", SESSION_ID) in actions
    assert (ADMIN[0], "admin", "session.export", SESSION_ID) in actions
    assert all(
        datetime.fromisoformat(e["at"]) > datetime.now(UTC) - timedelta(minutes=1) for e in entries
    )


async def test_login_needs_csrf_and_failures_slow_down(admin_app: VitrineApp) -> None:
    shopper = await visitor(admin_app)
    no_token = await shopper.http.post(
        "/admin/login", form={"username": ADMIN[0], "password": ADMIN[1]}
    )
    assert no_token.status_code == 403
    durations = []
    for _ in range(5):
        started = time.perf_counter()
        response = await shopper.http.post(
            "/admin/login",
            form={
                "username": "slow-target",
                "password": "wrong-password",
                "csrf_token": shopper.csrf,
            },
        )
        durations.append(time.perf_counter() - started)
        assert response.status_code == 401
    # 0, 0.25, 0.5, 1, 2 s added before answering; argon2's own time (~0.1-1 s on a busy
    # machine) is noise on top, so compare the first and the fifth attempt only.
    assert durations[4] >= 2.0, durations
    assert durations[4] - durations[0] >= 1.4, durations


async def test_login_sets_an_httponly_samesite_cookie_renewed_each_time(
    admin_app: VitrineApp,
) -> None:
    shopper = await visitor(admin_app)
    cookies = []
    for attempt in range(2):
        if attempt:
            await asyncio.sleep(1.1)  # the signature's timestamp has a one-second grain
        response = await shopper.http.post(
            "/admin/login",
            form={"username": ADMIN[0], "password": ADMIN[1], "csrf_token": shopper.csrf},
        )
        header = next(
            h for h in response.headers.getlist("Set-Cookie") if h.startswith("vitrine_admin=")
        )
        assert "HttpOnly" in header and "SameSite=Strict" in header
        cookies.append(header.split(";")[0])
    assert cookies[0] != cookies[1], "a fresh cookie at every login"
    response = await shopper.http.post("/admin/logout", form={"csrf_token": shopper.csrf})
    assert response.status_code == 302
    assert (await shopper.get("/admin/api/overview")).status_code == 401


async def test_the_admin_namespace_checks_the_admin_cookie(make_settings: Any) -> None:
    from tests.support.admin_client import ADMIN_COOKIE, AdminClient
    from tests.support.live_server import running_app, visitor_cookie

    async with running_app(make_settings()) as (app, url):
        await app.services.admins.create(*ANALYST, "analyst")
        await app.services.admins.create(*ADMIN, "admin")
        shopper_cookie, _ = await visitor_cookie(url)
        for cookie in (None, shopper_cookie, "vitrine_admin=forged.value.here"):
            client = socketio.AsyncClient(reconnection=False)
            with pytest.raises(socketio.exceptions.ConnectionError):
                await client.connect(
                    url,
                    namespaces=["/admin"],
                    transports=["websocket"],
                    headers={"Cookie": cookie} if cookie else {},
                )
            await client.disconnect()

        for account, replay_ok in ((ANALYST, False), (ADMIN, True)):
            async with AdminClient(url, *account) as admin:
                jar = {c.key: c.value for c in admin.http.cookie_jar}
                cookie = f"{ADMIN_COOKIE}={jar[ADMIN_COOKIE]}"
            client = socketio.AsyncClient(reconnection=False)
            await client.connect(
                url, namespaces=["/admin"], transports=["websocket"], headers={"Cookie": cookie}
            )
            ack = await client.call("subscribe", {"channel": "overview"}, namespace="/admin")
            assert ack == {"ok": True}
            ack = await client.call(
                "subscribe", {"channel": "replay", "sid": SESSION_ID}, namespace="/admin"
            )
            assert ack == ({"ok": True} if replay_ok else {"ok": False, "error": "forbidden_role"})
            await client.disconnect()
        entries = await app.services.privacy.audit.recent(10, SESSION_ID)
        assert [(e["username"], e["action"]) for e in entries] == [(ADMIN[0], "replay.watch")]
