"""A visitor driving the app through Quart's test client: cookie jar plus CSRF header."""

from __future__ import annotations

from typing import Any


class Shopper:
    def __init__(self, test_client: Any) -> None:
        self.http = test_client
        self.csrf = ""
        self.vid = ""

    async def start(self) -> None:
        me = await (await self.http.get("/api/me")).get_json()
        self.csrf, self.vid = me["csrf_token"], me["vid"]

    async def get(self, path: str, **kwargs: Any) -> Any:
        return await self.http.get(path, **kwargs)

    async def post(self, path: str, body: Any = None, *, csrf: bool = True, **kwargs: Any) -> Any:
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        headers.update(kwargs.pop("headers", {}))
        if body is not None and not isinstance(body, bytes | str):
            return await self.http.post(path, json=body, headers=headers, **kwargs)
        return await self.http.post(
            path, data=body, headers={"Content-Type": "application/json", **headers}, **kwargs
        )

    async def json(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        response = await (self.get(path) if method == "GET" else self.post(path, body))
        return response.status_code, await response.get_json()


async def new_shopper(app: Any) -> Shopper:
    """A new visitor of `app` (a VitrineApp) through Quart's test client, started."""
    shopper = Shopper(app.quart.test_client())
    await shopper.start()
    return shopper
