"""create_app(settings): wiring only — Quart pages and APIs plus Socket.IO in one ASGI app."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import socketio
from quart import Quart, Response, g, request
from werkzeug.exceptions import HTTPException

from server.adapters.redis_keys import RedisKeys
from server.bootstrap import plan_redis, secret_key_for, start_services, stop_services
from server.container import Services
from server.domain.catalog import format_money
from server.domain.errors import VitrineError
from server.services.adaptation import missed_pushes
from server.services.identity import VisitorIdentity
from server.services.personas import UNKNOWN_PERSONA, current_persona
from server.services.privacy import ConsentGate
from server.settings import REPO_ROOT, Settings
from server.sockets.admin import AdminNamespace, start_admin_side
from server.sockets.server import create_socket_server
from server.sockets.track import TrackNamespace
from server.web import (
    admin_api,
    admin_auth,
    admin_pages,
    assets,
    cart_api,
    experiments_admin,
    frustration_api,
    personalization_api,
    personas_api,
    privacy_api,
    shop_pages,
    system,
    tracking,
    zones_api,
)
from server.web.admin_auth import current_admin
from server.web.common import http_status, json_response
from server.web.visitors import issue_cookie, resolve_visitor

log = logging.getLogger(__name__)

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self' ws: wss:",
        "frame-ancestors 'self'",
        "base-uri 'self'",
        "form-action 'self'",
        "object-src 'none'",
    ]
)


@dataclass
class VitrineApp:
    """The ASGI app Hypercorn serves, and its two halves for tests and workers."""

    asgi: socketio.ASGIApp
    quart: Quart
    sio: socketio.AsyncServer
    settings: Settings

    @property
    def services(self) -> Services:
        return self.quart.extensions["vitrine"]  # type: ignore[no-any-return]


def _is_api_path(path: str) -> bool:
    return not request.accept_mimetypes.accept_html or path.startswith(
        ("/api/", "/admin/api/", "/add-to-cart", "/update-cart", "/remove-from-cart",
         "/apply-coupon", "/process-order", "/record-session-data", "/get-", "/predict-",
         "/recommendations")
    )  # fmt: skip


def create_app(
    settings: Settings, on_ready: Callable[[Services], None] | None = None
) -> VitrineApp:
    """Build the app; services start with the ASGI lifespan and stop with it."""
    redis_url, valkey = plan_redis(settings)
    secret_key = secret_key_for(settings)
    identity = VisitorIdentity(secret_key)
    sio = create_socket_server(redis_url, channel=RedisKeys.of(settings).socketio_channel())
    app = Quart(
        __name__,
        template_folder=str(REPO_ROOT / "templates"),
        static_folder=str(REPO_ROOT / "static"),
        static_url_path="/static",
    )
    app.secret_key = secret_key
    app.config.update(
        SESSION_COOKIE_NAME="vitrine_admin",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=settings.security.cookie_secure,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        MAX_CONTENT_LENGTH=max(settings.tracking.max_batch_bytes * 2, 1_000_000),
        TEMPLATES_AUTO_RELOAD=False,
    )
    app.jinja_env.filters["money"] = format_money
    vitrine = VitrineApp(asgi=socketio.ASGIApp(sio, other_asgi_app=app), quart=app, sio=sio,
                         settings=settings)  # fmt: skip
    app.extensions["vitrine_identity"] = identity
    app.extensions["vitrine_sio"] = sio

    sio.register_namespace(AdminNamespace(app))

    for module in (
        shop_pages, cart_api, system, admin_auth, admin_pages, assets, tracking, personas_api,
        personalization_api, admin_api, experiments_admin, privacy_api, frustration_api,
        zones_api,
    ):  # fmt: skip
        app.register_blueprint(module.blueprint)

    @app.before_serving
    async def start() -> None:
        services = await start_services(settings, valkey, notifier=sio)
        app.extensions["vitrine"] = services
        replay = start_admin_side(services, sio)
        # Registered once its collaborators exist; no socket connects before serving starts.
        sio.register_namespace(
            TrackNamespace(
                identity, settings.tracking, ingest=services.pipeline.ingest,
                consent=ConsentGate(services.privacy.resolver, services.privacy.consent),
                replay=replay, connections=services.connections,
                catch_up=functools.partial(missed_pushes, services),
            )
        )  # fmt: skip
        for message in services.startup_messages:
            log.warning("%s", message)
        if on_ready is not None:
            on_ready(services)

    @app.after_serving
    async def stop() -> None:
        services = app.extensions.pop("vitrine", None)
        if services is not None:
            await stop_services(services)

    @app.before_request
    async def identify() -> None:
        if request.path.startswith(("/static/", "/vendor/", "/client/")):
            return
        await resolve_visitor(app.extensions["vitrine"], identity)

    @app.after_request
    async def finish(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
        if response.mimetype == "text/html":
            # Every page is rendered for one shopper (persona, adaptations, cart, CSRF token).
            # Without no-store, Back shows the copy the browser kept, rendered before the
            # persona was known, and no push corrects it: that page view already got its own.
            response.headers.setdefault("Cache-Control", "no-store")
        return issue_cookie(response, identity, settings.security.cookie_secure)

    @app.context_processor
    async def page_context() -> dict[str, Any]:
        current = g.get("visitor")
        services = app.extensions.get("vitrine")
        consent = (
            await privacy_api.request_consent()
            if services is not None and current is not None
            else None
        )
        persona = (
            await current_persona(services, current.vid)
            if services is not None and current is not None and consent and consent.personalization
            else UNKNOWN_PERSONA
        )
        return {
            "persona": persona["persona"],
            "persona_state": persona,
            "categories": await services.catalog.categories() if services else [],
            "visitor": current,
            "csrf_token": g.get("csrf_token", ""),
            "admin": current_admin(),
            "settings": settings,
            "demo_consent": settings.privacy.consent_default == "granted",
            "consent": consent,
        }

    @app.errorhandler(VitrineError)
    async def vitrine_error(error: VitrineError) -> Response:
        return json_response(error.to_dict(), http_status(error))

    @app.errorhandler(HTTPException)
    async def http_error(error: HTTPException) -> Any:
        status = error.code or 500
        if _is_api_path(request.path):
            code = (error.name or "error").lower().replace(" ", "_")
            return json_response({"error": code, "detail": error.description or ""}, status)
        from quart import render_template

        return await render_template("shop/error.html", status=status, error=error), status

    return vitrine
