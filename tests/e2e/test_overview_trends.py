"""The overview's live trends (Observable Plot) in Chromium, under the page's CSP.

One server in this process, its sampler taking a point every second. The day before the
test is written into the trend store as the sampler would have (so the day's charts have a
history); then a shopper browses in Chromium and the admin opens /admin: every chart of both
windows must draw marks with data, the charts must grow from the overview's pushes without
another read of the trends API, and nothing may break the CSP. The screenshot goes to
var/artifacts/screenshots/overview-trends.png.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from server.adapters.embedded_valkey import EmbeddedValkey
from server.app import VitrineApp
from server.domain.trends import TrendPoint
from tests.e2e.test_admin_console import ADMIN, admin_page, shopper_page
from tests.e2e.test_experiment_charts import CSP_WATCH
from tests.support.live_server import running_app
from tests.support.polling import eventually
from tests.support.settings import CONSENT_GRANTED, build_settings, unique_name

pytestmark = pytest.mark.e2e

METRICS = ("eps", "shoppers", "mix", "conversion", "lag")
WINDOWS = ("1h", "1d")
HISTORY_UNTIL_S = 180  # the written history stops 3 minutes before the test: the rest is live


@pytest.fixture(scope="module")
async def trends_app(
    valkey: EmbeddedValkey, models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[VitrineApp, str]]:
    name = unique_name("e2etrends")
    settings = build_settings(
        name, tmp_path_factory.mktemp(name), models_dir, valkey.url, privacy=CONSENT_GRANTED,
        workers={"mode": "inline"}, flusher={"checkpoint_every_s": 0.5},
        trends={"sample_every_s": 1.0},
    )  # fmt: skip
    async with running_app(settings) as (app, url):
        await app.services.admins.create(*ADMIN, "admin")
        yield app, url


async def write_history(app: VitrineApp, until: float) -> int:
    """A day of points, one a minute, with a daily swell: what a running sampler leaves."""
    store = app.services.admin.trends
    count = 0
    at = math.floor((until - 86_400) / 60) * 60 + 60
    while at < until:
        swell = 0.5 + 0.5 * math.sin(at / 86_400 * 2 * math.pi)
        shoppers = int(2 + 10 * swell)
        personas = {"explorer": shoppers // 3, "hurried": shoppers // 4,
                    "bargain_hunter": shoppers // 5}  # fmt: skip
        personas["unknown"] = shoppers - sum(personas.values())
        await store.add(
            TrendPoint(at=at, interval_s=60.0, events=int(600 + 3000 * swell), shoppers=shoppers,
                       personas=personas, sessions=shoppers + 1, converted=int(shoppers * 0.2),
                       lag=int(40 * swell * swell), pending=3)
        )  # fmt: skip
        count += 1
        at += 60
    return count


async def charts(page: Any) -> dict[str, Any]:
    """What each figure drew, read from Plot's SVG and the data attributes the page sets."""
    state: dict[str, Any] = await page.evaluate(
        """() => {
            const root = document.querySelector('[data-trends]');
            const figures = [...root.querySelectorAll('[data-trend]')].map((f) => ({
                metric: f.dataset.trend, window: f.dataset.window, rendered: f.dataset.rendered,
                points: Number(f.dataset.points || 0), buckets: Number(f.dataset.buckets || 0),
                draws: Number(f.dataset.draws || 0), latest: f.dataset.latest || '',
                shown: f.querySelector('[data-trend-latest]').textContent,
                svgs: f.querySelectorAll('[data-trend-body] svg').length,
                lines: f.querySelectorAll('g[aria-label="line"] path').length,
                path: f.querySelector('g[aria-label="line"] path')?.getAttribute('d') || '',
                areas: f.querySelectorAll('g[aria-label="area"] path').length,
                rects: f.querySelectorAll('g[aria-label="rect"] rect').length,
                height: f.querySelector('[data-trend-body]').getBoundingClientRect().height,
            }));
            return {
                figures, updates: Number(root.dataset.updates || 0),
                fetches: Number(root.dataset.fetches || 0), error: root.dataset.error || null,
                status: root.querySelector('[data-trends-status]').textContent,
                legends: [...root.querySelectorAll('[data-trend-legend]')].map((ul) => [...ul.children].map((li) => li.dataset.persona)),
                csp: window.__cspViolations || [],
            };
        }"""
    )
    return state


def figure(state: dict[str, Any], metric: str, window: str) -> dict[str, Any]:
    return next(f for f in state["figures"] if f["metric"] == metric and f["window"] == window)


async def browse(shopper: Any, url: str, paths: list[str]) -> None:
    for path in paths:
        await shopper.goto(url + path)
        for step in range(10):
            await shopper.mouse.move(150 + step * 70, 250 + step * 20)
            await asyncio.sleep(0.05)
        await shopper.mouse.wheel(0, 500)
        await shopper.evaluate("() => window.vitrineDebug.tracker.flush()")


async def test_overview_trends_draw_every_chart_and_grow_live(
    trends_app: tuple[VitrineApp, str], browser: Any, artifacts: Path
) -> None:
    app, url = trends_app
    written = await write_history(app, time.time() - HISTORY_UNTIL_S)
    assert written > 1400

    shopper = await shopper_page(browser)
    await browse(shopper, url, ["/", "/catalog", "/product/p005"])
    sampler = app.services.admin.trend_sampler
    assert sampler is not None
    await eventually(
        lambda: _sampled_shoppers(app), timeout=30, what="a point with the shopper active"
    )

    admin = await admin_page(browser, url)
    await admin.add_init_script(CSP_WATCH)
    reads: list[str] = []
    admin.on("request", lambda r: reads.append(r.url) if "/admin/api/trends" in r.url else None)
    await admin.goto(url + "/admin")  # a reload: the trends are read from the store again
    await admin.wait_for_function(
        """() => [...document.querySelectorAll('[data-trend]')].every((f) => f.dataset.rendered === 'true')""",
        timeout=20_000,
    )
    state = await charts(admin)
    assert state["error"] is None, state["error"]
    assert len(state["figures"]) == len(METRICS) * len(WINDOWS)
    assert state["legends"] == [["explorer", "hurried", "bargain_hunter", "unknown"]] * 2
    for f in state["figures"]:
        assert f["svgs"] == 1 and f["points"] > 0, f
        if f["metric"] == "mix":
            assert f["rects"] == 4 * f["points"], f  # four personas stacked per bucket
        else:
            assert f["lines"] >= 1, f
            if f["metric"] in ("eps", "lag"):
                assert f["areas"] >= 1, f
    # The day holds the written history: about 24 h of 5-minute buckets.
    assert figure(state, "eps", "1d")["buckets"] >= 280
    assert 50 <= figure(state, "eps", "1h")["buckets"] <= 60
    assert sorted(reads) == sorted(f"{url}/admin/api/trends?window={w}" for w in WINDOWS)

    # Live: more browsing; the pushes redraw the charts with the new points, without a read.
    before = state
    await browse(shopper, url, ["/catalog?category=audio", "/product/p020", "/cart"])

    seen: list[dict[str, Any]] = [before]

    async def grown() -> dict[str, Any] | None:
        now = await charts(admin)
        seen[0] = now
        hour = figure(now, "shoppers", "1h")
        eps = figure(now, "eps", "1h")
        live = now["updates"] >= before["updates"] + 3 and hour["draws"] > 3
        redrawn = eps["path"] != figure(before, "eps", "1h")["path"]
        return now if live and redrawn and float(hour["latest"] or 0) > 0 else None

    started = time.time()
    try:
        state = await eventually(grown, timeout=40, what="the charts grown by the pushes")
    except AssertionError:
        last = seen[0]
        summary = {k: last[k] for k in ("updates", "fetches", "status", "error")}
        hours = [
            (f["metric"], f["draws"], f["latest"]) for f in last["figures"] if f["window"] == "1h"
        ]
        raise AssertionError(
            f"not grown: {summary} {hours} (before: {before['updates']})"
        ) from None
    assert state["fetches"] == 1 and len(reads) == len(WINDOWS), reads
    # The browsing was counted: the points sampled meanwhile hold its events.
    live_points = await app.services.admin.trends.since(started - 30)
    assert sum(p.events or 0 for p in live_points) > 0, live_points[-3:]
    for f in state["figures"]:
        assert f["svgs"] == 1, f  # swapped, never stacked up
        assert f["height"] == figure(before, f["metric"], f["window"])["height"], f
    hour = figure(state, "eps", "1h")
    assert hour["buckets"] <= 60, "the page holds one window of buckets, no more"
    mix = figure(state, "mix", "1h")
    labels = ("Explorer", "Hurried", "Bargain hunter", "Unknown")
    assert mix["shown"].endswith("%") and mix["shown"].startswith(labels), mix["shown"]
    assert state["status"].startswith("Newest point"), state["status"]

    await admin.locator("[data-trends]").scroll_into_view_if_needed()
    shots = artifacts / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    await admin.screenshot(path=str(shots / "overview-trends.png"), full_page=True)

    assert state["csp"] == [], state["csp"]
    assert admin.errors == [] and shopper.errors == [], (admin.errors, shopper.errors)
    for page in (admin, shopper):
        await page.context.close()


async def _sampled_shoppers(app: VitrineApp) -> bool:
    points = await app.services.admin.trends.since(time.time() - 60)
    return any(p.shoppers >= 1 for p in points)
