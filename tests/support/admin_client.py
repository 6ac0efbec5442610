"""An admin over HTTP (aiohttp): log in like a browser would, then read the tracking APIs."""

from __future__ import annotations

from types import TracebackType
from typing import Any, Self

import aiohttp
import orjson

ADMIN_COOKIE = "vitrine_admin"


class AdminClientError(Exception):
    """An admin API answered with an unexpected status."""


class AdminClient:
    """Log in as an admin (vid cookie + CSRF token first, then the login form) and read data.

    Use as `async with AdminClient(url, user, password) as admin: ...`. Each read returns
    the decoded JSON; `session()` and `events()` return None / [] while nothing is stored
    yet, so they can be polled.
    """

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self.csrf_token = ""
        self.vid = ""
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        await self.login()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            # unsafe=True: keep cookies set by an IP-address host such as 127.0.0.1.
            self._http = aiohttp.ClientSession(
                cookie_jar=aiohttp.CookieJar(unsafe=True),
                timeout=aiohttp.ClientTimeout(total=15),
            )
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def login(self) -> None:
        """Become a visitor (vid cookie, CSRF token), then post the admin login form."""
        async with self.http.get(self.base_url + "/api/me") as response:
            if response.status != 200:
                raise AdminClientError(f"GET /api/me: {response.status}")
            me = await response.json()
        self.csrf_token, self.vid = me["csrf_token"], me["vid"]
        form = {
            "username": self.username,
            "password": self.password,
            "csrf_token": self.csrf_token,
            "next": "/admin",
        }
        async with self.http.post(
            self.base_url + "/admin/login", data=form, allow_redirects=False
        ) as response:
            if response.status not in (302, 303):
                body = (await response.text())[:200]
                raise AdminClientError(f"admin login failed: {response.status} {body!r}")
        if not any(cookie.key == ADMIN_COOKIE for cookie in self.http.cookie_jar):
            raise AdminClientError(f"admin login set no {ADMIN_COOKIE} cookie")

    async def _get(self, path: str) -> tuple[int, bytes]:
        async with self.http.get(self.base_url + path) as response:
            return response.status, await response.read()

    async def _post_json(self, path: str, body: Any) -> tuple[int, bytes]:
        headers = {"X-CSRF-Token": self.csrf_token, "Content-Type": "application/json"}
        async with self.http.post(
            self.base_url + path, data=orjson.dumps(body), headers=headers
        ) as response:
            return response.status, await response.read()

    async def session(self, sid: str) -> dict[str, Any] | None:
        """`GET /api/sessions/<sid>`: the session summary, or None while it is not stored."""
        status, body = await self._get(f"/api/sessions/{sid}")
        if status == 404:
            return None
        if status != 200:
            raise AdminClientError(f"GET /api/sessions/{sid}: {status} {body[:200]!r}")
        result: dict[str, Any] = orjson.loads(body)
        return result

    async def movement(
        self,
        page: str,
        kind: str,
        *,
        start: str | None = None,
        end: str | None = None,
        viewport_class: str | None = None,
        persona: str | None = None,
        arm: str | None = None,
    ) -> dict[str, Any]:
        """`POST /get-movement-data`: heatmap bins (click/move) or scroll depth for a page."""
        query: dict[str, str] = {"page": page, "kind": kind}
        optional = {
            "from": start,
            "to": end,
            "viewport_class": viewport_class,
            "persona": persona,
            "arm": arm,
        }
        query.update({key: value for key, value in optional.items() if value is not None})
        status, body = await self._post_json("/get-movement-data", query)
        if status != 200:
            raise AdminClientError(f"POST /get-movement-data: {status} {body[:200]!r}")
        result: dict[str, Any] = orjson.loads(body)
        return result

    async def events(self, sid: str) -> list[dict[str, Any]]:
        """`GET /admin/api/sessions/<sid>/events`: the session's chunks ([] while none)."""
        status, body = await self._get(f"/admin/api/sessions/{sid}/events")
        if status == 404:
            return []
        if status != 200:
            raise AdminClientError(f"GET events of {sid}: {status} {body[:200]!r}")
        return [orjson.loads(line) for line in body.splitlines() if line.strip()]

    async def health(self) -> dict[str, Any]:
        """`GET /healthz` (public): ingest counters, flusher stats, stream lag."""
        _, body = await self._get("/healthz")
        result: dict[str, Any] = orjson.loads(body)
        return result


async def sign_in_browser(page: Any, base_url: str, username: str, password: str) -> None:
    """Log a Playwright page in through the console's login form; it lands on the overview."""
    await page.goto(base_url + "/admin/login")
    await page.fill('[name="username"]', username)
    await page.fill('[name="password"]', password)
    await page.click('button[type="submit"]')
    await page.wait_for_url(base_url + "/admin")
