"""Issue 14, the tracker's frustration facts in Chromium through the real server: a click's
`ia` and `nf`, and the `outcome` that says what followed it (docs/tracker.md "Frustration
facts"). Each test clicks a product page, waits out the 2 s window, closes the tab and reads
the page view's events back through the admin API (so the server accepted them). The events
are sent by the tracker's own flush, on the socket, while the page stays open: what a tab
closing sends is the touch tests' subject; leaving a page within the window is tested by
navigating away (the unload flush, by beacon).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.e2e.conftest import ADMIN_PASSWORD, ADMIN_USER
from tests.e2e.test_tracker_touch import open_tracked
from tests.e2e.test_tracking import DEADLINE_S, chunks_of, click_in, events_of, poll_until
from tests.support.admin_client import AdminClient
from tests.support.live_server import ServerProcess

# Control arm: no adaptation changes the page while a click's window is open.
SERVER_ENV = {"VITRINE_EXPERIMENTS__FORCE_ARM": "control"}
WINDOW_S = 2.0  # OUTCOME_WINDOW_MS
CDN = "https://cdn.example.test"
# Every DOM change the page sees (the ground truth for "no dm"), from a listener of our own.
MUTATION_LOG = """(() => {
  window.__mutations = [];
  new MutationObserver((records) => {
    for (const r of records) window.__mutations.push(
      {at: Date.now(), type: r.type, target: r.target.nodeName, attr: r.attributeName});
  }).observe(document.documentElement,
             {subtree: true, childList: true, attributes: true, characterData: true});
})()"""
# A script the page loads (same origin: the shop's CSP allows it) that makes a click on
# `selector` fail the way a broken shop script would: a TypeError in a timer it started.
SAME_ORIGIN_THROWER = """
window.__breakOnClick = (selector) => {
  document.querySelector(selector).addEventListener("click", () => {
    setTimeout(() => { const product = undefined; return product.price; }, 30);
  });
};
"""
# A third-party script (CORS, `crossorigin`): a plain Error thrown in the click handler, then,
# on the next click, a promise rejected with a string.
CDN_THROWER = """
window.__cdnBreakOnClick = (selector) => {
  let clicks = 0;
  document.querySelector(selector).addEventListener("click", () => {
    clicks += 1;
    if (clicks === 1) throw new Error("widget failed for Jane Doe, 12 Main St");
    Promise.reject("no stock for Jane");
  });
};
"""


@pytest.fixture
async def admin(shop: ServerProcess) -> AsyncIterator[AdminClient]:
    async with AdminClient(shop.url, ADMIN_USER, ADMIN_PASSWORD) as client:
        yield client


async def stored_events(
    admin: AdminClient, sid: str, pvid: str, done: Any, what: str
) -> list[dict[str, Any]]:
    """The page view's stored events once `done(events)` holds (within the pipeline's deadline)."""

    async def check() -> tuple[bool, Any]:
        events = events_of(chunks_of(await admin.events(sid), pvid))
        return bool(done(events)), events

    ok, events, _ = await poll_until(check, time.monotonic() + DEADLINE_S + 5)
    assert ok, f"{what} did not arrive: {events}"
    return list(events)


async def flush_and_collect(
    page: Any, admin: AdminClient, sid: str, pvid: str
) -> list[dict[str, Any]]:
    """Send what the tracker holds now, then every event of the page view once all is stored."""
    stats = await page.evaluate(
        "() => { window.vitrineDebug.tracker.flush(); return {...window.vitrineDebug.tracker.stats}; }"
    )
    assert stats["invalid"] == 0 and stats["errors"] == 0, stats
    return await stored_events(
        admin, sid, pvid, lambda events: len(events) >= stats["events"], f"all of {stats}"
    )


def of_kind(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["k"] == kind]


def outcome_of(events: list[dict[str, Any]], click: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in of_kind(events, "outcome") if e["ct"] == click["t"]]


def assert_copied(outcome: dict[str, Any], click: dict[str, Any]) -> None:
    for name in ("a", "x", "y", "rx", "ry", "ia"):
        assert outcome[name] == click[name], (name, outcome, click)
    assert click["t"] < outcome["t"]


async def load_script(page: Any, url: str, crossorigin: bool = False) -> None:
    await page.evaluate(
        """([url, crossorigin]) => new Promise((resolve, reject) => {
          const script = document.createElement("script");
          if (crossorigin) script.crossOrigin = "anonymous";
          script.src = url;
          script.onload = resolve;
          script.onerror = () => reject(new Error("not loaded: " + url));
          document.head.append(script);
        })""",
        [url, crossorigin],
    )


async def test_a_click_on_a_non_interactive_element_that_changes_nothing_has_an_outcome_without_dm(
    shop: ServerProcess, page: Any, admin: AdminClient
) -> None:
    """The plain dead click: a click on text, then nothing for the whole window; then an
    interactive click (the add-to-cart button), which has no outcome."""
    sid, pvid = await open_tracked(page, shop.url + "/product/p011")
    await page.wait_for_timeout(500)  # let the page settle (fonts, the socket, the persona)
    await page.evaluate(MUTATION_LOG)
    start = await page.evaluate("() => Date.now()")
    await click_in(page, ".perks li", 0.5, 0.5)
    await page.wait_for_timeout(WINDOW_S * 1000 + 300)
    mutations = await page.evaluate("() => window.__mutations")
    await click_in(page, '[data-action="add-to-cart"]', 0.5, 0.5)
    await page.wait_for_function(
        "() => document.querySelector('[data-cart-count]')?.textContent.trim() === '1'"
    )
    await page.wait_for_timeout(WINDOW_S * 1000 + 600)
    events = await flush_and_collect(page, admin, sid, pvid)

    text, add = of_kind(events, "click")
    assert (text["ia"], add["ia"]) == (0, 1), (text, add)
    assert "nf" not in text and "nf" not in add
    [outcome] = of_kind(events, "outcome")
    assert outcome["ct"] == text["t"], (outcome, text)
    assert_copied(outcome, text)
    assert outcome["t"] - text["t"] == pytest.approx(2000, abs=200), (outcome, text)
    in_window = [m for m in mutations if m["at"] - start <= WINDOW_S * 1000]
    assert in_window == [], in_window  # the ground truth: the page did not change ...
    assert "dm" not in outcome, outcome  # ... and the tracker says so
    assert "nv" not in outcome and "em" not in outcome and "ek" not in outcome, outcome
    assert page.console_errors == []


async def test_a_click_that_breaks_a_script_has_an_outcome_with_the_error_kind_and_origin(
    shop: ServerProcess, page: Any, admin: AdminClient
) -> None:
    async def serve_thrower(route: Any) -> None:
        await route.fulfill(body=SAME_ORIGIN_THROWER, content_type="application/javascript")

    await page.route(shop.url + "/e2e/thrower.js", serve_thrower)
    sid, pvid = await open_tracked(page, shop.url + "/product/p013")
    await load_script(page, shop.url + "/e2e/thrower.js")
    await page.evaluate("() => window.__breakOnClick('label[for=\"qty\"]')")
    # An interactive element: its outcome is there for the error only.
    await click_in(page, 'label[for="qty"]', 0.5, 0.5)
    await page.wait_for_timeout(WINDOW_S * 1000 + 600)
    errors = list(page.console_errors)
    events = await flush_and_collect(page, admin, sid, pvid)

    # The page's own error handling saw the error as before.
    assert any("(reading 'price')" in e for e in errors), errors
    # The label's click, then the click the browser sends on to its input: both watched,
    # both followed by the error.
    clicks = of_kind(events, "click")
    assert [c["ia"] for c in clicks] == [1, 1], clicks
    assert clicks[1]["a"] == '[data-field="quantity"]', clicks
    outcomes = []
    for click in clicks:
        [outcome] = outcome_of(events, click)
        assert_copied(outcome, click)
        assert (outcome["ek"], outcome["eo"]) == ("TypeError", "self"), outcome
        outcomes.append(outcome)
    # The error came from a 30 ms timer the label's click started; the input's click came
    # a moment after the label's.
    assert 30 <= outcomes[0]["em"] <= 500, outcomes
    assert outcomes[1]["em"] <= outcomes[0]["em"], outcomes
    sent = str(events)
    for secret in ("reading", "undefined", "/e2e/", "thrower"):
        assert secret not in sent, f"{secret!r} left the page"


async def test_a_third_party_script_error_names_its_origin_only(
    shop: ServerProcess, browser: Any, admin: AdminClient
) -> None:
    """A script from another origin (loaded with `crossorigin` and CORS, so the browser shows
    the page its error; the shop's CSP is bypassed to load it): `eo` is that origin, without
    its path, and never the message, which here names a shopper."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = await context.new_page()
    page.console_errors = []
    page.on("pageerror", lambda error: page.console_errors.append(str(error)))

    async def serve_cdn(route: Any) -> None:
        await route.fulfill(
            body=CDN_THROWER,
            content_type="application/javascript",
            headers={"Access-Control-Allow-Origin": "*"},
        )

    try:
        await page.route(CDN + "/widgets/v2/thrower.js", serve_cdn)
        sid, pvid = await open_tracked(page, shop.url + "/product/p014")
        await load_script(page, CDN + "/widgets/v2/thrower.js", crossorigin=True)
        await page.evaluate("() => window.__cdnBreakOnClick('#product-title')")
        await click_in(page, "#product-title", 0.3, 0.5)  # throws an Error
        await page.wait_for_timeout(WINDOW_S * 1000 + 300)
        await click_in(page, "#product-title", 0.6, 0.5)  # rejects a promise with a string
        await page.wait_for_timeout(WINDOW_S * 1000 + 600)
        events = await flush_and_collect(page, admin, sid, pvid)
    finally:
        await context.close()

    first, second = of_kind(events, "click")
    assert first["ia"] == 0 and second["ia"] == 0
    [thrown] = outcome_of(events, first)
    [rejected] = outcome_of(events, second)
    assert_copied(thrown, first)
    assert (thrown["ek"], thrown["eo"]) == ("Error", CDN), thrown
    assert 0 <= thrown["em"] <= 200, thrown
    assert (rejected["ek"], rejected["eo"]) == ("rejection", "unknown"), rejected
    sent = str(events)
    for secret in ("Jane", "Main St", "widgets", "thrower"):
        assert secret not in sent, f"{secret!r} left the page"


async def test_an_opted_out_element_sends_nf_and_no_outcome(
    shop: ServerProcess, page: Any, admin: AdminClient
) -> None:
    sid, pvid = await open_tracked(page, shop.url + "/product/p015")
    await page.evaluate(
        "() => document.querySelector('.product-detail__media')"
        ".setAttribute('data-vitrine-frustration', 'off')"
    )
    await page.wait_for_timeout(100)
    await click_in(page, ".product-detail__media img", 0.5, 0.5)
    await page.wait_for_timeout(WINDOW_S * 1000 + 600)
    events = await flush_and_collect(page, admin, sid, pvid)

    [click] = of_kind(events, "click")
    assert (click["ia"], click["nf"]) == (0, 1), click
    assert of_kind(events, "outcome") == [], of_kind(events, "outcome")
    assert page.console_errors == []


async def test_leaving_within_the_window_ends_the_outcome_with_nv(
    shop: ServerProcess, page: Any, admin: AdminClient
) -> None:
    """Leaving the page 0.5 s after a dead-looking click: the outcome is recorded when the page
    hides, with `nv` (the page was left) and what was seen until then, and leaves with the
    unload flush."""
    sid, pvid = await open_tracked(page, shop.url + "/product/p016")
    await page.evaluate(MUTATION_LOG)
    await click_in(page, "#product-title", 0.5, 0.5)
    await page.wait_for_timeout(500)
    await page.goto(shop.url + "/catalog")
    events = await stored_events(
        admin, sid, pvid, lambda events: of_kind(events, "outcome"), "the outcome"
    )

    [click] = of_kind(events, "click")
    [outcome] = outcome_of(events, click)
    assert_copied(outcome, click)
    assert 400 <= outcome["nv"] <= WINDOW_S * 1000, outcome
    assert abs(outcome["t"] - click["t"] - outcome["nv"]) <= 2, (outcome, click)  # rounding
    assert "em" not in outcome, outcome
