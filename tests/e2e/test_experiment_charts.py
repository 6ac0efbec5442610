"""The /admin/experiments charts (Observable Plot) in Chromium, on experiment data in the store.

One server in this process (so the test can write visitors, triggers and orders into the store
the server reads), the summary recomputed through the admin API, then the page: every chart
must have drawn the marks the report asks for, under the page's CSP, and redraw on its 30 s
refresh. The screenshot goes to var/artifacts/experiments-charts.png.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from server.adapters.embedded_valkey import EmbeddedValkey
from server.adapters.event_store import EXPERIMENT_VISITORS
from server.adapters.shop_store import EXPERIMENT_TRIGGERS, ORDERS
from server.app import VitrineApp
from tests.e2e.test_admin_console import ADMIN, admin_page
from tests.support.live_server import running_app
from tests.support.settings import build_settings, unique_name

pytestmark = pytest.mark.e2e

METRICS = ("conversion_rate", "revenue_per_visitor_cents", "aov_cents")
MISMATCH_RED = "#b3261e"
HOLLOW = "#ffffff"
ADAPTATIONS = {"explorer": "tutorial", "hurried": "express-checkout", "bargain_hunter": "coupon"}
# persona (None: never qualified) -> ((visitors, converters) in treatment, same in control).
# With 10 % expected in control: explorer is a clean split, hurried has far too few controls
# (a sample-ratio mismatch), bargain hunter is too small to say anything.
PLAN: dict[str | None, tuple[tuple[int, int], tuple[int, int]]] = {
    "explorer": ((400, 100), (50, 5)),
    "hurried": ((300, 60), (5, 1)),
    "bargain_hunter": ((20, 3), (2, 0)),
    None: ((200, 10), (30, 1)),
}
# Every securitypolicyviolation is kept where the test can read it.
CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""


@pytest.fixture(scope="module")
async def charts_app(
    valkey: EmbeddedValkey, models_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[VitrineApp, str]]:
    name = unique_name("e2echarts")
    # The summary job is all this test needs of the workers: as tasks, no child process.
    settings = build_settings(
        name, tmp_path_factory.mktemp(name), models_dir, valkey.url, workers={"mode": "inline"}
    )
    async with running_app(settings) as (app, url):
        await app.services.admins.create(*ADMIN, "admin")
        yield app, url


def experiment_documents(
    plan: dict[str | None, tuple[tuple[int, int], tuple[int, int]]], start: datetime, seed: int
) -> dict[str, list[dict[str, Any]]]:
    """Visitors spread from `start` to now, their triggers and their orders, as the server stores them."""
    rng = random.Random(seed)
    span = (datetime.now(UTC) - timedelta(minutes=10) - start).total_seconds()
    docs: dict[str, list[dict[str, Any]]] = {
        EXPERIMENT_VISITORS: [],
        EXPERIMENT_TRIGGERS: [],
        ORDERS: [],
    }
    for persona, arms in plan.items():
        for arm, (visitors, converters) in zip(("treatment", "control"), arms, strict=True):
            for i in range(visitors):
                vid, sid = "v" + uuid.uuid4().hex, "s" + uuid.uuid4().hex
                seen = start + timedelta(seconds=span * rng.random())
                docs[EXPERIMENT_VISITORS].append(
                    {"_id": vid, "arm": arm, "persona": persona or "unknown", "first_seen": seen,
                     "last_seen": seen + timedelta(minutes=6)}
                )  # fmt: skip
                if persona is not None:
                    docs[EXPERIMENT_TRIGGERS].append(
                        {"_id": vid, "vid": vid, "sid": sid, "at": seen + timedelta(seconds=20),
                         "persona": persona, "arm": arm, "adaptations": [ADAPTATIONS[persona]]}
                    )  # fmt: skip
                if i < converters:
                    total = rng.randrange(2000, 9000) + (1500 if arm == "treatment" else 0)
                    docs[ORDERS].append(
                        {"_id": "o" + uuid.uuid4().hex[:16], "vid": vid, "idempotency_key": uuid.uuid4().hex,
                         "created_at": seen + timedelta(minutes=5),
                         "lines": [{"product_id": "p005", "name": "e2e", "quantity": 1, "unit_price_cents": total,
                                    "list_price_cents": total, "line_total_cents": total}],
                         "subtotal_cents": total, "product_discount_cents": 0, "coupon": None,
                         "coupon_discount_cents": 0, "total_cents": total, "shipping": {},
                         "payment_method": "card", "arm": arm, "persona": persona or "unknown",
                         "session_id": sid}
                    )  # fmt: skip
    return docs


async def store_documents(app: VitrineApp, docs: dict[str, list[dict[str, Any]]]) -> None:
    for collection, items in docs.items():
        if items:
            await app.services.store[collection].insert_many(items)


async def recompute(page: Any) -> dict[str, Any]:
    """POST /admin/api/experiments/refresh as the logged-in admin; return the new report."""
    report: dict[str, Any] = await page.evaluate(
        """async () => {
            const token = document.querySelector('meta[name="csrf-token"]').content;
            const response = await fetch('/admin/api/experiments/refresh', {
                method: 'POST', credentials: 'same-origin',
                headers: {'X-CSRF-Token': token, 'Content-Type': 'application/json', Accept: 'application/json'},
                body: '{}',
            });
            if (!response.ok) throw new Error(`refresh answered ${response.status}`);
            return response.json();
        }"""
    )
    return report


def drawn_points(report: dict[str, Any], metric: str) -> int:
    return sum(
        1
        for series in report["series"]
        for point in series["points"]
        if (point.get(metric) or {}).get("value") is not None
    )


async def charts_state(page: Any) -> dict[str, Any]:
    """What each chart drew: mark counts and colours read from Plot's SVG."""
    state: dict[str, Any] = await page.evaluate(
        """() => {
            const chart = (name) => document.querySelector(`[data-chart="${name}"]`);
            const marks = (node, mark, shape) => [...node.querySelectorAll(`g[aria-label="${mark}"] ${shape}`)];
            const cumulative = chart('cumulative'), forest = chart('forest'), srm = chart('srm');
            return {
                cumulative: {...cumulative.dataset, panels: [...cumulative.querySelectorAll('[data-persona]')].map((p) => ({
                    persona: p.dataset.persona, points: Number(p.dataset.points),
                    lines: marks(p, 'line', 'path').length, areas: marks(p, 'area', 'path').length,
                    zero: marks(p, 'rule', 'line').length, label: p.querySelector('svg')?.getAttribute('aria-label') || null,
                }))},
                forest: {...forest.dataset, note: forest.querySelector('[data-chart-note]').textContent, panels: [...forest.querySelectorAll('[data-metric]')].map((p) => ({
                    metric: p.dataset.metric, dots: marks(p, 'dot', 'circle').map((c) => c.getAttribute('fill')),
                    intervals: marks(p, 'rule', 'line').length,
                }))},
                srm: {...srm.dataset, bars: marks(srm, 'bar', 'rect').map((r) => r.getAttribute('fill')),
                      ticks: marks(srm, 'tick', 'line').length, texts: marks(srm, 'text', 'text').map((t) => t.textContent)},
                captions: [...document.querySelectorAll('[data-chart] figcaption')].map((c) => c.textContent.replace(/\\s+/g, ' ')),
                updates: Number(document.querySelector('[data-experiment-charts]').dataset.updates || 0),
                csp: window.__cspViolations || [],
            };
        }"""
    )
    return state


def expected_srm_fills(report: dict[str, Any]) -> list[str]:
    splits = [report["srm"], *(row["srm"] for row in report["personas"] if row["persona"] != "all")]
    return [
        MISMATCH_RED if split["mismatch"] else "other"
        for split in splits
        if split and isinstance(split.get("observed_control_share"), (int, float))
    ]


def assert_charts_match(state: dict[str, Any], report: dict[str, Any]) -> None:
    kind = "always-valid" if report["analysis"] == "sequential" else "fixed-horizon"
    captions = state["captions"]
    assert all(f"{kind} 95 % interval" in caption for caption in captions[:2]), captions

    # Cumulative: one panel per series entry; a line, a band and the zero rule where it has points.
    cumulative = state["cumulative"]
    assert cumulative["rendered"] == "true" and cumulative["metric"] == "conversion_rate"
    assert [p["persona"] for p in cumulative["panels"]] == [s["persona"] for s in report["series"]]
    assert int(cumulative["points"]) == drawn_points(report, "conversion_rate") > 0
    for panel in cumulative["panels"]:
        drawn = 1 if panel["points"] else 0
        assert (panel["lines"], panel["areas"], panel["zero"]) == (drawn, drawn, drawn), panel
    assert int(cumulative["series"]) == sum(1 for p in cumulative["panels"] if p["points"]) >= 2

    # Forest: per metric, one dot and one interval per (triggered persona or all) with a value;
    # filled exactly where the row has a verdict and is significant after correction.
    forest = state["forest"]
    rows = [r for r in report["personas"] if r["group"] == "triggered" or r["persona"] == "all"]
    assert [p["metric"] for p in forest["panels"]] == list(METRICS)
    omitted = 0
    for panel in forest["panels"]:
        estimates = [(r, r["uplift"][panel["metric"]]) for r in rows]
        with_value = [(r, e) for r, e in estimates if e["value"] is not None]
        omitted += len(estimates) - len(with_value)
        assert len(panel["dots"]) == len(with_value), panel
        with_interval = [e for _, e in with_value if e["low"] is not None and e["high"] is not None]
        assert panel["intervals"] == len(with_interval) + 1, panel  # + the rule at zero
        filled = [fill != HOLLOW for fill in panel["dots"]]
        significant = [r["state"] == "verdict" and e["significant_adjusted"] for r, e in with_value]
        assert filled == significant, panel
    assert int(forest["points"]) == sum(len(p["dots"]) for p in forest["panels"])
    assert int(forest["omitted"]) == omitted
    assert ("Not drawn" in forest["note"]) == (omitted > 0)

    # SRM: one bar per split (every visitor, then each persona row), red exactly for a mismatch.
    srm = state["srm"]
    expected = expected_srm_fills(report)
    assert [MISMATCH_RED if fill == MISMATCH_RED else "other" for fill in srm["bars"]] == expected
    assert MISMATCH_RED in expected, "the plan has a sample-ratio mismatch (hurried)"
    assert int(srm["mismatches"]) == expected.count(MISMATCH_RED)
    assert srm["ticks"] == len(expected) and all(text.startswith("p ") for text in srm["texts"])


async def test_experiment_charts_draw_the_report(
    charts_app: tuple[VitrineApp, str], browser: Any, artifacts: Path
) -> None:
    app, url = charts_app
    start = datetime.now(UTC) - timedelta(hours=3)
    await store_documents(app, experiment_documents(PLAN, start, seed=12))
    admin = await admin_page(browser, url)
    await admin.add_init_script(CSP_WATCH)
    # Fake timers, so the page's 30 s refresh can be run without waiting for it.
    await admin.clock.install()
    report = await recompute(admin)
    assert report["series"] and report["personas"]
    hurried = next(row for row in report["personas"] if row["persona"] == "hurried")
    assert hurried["srm"]["mismatch"], hurried["srm"]

    await admin.goto(url + "/admin/experiments")
    await admin.wait_for_selector('[data-chart="srm"][data-rendered="true"]', timeout=20_000)
    state = await charts_state(admin)
    assert_charts_match(state, report)
    await admin.screenshot(path=str(artifacts / "experiments-charts.png"), full_page=True)

    # The metric selector redraws the cumulative chart in euros.
    await admin.select_option("[data-chart-metric]", "revenue_per_visitor_cents")
    await admin.wait_for_selector(
        '[data-chart="cumulative"][data-metric="revenue_per_visitor_cents"]'
    )
    state = await charts_state(admin)
    assert int(state["cumulative"]["points"]) == drawn_points(report, "revenue_per_visitor_cents")
    await admin.select_option("[data-chart-metric]", "conversion_rate")

    # Live: more explorers arrive, the summary is recomputed, the next 30 s tick redraws.
    more = {"explorer": ((200, 60), (25, 3))}
    await store_documents(app, experiment_documents(more, start, seed=13))
    report = await recompute(admin)
    before = state["updates"]
    await admin.clock.run_for(31_000)
    await admin.wait_for_function(
        "(n) => Number(document.querySelector('[data-experiment-charts]').dataset.updates) > n",
        arg=before,
    )
    state = await charts_state(admin)
    assert_charts_match(state, report)

    assert state["csp"] == [], state["csp"]
    assert admin.errors == [], admin.errors
    await admin.context.close()
