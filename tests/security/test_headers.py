"""Security headers on every kind of response: pages, APIs, errors, assets, the admin side."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.shopper import Shopper

PATHS = ["/", "/catalog?q=lamp", "/product/p001", "/cart", "/checkout", "/privacy",
         "/tutorials", "/product/p999", "/no-such-page", "/api/me", "/api/cart", "/api/consent",
         "/healthz", "/admin/login", "/admin", "/admin/api/overview", "/static/css/site.css",
         "/client/main.js", "/vendor/socket.io.esm.min.js"]  # fmt: skip


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for part in policy.split(";"):
        name, *values = part.split()
        parsed[name] = values
    return parsed


@pytest.mark.parametrize("path", PATHS)
async def test_every_response_carries_the_security_headers(client: Shopper, path: str) -> None:
    response = await client.get(path)
    headers = response.headers
    assert response.status_code < 500, path
    policy = directives(headers["Content-Security-Policy"])
    # Only the app's own scripts: no inline script, no eval, no other origin.
    assert policy["script-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'self'"]  # only our own admin heatmap frames the shop
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] in ("same-origin", "strict-origin-when-cross-origin",
                                          "no-referrer")  # fmt: skip
    assert headers["X-Frame-Options"] == "SAMEORIGIN"


@pytest.mark.parametrize("path", ["/", "/catalog?on_sale=1&sort=discount", "/product/p001",
                                  "/cart", "/checkout", "/tutorials", "/admin/login"])  # fmt: skip
async def test_pages_made_for_one_shopper_are_never_stored(client: Shopper, path: str) -> None:
    # Back would otherwise show a copy rendered before the persona was known (issue 15).
    response = await client.get(path)
    assert response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-store"


async def test_assets_stay_cacheable(client: Shopper) -> None:
    response = await client.get("/static/css/site.css")
    assert "no-store" not in response.headers.get("Cache-Control", "")


async def test_cookies_are_httponly_and_samesite(app: Any) -> None:
    client = app.quart.test_client()
    response = await client.get("/")
    (vid_cookie,) = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("vid=")]
    assert "HttpOnly" in vid_cookie and "SameSite=Lax" in vid_cookie


async def test_json_errors_are_json_not_html(client: Shopper) -> None:
    response = await client.post("/add-to-cart", b"{")
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    assert (await response.get_json())["error"] == "invalid_json"
