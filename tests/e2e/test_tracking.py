"""Issue 3 acceptance, end to end: a shopper in Chromium, the tracker, /track, the stream,
the flusher and MongoDB, read back through the admin APIs.

Each test uses its own product page, so the module's shared database keeps their heatmaps,
scroll depths and sessions apart.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ADMIN_PASSWORD, ADMIN_USER, CHROMIUM, CHROMIUM_FLAGS
from tests.support.admin_client import AdminClient
from tests.support.live_server import ServerProcess
from tests.support.polling import eventually

# Control arm: personas are still predicted, but no adaptation changes the page's layout
# while a test measures scroll depth against it (a hurried shopper's sticky cart would).
SERVER_ENV = {"VITRINE_EXPERIMENTS__FORCE_ARM": "control"}
DEADLINE_S = 5.0  # from the shopper's last action to everything readable by an admin
POLL_S = 0.15
ADD_TO_CART = '[data-product-id][data-category] [data-action="add-to-cart"]'
TRACKER_RUNNING = "() => Boolean(window.vitrineDebug?.tracker.stats.running)"
FIRST_ACK = "() => (window.vitrineDebug?.transport.stats.acked ?? 0) >= 1"
PENDING = "() => JSON.parse(sessionStorage.getItem('vitrine:pending') || '[]')"
# The test's outage, as the page sees it: Chromium's offline emulation is reset when a
# navigation commits (seen on 156: the old page's unload and the new page read
# navigator.onLine true), so the page reads the outage from a flag the test sets, which
# survives the reload. While it is set, navigator.onLine is false and sendBeacon accepts the
# data and loses it, as on a real offline network.
OFFLINE_BEACON = """(() => {
  const outage = () => sessionStorage.getItem("e2e:offline") === "1";
  const onLine = Object.getOwnPropertyDescriptor(Navigator.prototype, "onLine");
  Object.defineProperty(Navigator.prototype, "onLine", {
    configurable: true,
    get() { return outage() ? false : onLine.get.call(this); },
  });
  const original = navigator.sendBeacon.bind(navigator);
  navigator.sendBeacon = (url, data) => {
    const sent = !outage();
    const log = JSON.parse(sessionStorage.getItem("e2e:beacons") || "[]");
    log.push({ url: String(url), sent });
    sessionStorage.setItem("e2e:beacons", JSON.stringify(log));
    return sent ? original(url, data) : true;
  };
})()"""
# Deepest (scrollY + innerHeight) / document height, rounded like the tracker does.
DEPTH = """() => {
  const height = Math.max(document.documentElement.scrollHeight, document.body.scrollHeight);
  return Math.round(Math.min(1, (window.scrollY + window.innerHeight) / height) * 1000) / 1000;
}"""


@pytest.fixture
async def admin(shop: ServerProcess) -> Any:
    async with AdminClient(shop.url, ADMIN_USER, ADMIN_PASSWORD) as client:
        yield client


async def identity(page: Any) -> tuple[str, str]:
    """The visitor and session ids the page was rendered with (what the tracker sends)."""
    vid = await page.get_attribute('meta[name="vitrine-vid"]', "content")
    sid = await page.get_attribute('meta[name="vitrine-sid"]', "content")
    assert vid and sid, "the page names no visitor or session"
    return vid, sid


async def tracker_stats(page: Any) -> dict[str, Any]:
    stats: dict[str, Any] = await page.evaluate(
        "() => ({...window.vitrineDebug.tracker.stats, pvid: window.vitrineDebug.tracker.pvid,"
        " transport: {...window.vitrineDebug.transport.stats},"
        " connected: window.vitrineDebug.transport.connected,"
        " online: navigator.onLine})"
    )
    return stats


async def poll_until(
    check: Callable[[], Awaitable[tuple[bool, Any]]], deadline: float
) -> tuple[bool, Any, float]:
    """Call `check` until it says done or `deadline` (monotonic) passes; keep polling to
    the end so a failure shows what was last seen. Returns (done, last info, done time)."""
    last: dict[str, Any] = {}

    async def settled() -> bool:
        last["done"], last["info"] = await check()
        last["at"] = time.monotonic()
        return bool(last["done"]) or last["at"] > deadline

    # Past the deadline `settled` is true: this timeout only guards against a hanging check.
    await eventually(settled, timeout=max(0.0, deadline - time.monotonic()) + 60, interval=POLL_S)
    return last["done"], last["info"], last["at"]


def chunks_of(chunks: list[dict[str, Any]], pvid: str) -> list[dict[str, Any]]:
    return [chunk for chunk in chunks if chunk["pvid"] == pvid]


def events_of(chunks: list[dict[str, Any]], kind: str | None = None) -> list[dict[str, Any]]:
    return [e for chunk in chunks for e in chunk["events"] if kind is None or e["k"] == kind]


def assert_each_seq_once(chunks: list[dict[str, Any]], pvid: str) -> None:
    seqs = [chunk["seq"] for chunk in chunks_of(chunks, pvid)]
    assert sorted(seqs) == list(range(len(seqs))), f"seqs of {pvid}: {sorted(seqs)}"


async def click_in(page: Any, selector: str, rx: float, ry: float) -> tuple[float, float]:
    """A real mouse click at (rx, ry) inside the element's box; returns the viewport point
    (the page point too while the page is not scrolled)."""
    box = await page.locator(selector).first.bounding_box()
    assert box is not None, f"{selector} is not visible"
    x, y = box["x"] + box["width"] * rx, box["y"] + box["height"] * ry
    await page.mouse.click(x, y)
    return x, y


async def settle_scroll(page: Any) -> None:
    """Wait until scrollY has not changed for 300 ms (mouse.wheel does not wait)."""
    await page.wait_for_function(
        """() => new Promise((resolve) => {
          let last = window.scrollY;
          const tick = () => { if (window.scrollY === last) resolve(true);
                               else { last = window.scrollY; setTimeout(tick, 300); } };
          setTimeout(tick, 300);
        })"""
    )


# ---------------------------------------------------------------- 1. live pipeline


async def test_moves_clicks_and_scrolls_reach_mongodb_within_five_seconds(
    shop: ServerProcess, page: Any, admin: AdminClient, artifacts: Path
) -> None:
    path = "/product/p001"
    await page.goto(shop.url + path)
    await page.wait_for_function(TRACKER_RUNNING)
    vid, sid = await identity(page)
    me = await page.evaluate("() => fetch('/api/me').then((r) => r.json())")
    assert (me["vid"], me["session_id"]) == (vid, sid)

    # Pointer: a few strokes across the page, each in small steps (real pointermove events).
    for x, y in [(120, 160), (420, 260), (760, 380), (980, 430), (640, 520)]:
        await page.mouse.move(x, y, steps=8)
    # Click 1: the add-to-cart button, off-centre, then wait for the cart to take it.
    await click_in(page, ADD_TO_CART, 0.25, 0.5)
    await page.wait_for_function(
        "() => document.querySelector('[data-cart-count]')?.textContent.trim() === '1'"
    )
    # Click 2: elsewhere, on the product title (no navigation).
    await click_in(page, "#product-title", 0.1, 0.5)
    # Scroll down with the wheel, then back up a little: max depth is the deepest point.
    viewport_depth = await page.evaluate(DEPTH)
    await page.mouse.wheel(0, 120)
    await page.mouse.wheel(0, 120)
    await settle_scroll(page)
    deepest = await page.evaluate(DEPTH)
    assert viewport_depth < deepest < 1, "the scroll must reach a depth strictly inside the page"
    await page.evaluate("() => window.scrollTo(0, 60)")
    last_action = time.monotonic()

    pvid = await page.evaluate("() => window.vitrineDebug.tracker.pvid")
    bucket = int(deepest * 20 + 1e-9)
    expected = {"clicks": 2, "page_views": 1}

    async def stored() -> tuple[bool, Any]:
        stats = await tracker_stats(page)
        chunks = chunks_of(await admin.events(sid), pvid)
        summary = await admin.session(sid)
        clicks = await admin.movement(path, "click")
        scroll = await admin.movement(path, "scroll")
        info = {
            "stats": stats,
            "chunks": chunks,
            "summary": summary,
            "clicks": clicks,
            "scroll": scroll,
        }
        done = (
            summary is not None
            and {k: summary[k] for k in expected} == expected
            and summary["max_depth"] == pytest.approx(deepest, abs=0.0015)
            and summary["events"] == stats["events"]
            and sum(len(chunk["events"]) for chunk in chunks) == stats["events"]
            and clicks["total"] == 2
            and scroll["views"] == 1
            and scroll["depths"][bucket]["reached"] == 1
        )
        return done, info

    done, info, done_at = await poll_until(stored, last_action + DEADLINE_S + 5)
    elapsed = done_at - last_action
    assert done, f"not all stored {elapsed:.1f}s after the last action: {json.dumps(info)[:3000]}"
    assert elapsed <= DEADLINE_S, f"stored only {elapsed:.2f}s after the last action"
    print(f"\n[tracking] stored and readable {elapsed:.2f}s after the last action")

    # Chunks: one per batch, every seq once, the page's events in order.
    chunks, summary = info["chunks"], info["summary"]
    assert_each_seq_once(chunks, pvid)
    assert len(chunks) == info["stats"]["batches"]
    page_events = events_of(chunks, "page")
    assert len(page_events) == 1 and page_events[0]["pid"] == "p001"
    assert page_events[0]["path"] == path and page_events[0]["dev"] == "desktop"
    assert len(events_of(chunks, "move")) >= 5
    clicks = events_of(chunks, "click")
    assert [c.get("act") for c in clicks] == ["add-to-cart", None]
    assert clicks[0]["pid"] == "p001" and clicks[0]["rx"] == pytest.approx(0.25, abs=0.02)
    assert clicks[1]["a"] == "#product-title"
    assert [e["op"] for e in events_of(chunks, "cart")] == ["add"]
    assert max(e["d"] for e in events_of(chunks, "scroll")) == pytest.approx(deepest, abs=0.0015)

    # Session summary: the visitor, one page view, two clicks, the cart action, max depth.
    assert summary["vid"] == vid and summary["cart_actions"] == 1
    assert [p["pvid"] for p in summary["pages"]] == [pvid]
    assert summary["pages"][0]["clicks"] == 2 and summary["pages"][0]["path"] == path

    # Click heatmap: both clicks binned on the page and on their anchors, one cell each.
    heat = info["clicks"]
    assert sum(cell[2] for cell in heat["page"]) == 2
    anchors = {anchor["selector"]: anchor["cells"] for anchor in heat["anchors"]}
    for click in clicks:
        cell = [min(19, int(click["rx"] * 20)), min(19, int(click["ry"] * 20)), 1]
        assert cell in anchors.get(click["a"], []), (click, anchors)
    # Moves are binned page-relative: one count per stored move sample.
    moves = await admin.movement(path, "move", viewport_class="desktop")
    assert moves["total"] == len(events_of(chunks, "move"))

    # Scroll depth: the one view reached every 5 % step down to the deepest point, no further.
    reached = [step["reached"] for step in info["scroll"]["depths"]]
    assert reached == [1] * (bucket + 1) + [0] * (20 - bucket)

    await page.evaluate("() => window.scrollTo(0, 0)")
    await page.screenshot(path=str(artifacts / "tracking-product.png"), full_page=True)
    assert page.console_errors == []


async def test_add_to_cart_click_is_binned_on_the_button_anchor(
    shop: ServerProcess, page: Any, admin: AdminClient
) -> None:
    """The click heatmap's anchor for an add-to-cart click must name the button itself."""
    path = "/product/p004"
    await page.goto(shop.url + path)
    await page.wait_for_function(TRACKER_RUNNING)
    _, sid = await identity(page)
    await click_in(page, ADD_TO_CART, 0.8, 0.5)
    last_action = time.monotonic()

    async def binned() -> tuple[bool, Any]:
        heat = await admin.movement(path, "click")
        return heat["total"] >= 1 and bool(heat["anchors"]), heat

    done, heat, _ = await poll_until(binned, last_action + DEADLINE_S)
    assert done, f"the add-to-cart click was not binned: {heat}"
    [click] = events_of(await admin.events(sid), "click")
    assert click["act"] == "add-to-cart"
    selectors = [anchor["selector"] for anchor in heat["anchors"]]
    assert selectors == [click["a"]]
    # Drawing the heatmap resolves the selector in the page: it must land on the button.
    resolves_to_button = await page.evaluate(
        "([selector, button]) => document.querySelector(selector) === document.querySelector(button)",
        [click["a"], ADD_TO_CART],
    )
    assert resolves_to_button, f"anchor {click['a']!r} does not name the add-to-cart button"
    assert 'data-action="add-to-cart"' in click["a"]


# ---------------------------------------------------------------- 2. beacon on tab close


async def test_closing_the_tab_delivers_the_tail_through_the_beacon(
    shop: ServerProcess, page: Any, admin: AdminClient
) -> None:
    # Every frame the page sends on the socket passes through here on its way to the server,
    # so "not in these frames" means "not delivered by the socket".
    socket_frames: list[str] = []

    def relay(ws: Any) -> None:
        server = ws.connect_to_server()

        def forward(message: str | bytes) -> None:
            socket_frames.append(message if isinstance(message, str) else message.decode())
            server.send(message)

        ws.on_message(forward)

    await page.context.route_web_socket("**/socket.io/**", relay)
    await page.goto(shop.url + "/product/p002")
    await page.wait_for_function(FIRST_ACK)  # the socket is up and seq 0 is acknowledged
    _, sid = await identity(page)
    pvid = await page.evaluate("() => window.vitrineDebug.tracker.pvid")
    before = await tracker_stats(page)
    health_before = (await admin.health())["ingest"]

    # The tail: a move and a distinctive click, then the tab closes before the 1 s flush.
    # The flush timer starts with the tail's first event, so closing within 1 s of the
    # tail's start beats it.
    tail_started = time.monotonic()
    await page.mouse.move(300, 300, steps=4)
    x, y = await click_in(page, "#product-title", 0.37, 0.5)
    tail = await tracker_stats(page)
    await page.close(run_before_unload=True)
    closed_in = time.monotonic() - tail_started
    assert tail["batches"] == before["batches"], "the click was flushed before the tab closed"
    assert tail["events"] > before["events"] and closed_in < 1.0, closed_in
    closed_at = time.monotonic()

    async def delivered() -> tuple[bool, Any]:
        ingest = (await admin.health())["ingest"]
        chunks = chunks_of(await admin.events(sid), pvid)
        clicks = [c for c in events_of(chunks, "click") if c["a"] == "#product-title"]
        accepted = ingest["accepted_batches"] - health_before["accepted_batches"]
        # Every batch the server accepted since the close is stored (none in flight).
        done = bool(clicks) and accepted == len(chunks) - before["batches"]
        return done, {"chunks": chunks, "clicks": clicks, "ingest": ingest}

    done, info, done_at = await poll_until(delivered, closed_at + DEADLINE_S)
    assert done, f"the last click never arrived: {info}"
    [click] = info["clicks"]
    assert click["x"] == pytest.approx(x, abs=1) and click["y"] == pytest.approx(y, abs=1)
    assert click["rx"] == pytest.approx(0.37, abs=0.01)
    # Delivered, and not by the socket: only seq 0 ever travelled on it, so the tail came
    # through POST /record-session-data (the beacon).
    batch_frames = [json.loads(f[f.index("[") :])[1] for f in socket_frames if '"batch"' in f]
    assert [(b["pvid"], b["seq"]) for b in batch_frames] == [(pvid, 0)]
    assert_each_seq_once(info["chunks"], pvid)
    tail_seqs = [c["seq"] for c in info["chunks"] if c["seq"] >= before["batches"]]
    assert tail_seqs and click in events_of([c for c in info["chunks"] if c["seq"] in tail_seqs])
    assert info["ingest"]["duplicate_batches"] == health_before["duplicate_batches"]
    print(f"\n[tracking] beacon tail stored {done_at - closed_at:.2f}s after the tab closed")


# ---------------------------------------------------------------- 3. offline reload


@pytest.fixture
async def cached_page(browser: Any) -> Any:
    """A fresh visitor in a Chromium that lets a page served by a route open sockets to
    127.0.0.1: a document fulfilled by Playwright has no address space, so Local Network
    Access would block its socket (a page from the real HTTP cache keeps its address)."""
    instance = await browser.browser_type.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[*CHROMIUM_FLAGS, "--disable-features=LocalNetworkAccessChecks"],
    )
    context = await instance.new_context(viewport={"width": 1280, "height": 900})
    tab = await context.new_page()
    tab.console_errors = []
    tab.on("pageerror", lambda error: tab.console_errors.append(str(error)))
    yield tab
    await instance.close()


async def test_a_reload_while_offline_resends_the_kept_batches_once(
    shop: ServerProcess, cached_page: Any, admin: AdminClient
) -> None:
    """Offline (Chromium's emulation: it drops the open WebSocket and navigator.onLine is
    false), the shopper acts and reloads; the reload is served from a local copy of the
    page's files, as a browser cache would. Back online, the kept batches of the first
    page view arrive from the second one, each exactly once."""
    page = cached_page
    context = page.context
    cache: dict[str, tuple[int, dict[str, str], bytes]] = {}
    offline = False

    async def offline_cache(route: Any) -> None:
        request = route.request
        if not offline:
            if request.method == "GET" and request.resource_type != "xhr":
                response = await route.fetch()
                body = await response.body()
                headers = {
                    k: v
                    for k, v in response.headers.items()
                    if k.lower() not in ("content-encoding", "content-length", "set-cookie")
                }
                cache[request.url] = (response.status, headers, body)
                await route.fulfill(response=response, body=body)
            else:
                await route.fallback()
        elif request.method == "GET" and request.url in cache:
            status, headers, body = cache[request.url]
            await route.fulfill(status=status, headers=headers, body=body)
        else:
            await route.abort("internetdisconnected")

    await context.route("**/*", offline_cache)
    # Nor does it stop a new WebSocket (playwright#4910): the reloaded page could connect
    # while "offline". Sockets are refused while offline and those open are closed when it
    # goes offline, as a real network outage would. (A fresh-clone run failed on this
    # test: the reloaded page read navigator.onLine true.)
    sockets: list[Any] = []

    def offline_sockets(ws: Any) -> None:
        if offline:
            ws.close()
            return
        sockets.append(ws)
        ws.connect_to_server()

    await context.route_web_socket("**/socket.io/**", offline_sockets)
    # Chromium's offline emulation does not reach keepalive requests sent while a page
    # unloads (checked: the beacons got through to the server). On a real offline network
    # sendBeacon accepts the data and it is lost; make it so, and count the attempts.
    await context.add_init_script(OFFLINE_BEACON)
    path = "/product/p003"
    await page.goto(shop.url + path)
    await page.wait_for_function(FIRST_ACK)
    _, sid = await identity(page)
    first_pvid = await page.evaluate("() => window.vitrineDebug.tracker.pvid")

    # Offline: the open socket drops.
    offline = True
    await page.evaluate("() => sessionStorage.setItem('e2e:offline', '1')")
    await context.set_offline(True)
    for ws in sockets:
        await ws.close()
    await page.wait_for_function(
        "() => !navigator.onLine && !window.vitrineDebug.transport.connected",
        timeout=5000,
    )
    for x, y in [(200, 250), (520, 300), (880, 360)]:
        await page.mouse.move(x, y, steps=5)
    await click_in(page, "#product-title", 0.21, 0.5)
    await page.mouse.wheel(0, 150)
    await settle_scroll(page)
    await page.evaluate("() => window.vitrineDebug.tracker.flush()")
    kept_before = await page.evaluate(PENDING)
    first = await tracker_stats(page)
    assert kept_before, "nothing was kept in sessionStorage while offline"
    assert first["transport"]["acked"] == 1 and first["batches"] > 1

    # Reload while still offline: the unload tail cannot leave, so everything stays kept.
    await page.reload()
    await page.wait_for_function(TRACKER_RUNNING)
    second_pvid = await page.evaluate("() => window.vitrineDebug.tracker.pvid")
    assert second_pvid != first_pvid
    await click_in(page, "#product-title", 0.63, 0.5)
    await page.wait_for_function(
        f"() => {PENDING}().some((item) => item.batch.pvid === {json.dumps(second_pvid)})"
    )
    kept = await page.evaluate(PENDING)
    second = await tracker_stats(page)
    assert not second["online"] and not second["connected"], (second["online"], second["connected"])
    kept_first = sorted(
        (i["batch"] for i in kept if i["batch"]["pvid"] == first_pvid), key=lambda b: b["seq"]
    )
    assert second["transport"]["restored"] == len(kept_first)
    # Every batch after the acknowledged seq 0 is kept: none was taken for delivered by a
    # beacon sent offline.
    assert [b["seq"] for b in kept_first] == list(range(1, len(kept_first) + 1))
    assert {b["batch"]["seq"] for b in kept_before} <= {b["seq"] for b in kept_first}
    assert len(kept_first) >= first["batches"] - 1
    assert any(e.get("a") == "#product-title" for b in kept_first for e in b["events"])
    # ...and the unload tail too (the page was hidden on its way out).
    unload_tail = [b for b in kept_first if b["seq"] >= first["batches"]]
    assert any(e["k"] == "vis" and e["s"] == "hidden" for e in events_of(unload_tail)), kept_first
    stored_offline = chunks_of(await admin.events(sid), first_pvid)
    beacons = json.loads(await page.evaluate("() => sessionStorage.getItem('e2e:beacons')"))
    assert beacons and not any(b["sent"] for b in beacons), beacons  # tried, lost offline
    assert [c["seq"] for c in stored_offline] == [0], "something left while offline"

    # Back online: the socket reconnects (Socket.IO backoff ≤ 5 s) and sends all kept batches.
    offline = False
    await page.evaluate("() => sessionStorage.removeItem('e2e:offline')")
    await context.set_offline(False)
    online_at = time.monotonic()
    await page.wait_for_function(
        "() => window.vitrineDebug.transport.stats.pending === 0", timeout=12000
    )
    resent_in = time.monotonic() - online_at

    async def all_stored() -> tuple[bool, Any]:
        stats = await tracker_stats(page)
        chunks = await admin.events(sid)
        summary = await admin.session(sid)
        want_first = {c["seq"] for c in stored_offline} | {b["seq"] for b in kept_first}
        have_first = {c["seq"] for c in chunks_of(chunks, first_pvid)}
        second_events = len(events_of(chunks_of(chunks, second_pvid)))
        done = (
            have_first == want_first
            and second_events == stats["events"]
            and summary is not None
            and summary["events"] == len(events_of(chunks))
        )
        return done, {"stats": stats, "chunks": chunks, "summary": summary}

    done, info, done_at = await poll_until(all_stored, time.monotonic() + DEADLINE_S)
    stored_in = done_at - online_at
    assert done, f"kept batches missing: {json.dumps(info)[:3000]}"
    chunks, summary = info["chunks"], info["summary"]
    # Nothing lost, nothing doubled.
    assert_each_seq_once(chunks, first_pvid)
    assert_each_seq_once(chunks, second_pvid)
    by_seq = {c["seq"]: c for c in chunks_of(chunks, first_pvid)}
    for batch in kept_first:
        assert by_seq[batch["seq"]]["events"] == batch["events"], batch["seq"]
    # The first page recorded `first["events"]` before the reload, then its unload tail.
    before_reload = [c for c in by_seq.values() if c["seq"] < first["batches"]]
    assert sum(len(c["events"]) for c in before_reload) == first["events"]
    assert summary["page_views"] == 2 and summary["clicks"] == 2
    assert summary["events"] == len(events_of(chunks))
    heat = await admin.movement(path, "click")
    assert heat["total"] == 2
    print(
        f"\n[tracking] kept batches acknowledged {resent_in:.2f}s and readable"
        f" {stored_in:.2f}s after going online"
    )
