"""exploration"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.e2e.conftest import ADMIN_PASSWORD, ADMIN_USER
from tests.support.admin_client import AdminClient
from tests.support.live_server import ServerProcess

STATE = "() => JSON.stringify({s: window.vitrineTracker.stats, t: window.vitrineTracker.transport.stats, connected: window.vitrineTracker.transport.socket && window.vitrineTracker.transport.socket.connected, pending: sessionStorage.getItem('vitrine:pending'), online: navigator.onLine})"


async def test_beacon(shop: ServerProcess, page: Any) -> None:
    seen = []
    page.context.on(
        "request",
        lambda r: (
            seen.append((r.url, r.method, r.post_data)) if "record-session" in r.url else None
        ),
    )
    frames = []
    page.on("websocket", lambda ws: ws.on("framesent", lambda f: frames.append(f)))
    await page.goto(shop.url + "/product/p002")
    sid = await page.get_attribute('meta[name="vitrine-sid"]', "content")
    await page.wait_for_function(
        "() => window.vitrineTracker && window.vitrineTracker.transport.stats.acked >= 1"
    )
    print("A", await page.evaluate(STATE))
    box = await page.locator("h1").bounding_box()
    await page.mouse.click(box["x"] + 5, box["y"] + 5)
    await page.close(run_before_unload=True)
    await asyncio.sleep(2.5)
    print("seen", seen)
    print("frames", [str(f)[:200] for f in frames])
    async with AdminClient(shop.url, ADMIN_USER, ADMIN_PASSWORD) as admin:
        for c in await admin.events(sid):
            print(c["seq"], c["events"])
        print(json.dumps(await admin.health()))
    assert 0


async def test_offline_reload(shop: ServerProcess, page: Any) -> None:
    blocked = {"on": False}

    async def ws_handler(ws):
        print("ws route", ws.url, blocked)
        if blocked["on"]:
            await ws.close()
        else:
            ws.connect_to_server()

    await page.context.route_web_socket("**/socket.io/**", ws_handler)

    async def beacon_route(route):
        print("beacon route", blocked)
        if blocked["on"]:
            await route.abort()
        else:
            await route.continue_()

    await page.context.route("**/record-session-data", beacon_route)
    page.on("console", lambda m: print("console:", m.text))
    await page.goto(shop.url + "/product/p003")
    sid = await page.get_attribute('meta[name="vitrine-sid"]', "content")
    await page.wait_for_function(
        "() => window.vitrineTracker && window.vitrineTracker.transport.stats.acked >= 1"
    )
    print("A", await page.evaluate(STATE))
    blocked["on"] = True
    await page.context.set_offline(True)
    box = await page.locator("h1").bounding_box()
    await page.mouse.click(box["x"] + 5, box["y"] + 5)
    await page.wait_for_timeout(1500)
    print("B", await page.evaluate(STATE))
    await page.context.set_offline(False)
    await page.wait_for_timeout(500)
    print("B2", await page.evaluate(STATE))
    await page.reload()
    await page.wait_for_function(
        "() => window.vitrineTracker && window.vitrineTracker.stats.running"
    )
    await page.wait_for_timeout(1500)
    print("C", await page.evaluate(STATE))
    blocked["on"] = False
    await page.wait_for_function(
        "() => window.vitrineTracker.transport.stats.pending === 0", timeout=15000
    )
    print("D", await page.evaluate(STATE))
    await asyncio.sleep(2)
    async with AdminClient(shop.url, ADMIN_USER, ADMIN_PASSWORD) as admin:
        for c in await admin.events(sid):
            print(c["pvid"], c["seq"], [e["k"] for e in c["events"]])
        print(json.dumps(await admin.health()))
    assert 0
