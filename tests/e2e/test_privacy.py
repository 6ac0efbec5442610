"""Privacy in Chromium with the shipped default (`consent_default = "ask"`): the banner, the
choices and the footer link, Do-Not-Track, masking of everything typed, and erasure."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson

from tests.e2e.conftest import ADMIN_PASSWORD, ADMIN_USER
from tests.support.admin_client import AdminClient
from tests.support.live_server import ServerProcess
from tests.support.polling import eventually
from tests.support.probes import stream_drained

SERVER_ENV = {"VITRINE_PRIVACY__CONSENT_DEFAULT": "ask"}
# What the shopper types: none of it may reach the server in events or replays.
TYPED = {"search": "zebracorn", "name": "Quintessa Marrowby", "email": "quintessa@example.org",
         "address": "77 Velvet Lantern Lane", "city": "Brightwater", "zip": "QX 42",
         "country": "Wakandaland"}  # fmt: skip
# Reads through the admin API log in each time: at most 20 logins a minute per address.
ADMIN_POLL_S = 0.3


async def tracker(page: Any) -> dict[str, Any]:
    stats: dict[str, Any] = await page.evaluate(
        "() => ({...window.vitrineDebug.tracker.stats, socket: window.vitrineDebug.transport.opened,"
        " consent: document.querySelector('meta[name=vitrine-consent]').content,"
        " sid: document.querySelector('meta[name=vitrine-sid]').content,"
        " vid: document.querySelector('meta[name=vitrine-vid]').content})"
    )
    return stats


async def move_around(page: Any) -> None:
    for step in range(12):
        await page.mouse.move(100 + step * 40, 200 + step * 15)
        await page.wait_for_timeout(60)
    await page.evaluate("() => window.vitrineDebug.tracker.flush()")


async def export(url: str, sid: str) -> bytes:
    async with AdminClient(url, ADMIN_USER, ADMIN_PASSWORD) as admin:
        status, body = await admin._get(f"/admin/api/sessions/{sid}/export")
    return body if status == 200 else b""


async def stored_events(url: str, sid: str) -> list[dict[str, Any]]:
    async with AdminClient(url, ADMIN_USER, ADMIN_PASSWORD) as admin:
        return await admin.events(sid)


async def after_a_later_visit(browser: Any, url: str) -> None:
    """Another visitor accepts and browses; return once their events are stored and the stream
    is drained. Whatever the page under test sent before is stored by then too."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        later = await context.new_page()
        await later.goto(url + "/catalog")
        await later.click('[data-action="consent-accept"]')
        await eventually(lambda: _running(later))
        await move_around(later)
        sid = (await tracker(later))["sid"]
        async with AdminClient(url, ADMIN_USER, ADMIN_PASSWORD) as admin:  # one login
            await eventually(lambda: admin.events(sid), interval=ADMIN_POLL_S)
        await eventually(lambda: stream_drained(url))
    finally:
        await context.close()


async def test_nothing_runs_before_an_answer_and_a_decline_is_kept(
    shop: ServerProcess, browser: Any, page: Any, artifacts: Path
) -> None:
    await page.goto(shop.url + "/")
    banner = page.locator("[data-consent-banner]")
    await banner.wait_for()
    await page.screenshot(path=str(artifacts / "privacy-banner.png"))
    state = await tracker(page)
    assert state["consent"] == "ask" and state["running"] is False
    assert state["reason"] == "consent_ask" and state["socket"] is False
    await move_around(page)
    assert [c["name"] for c in await page.context.cookies()] == ["vid"]

    await page.click('[data-action="consent-decline"]')
    await banner.wait_for(state="detached")
    assert {c["name"] for c in await page.context.cookies()} == {"vid", "vitrine_consent"}
    await page.goto(shop.url + "/catalog")
    state = await tracker(page)
    assert state["consent"] == "denied" and state["running"] is False
    assert await page.locator("[data-consent-banner]").count() == 0
    await move_around(page)
    await after_a_later_visit(browser, shop.url)
    assert await stored_events(shop.url, state["sid"]) == []
    assert page.console_errors == []


async def test_accepting_starts_tracking_and_the_footer_link_changes_the_choice(
    shop: ServerProcess, browser: Any, page: Any, artifacts: Path
) -> None:
    await page.goto(shop.url + "/catalog")
    await page.click('[data-action="consent-accept"]')
    await page.locator("[data-consent-banner]").wait_for(state="detached")
    await eventually(lambda: _running(page))
    state = await tracker(page)
    assert state["consent"] == "granted"
    await move_around(page)
    sid = state["sid"]
    await eventually(lambda: stored_events(shop.url, sid), interval=ADMIN_POLL_S)

    await page.click('[data-action="privacy-settings"]')
    await page.wait_for_url(re.compile(r"/privacy$"))
    assert await page.is_checked('[data-privacy-form] [data-consent-choice="analytics"]')
    status = await page.text_content("[data-consent-status]")
    assert "Analytics on, personalization on (chosen" in status
    await page.uncheck('[data-privacy-form] [data-consent-choice="analytics"]')
    await page.click('[data-privacy-form] [data-action="consent-save"]')
    await eventually(lambda: _stopped(page))
    assert (await tracker(page))["consent"] == "denied"
    await page.screenshot(path=str(artifacts / "privacy-settings.png"), full_page=True)
    # Everything sent before the decline was acknowledged: once the stream is drained it is
    # all stored, and that is the count nothing may add to.
    await eventually(lambda: stream_drained(shop.url))
    before = len(await stored_events(shop.url, sid))
    await page.goto(shop.url + "/catalog")
    await move_around(page)
    await after_a_later_visit(browser, shop.url)
    assert len(await stored_events(shop.url, sid)) == before
    assert page.console_errors == []


async def _running(page: Any) -> bool:
    return bool((await tracker(page))["running"])


async def _stopped(page: Any) -> bool:
    state = await tracker(page)
    return not state["running"] and state["consent"] == "denied"


async def test_do_not_track_counts_as_a_decline(shop: ServerProcess, browser: Any) -> None:
    context = await browser.new_context(extra_http_headers={"DNT": "1"})
    await context.add_init_script(
        "Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'})"
    )
    page = await context.new_page()
    await page.goto(shop.url + "/")
    state = await tracker(page)
    assert state["consent"] == "denied" and state["reason"] == "dnt" and not state["socket"]
    assert await page.locator("[data-consent-banner]").count() == 0
    await page.goto(shop.url + "/privacy")
    assert await page.locator('[data-privacy-signal="dnt"]').count() == 1
    await context.close()


async def test_what_is_typed_never_leaves_the_browser(shop: ServerProcess, page: Any) -> None:
    await page.goto(shop.url + "/")
    await page.click('[data-action="consent-accept"]')
    await eventually(lambda: _running(page))
    await page.fill("#site-search", TYPED["search"])
    await page.press("#site-search", "Enter")
    await page.wait_for_url(re.compile(r"/catalog\?q=" + TYPED["search"]))
    await move_around(page)
    await eventually(lambda: _recorded(page), timeout=30)  # this page's replay is stored
    await page.goto(shop.url + "/product/p001")
    await page.click('[data-product-id][data-category] [data-action="add-to-cart"]')
    await page.locator("[data-cart-count]", has_text="1").wait_for()
    await page.goto(shop.url + "/checkout")
    for field in ("name", "email", "address", "city", "zip", "country"):
        await page.fill(f'[name="{field}"]', TYPED[field])
    await page.wait_for_timeout(2500)  # the recorder's chunk of the filled-in form
    await page.click('[data-action="place-order"]')
    await page.wait_for_url(re.compile(r"/order/o[0-9a-f]+"))
    await move_around(page)
    await eventually(lambda: _recorded(page), timeout=30)
    sid = (await tracker(page))["sid"]

    async def everything_stored() -> bytes:
        body = await export(shop.url, sid)
        return body if b'"channel":"rrweb"' in body and b"/order/" in body else b""

    stored = await eventually(everything_stored, timeout=30, interval=ADMIN_POLL_S)
    lines = [orjson.loads(line) for line in stored.splitlines()]
    kinds = {event["k"] for line in lines if line["channel"] == "tracker"
             for event in line["events"]}  # fmt: skip
    assert {"page", "move", "search", "cart"} <= kinds
    replays = [line for line in lines if line["channel"] == "rrweb"]
    hrefs = [e["data"]["href"] for line in replays for e in line["events"] if e["type"] == 4]
    assert any("/catalog" in href for href in hrefs), hrefs  # the results page was recorded
    for value in TYPED.values():
        assert value.encode() not in stored, f"{value!r} reached the server"
    assert b"q=" + TYPED["search"].encode() not in stored
    assert page.console_errors == []


async def _recorded(page: Any) -> bool:
    return bool(
        await page.evaluate(
            "() => !!window.vitrineDebug?.recorder.stats && window.vitrineDebug.recorder.stats.acked >= 1"
            " && window.vitrineDebug.recorder.stats.chunks === window.vitrineDebug.recorder.stats.acked"
        )
    )


async def test_erasing_my_data_from_the_privacy_page(shop: ServerProcess, page: Any) -> None:
    await page.goto(shop.url + "/catalog")
    await page.click('[data-action="consent-accept"]')
    await eventually(lambda: _running(page))
    await move_around(page)
    before = await tracker(page)
    await eventually(lambda: stored_events(shop.url, before["sid"]), interval=ADMIN_POLL_S)

    await page.goto(shop.url + "/privacy")
    await page.click('[data-action="erase-my-data"]')
    await page.click('[data-action="erase-confirm"]')
    await page.wait_for_url(re.compile(r"/privacy\?erased=1"))
    assert await page.locator("[data-erased-notice]").count() == 1
    after = await tracker(page)
    assert after["vid"] != before["vid"] and after["consent"] == "ask"
    assert await page.locator("[data-consent-banner]").count() == 1
    assert await stored_events(shop.url, before["sid"]) == []
    async with AdminClient(shop.url, ADMIN_USER, ADMIN_PASSWORD) as admin:
        assert await admin.session(before["sid"]) is None
    assert page.console_errors == []
