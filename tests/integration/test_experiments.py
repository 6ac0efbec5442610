"""The experiment read side on the real app: visitors, triggers and orders in, rows out.

Rows are per persona at the first qualifying moment (`experiment_triggers`), whatever the
visitor's latest persona, then never-qualified visitors, then everyone (intention to treat).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from server.adapters.event_store import EXPERIMENT_VISITORS
from server.adapters.shop_store import EXPERIMENT_TRIGGERS, EXPOSURES, ORDERS
from server.domain.experiment_report import AnalysisPlan, interval_and_p
from server.domain.uplift import ArmTotals, arm_report, differences
from tests.support.shopper import Shopper

ADMIN = ("exp-admin", "long-enough-password")


@pytest.fixture
async def app(make_settings: Any) -> AsyncIterator[Any]:
    """The app with half the visitors in control, so these small samples split as configured."""
    from server.app import create_app

    vitrine = create_app(make_settings(experiments={"holdout_fraction": 0.5}))
    async with vitrine.quart.test_app():
        yield vitrine


def visitor(vid: str, arm: str, persona: str | None) -> dict[str, Any]:
    now = datetime.now(UTC)
    doc: dict[str, Any] = {"_id": vid, "arm": arm, "first_seen": now, "last_seen": now,
                           "updated_at": now}  # fmt: skip
    if persona is not None:
        doc["persona"] = persona
    return doc


def trigger(vid: str, arm: str, persona: str) -> dict[str, Any]:
    return {"_id": vid, "vid": vid, "sid": "s-" + vid, "at": datetime.now(UTC),
            "persona": persona, "arm": arm, "adaptations": ["tutorial"], "path": "/catalog",
            "mode": "ab"}  # fmt: skip


def order(vid: str, arm: str, total_cents: int, persona: str = "explorer") -> dict[str, Any]:
    key = f"{vid}-{total_cents}-{arm}"
    return {"_id": "o-" + key, "vid": vid, "idempotency_key": key, "arm": arm,
            "persona": persona, "total_cents": total_cents, "created_at": datetime.now(UTC)}  # fmt: skip


# Explorers (at qualification): 40 in treatment, 8 bought 50.00 and one of those also 30.00
# (9 orders); 30 in control, 5 bought 40.00. Five treatment explorers were later predicted
# bargain hunters: they stay explorers here. Hurried: 3 + 2 visitors, one order. One visitor
# never qualified. Two orders match no visitor: one from a visitor never tracked, one whose
# arm differs from its visitor's record. One trigger has no visitor record (yet).
VISITORS = (
    [
        visitor(f"et{i:02d}", "treatment", "bargain_hunter" if i >= 35 else "explorer")
        for i in range(40)
    ]
    + [visitor(f"ec{i:02d}", "control", "explorer") for i in range(30)]
    + [visitor(f"ht{i}", "treatment", "hurried") for i in range(3)]
    + [visitor(f"hc{i}", "control", "hurried") for i in range(2)]
    + [visitor("u0", "treatment", None)]
)
ORDER_DOCS = (
    [order(f"et{i:02d}", "treatment", 5000) for i in range(8)]
    + [order("et00", "treatment", 3000)]
    + [order(f"ec{i:02d}", "control", 4000) for i in range(5)]
    + [order("ht0", "treatment", 2500, "hurried")]
    + [order("ghost", "treatment", 9900), order("et10", "control", 1234)]
)
TRIGGER_DOCS = (
    [trigger(f"et{i:02d}", "treatment", "explorer") for i in range(40)]
    + [trigger(f"ec{i:02d}", "control", "explorer") for i in range(30)]
    + [trigger(f"ht{i}", "treatment", "hurried") for i in range(3)]
    + [trigger(f"hc{i}", "control", "hurried") for i in range(2)]
    + [trigger("nobody", "control", "explorer")]
)
EXPOSURE_DOCS = [
    {"vid": "et01", "sid": "s1", "at": datetime.now(UTC), "adaptation": "tutorial",
     "persona": "explorer", "arm": "treatment"},
    {"vid": "et02", "sid": "s2", "at": datetime.now(UTC), "adaptation": "tutorial",
     "persona": "explorer", "arm": "treatment"},
    {"vid": "ht0", "sid": "s3", "at": datetime.now(UTC), "adaptation": "express-checkout",
     "persona": "hurried", "arm": "treatment"},
    {"vid": "ec01", "sid": "s4", "at": datetime.now(UTC), "adaptation": "tutorial",
     "persona": "explorer", "arm": "control", "counterfactual": True},
]  # fmt: skip


async def admin_client(app: Any) -> Shopper:
    await app.services.admins.create(*ADMIN)
    shopper = Shopper(app.quart.test_client())
    await shopper.start()  # GET /api/me: the vid cookie and the CSRF token
    form = {"username": ADMIN[0], "password": ADMIN[1], "csrf_token": shopper.csrf}
    response = await shopper.http.post("/admin/login", form=form)
    assert response.status_code == 302, await response.get_data(as_text=True)
    return shopper


def rows_by_persona(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["persona"]: row for row in report["personas"]}


async def test_experiment_api_reports_each_persona_and_arm(app: Any) -> None:
    store = app.services.store
    await store[EXPERIMENT_VISITORS].insert_many(VISITORS)
    await store[EXPERIMENT_TRIGGERS].insert_many(TRIGGER_DOCS)
    await store[ORDERS].insert_many(ORDER_DOCS)
    await store[EXPOSURES].insert_many(EXPOSURE_DOCS)
    await app.services.admin.experiments.refresh()
    admin = await admin_client(app)

    status, report = await admin.json("GET", "/admin/api/experiments")
    assert status == 200
    rows = rows_by_persona(report)
    assert list(rows) == ["explorer", "hurried", "bargain_hunter", "not_qualified", "all"]
    assert [row["group"] for row in rows.values()] == [
        "triggered",
        "triggered",
        "triggered",
        "not_qualified",
        "itt",
    ]
    assert report["analysis"] == "sequential" and report["correction"] == "holm"

    explorer = rows["explorer"]
    treatment, control = explorer["arms"]["treatment"], explorer["arms"]["control"]
    assert (treatment["visitors"], treatment["converters"], treatment["orders"]) == (40, 8, 9)
    assert (control["visitors"], control["converters"], control["orders"]) == (30, 5, 5)
    assert treatment["revenue_cents"] == 43_000 and control["revenue_cents"] == 20_000
    assert treatment["exposures"] == 2 and control["exposures"] == 1  # would have shown
    assert treatment["conversion_rate"]["value"] == pytest.approx(8 / 40)
    assert treatment["aov_cents"]["value"] == pytest.approx(43_000 / 9)
    assert treatment["revenue_per_visitor_cents"]["value"] == pytest.approx(43_000 / 40)
    assert control["revenue_per_visitor_cents"]["value"] == pytest.approx(20_000 / 30)
    assert explorer["uplift"]["conversion_rate"]["value"] == pytest.approx(8 / 40 - 5 / 30)
    # Readable, but the always-valid intervals still include zero.
    assert explorer["too_small"] is False and explorer["state"] == "not_yet"
    assert explorer["srm"]["expected_control_share"] == 0.5 and not explorer["srm"]["mismatch"]
    assert "Not yet" in explorer["note"]
    # The intervals are those of the sums the job stored: one visitor spent 80.00, seven 50.00.
    arms = (
        ArmTotals(40, 8, 9, 43_000, 8 * 5000**2 + 3000**2, 8000**2 + 7 * 5000**2),
        ArmTotals(30, 5, 5, 20_000, 5 * 4000**2, 5 * 4000**2),
    )
    for metric, diff in differences(*arms).items():
        interval, _ = interval_and_p(diff, 70, AnalysisPlan())
        shown = explorer["uplift"][metric]
        assert (shown["value"], shown["low"], shown["high"]) == pytest.approx(
            (interval.value, interval.low, interval.high)
        )
        for arm, totals in zip(("treatment", "control"), arms, strict=True):
            assert explorer["arms"][arm][metric] == pytest.approx(arm_report(totals)[metric])

    hurried = rows["hurried"]
    assert hurried["too_small"] is True
    assert "too small" in hurried["note"] and "30 visitors" in hurried["note"]
    assert hurried["arms"]["treatment"]["converters"] == 1
    assert hurried["arms"]["treatment"]["exposures"] == 1
    assert rows["not_qualified"]["arms"]["treatment"]["visitors"] == 1
    assert rows["bargain_hunter"]["arms"]["treatment"]["visitors"] == 0  # latest is not used

    pooled = rows["all"]["arms"]
    assert (pooled["treatment"]["visitors"], pooled["control"]["visitors"]) == (44, 32)
    assert pooled["treatment"]["orders"] == 10
    assert report["srm"] == rows["all"]["srm"] and report["srm"]["control"] == 32
    assert report["unattributed_orders"] == 2
    assert report["triggers_without_visitor"] == 1
    assert report["exposures"] == [
        {"adaptation": "express-checkout", "treatment": 1, "control": 0,
         "treatment_counterfactual": 0, "control_counterfactual": 0},
        {"adaptation": "tutorial", "treatment": 2, "control": 0,
         "treatment_counterfactual": 0, "control_counterfactual": 1},
    ]  # fmt: skip
    assert report["rules"] == {"min_visitors": 30, "min_conversions": 5,
                               "min_buyers_for_means": 30, "srm_p": 0.001}  # fmt: skip
    # The series: cumulative points per triggered persona and for everyone, ending now.
    series = {item["persona"]: item["points"] for item in report["series"]}
    assert set(series) == {"explorer", "hurried", "all"}
    assert series["explorer"][-1]["visitors"] == 70


async def test_the_api_reads_the_summary_until_it_is_recomputed(app: Any) -> None:
    store = app.services.store
    await store[EXPERIMENT_VISITORS].insert_many([visitor("a1", "treatment", "hurried")])
    await store[EXPERIMENT_TRIGGERS].insert_many([trigger("a1", "treatment", "hurried")])
    await app.services.admin.experiments.refresh()
    admin = await admin_client(app)
    await store[EXPERIMENT_VISITORS].insert_many([visitor("a2", "treatment", "hurried")])
    await store[EXPERIMENT_TRIGGERS].insert_many([trigger("a2", "treatment", "hurried")])

    _, report = await admin.json("GET", "/admin/api/experiments")
    assert rows_by_persona(report)["hurried"]["arms"]["treatment"]["visitors"] == 1
    status, report = await admin.json("POST", "/admin/api/experiments/refresh", {})
    assert status == 200
    assert rows_by_persona(report)["hurried"]["arms"]["treatment"]["visitors"] == 2

    page = await admin.get("/admin/experiments")
    html = await page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'data-persona="hurried"' in html and 'data-warning="too-small"' in html
    assert "<script>" not in html  # CSP: script-src 'self', nothing inline


async def test_experiments_are_refused_without_login(app: Any, client: Shopper) -> None:
    status, body = await client.json("GET", "/admin/api/experiments")
    assert status == 401 and body["error"] == "unauthenticated"
    page = await client.get("/admin/experiments")
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/admin/login")
    status, _ = await client.json("POST", "/admin/api/experiments/refresh", {})
    assert status == 401
