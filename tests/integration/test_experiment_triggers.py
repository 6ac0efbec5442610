"""The moment a visitor qualifies for an adaptation, logged in both arms, on real Valkey and the
embedded engine: the first one as the visitor's trigger, each as an exposure (counterfactual
when nothing was shown), at page render and on a live persona change; and A/A mode."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from server.adapters.shop_store import EXPERIMENT_TRIGGERS, EXPOSURES
from server.services.adaptation import AdaptationPusher
from server.services.live import PersonaChange
from tests.integration.test_personalization import become
from tests.support.polling import eventually
from tests.support.shopper import Shopper, new_shopper

BARGAIN_ON_CATALOG = ["coupon", "deal-highlight", "sort-discount"]


class RecordingNotifier:
    """Stands in for the Socket.IO manager the persona worker pushes through."""

    def __init__(self) -> None:
        self.emitted: list[tuple[str, dict[str, Any], str]] = []

    async def emit(self, event: str, data: dict[str, Any], *, room: str, namespace: str) -> None:
        self.emitted.append((event, data, room))


@pytest.fixture
async def started(make_settings: Any, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """An app with the experiment settings the test names (`@pytest.mark.parametrize` style)."""
    from server.app import create_app

    app = create_app(make_settings(experiments=request.param))
    async with app.quart.test_app():
        yield app


def experiment(**values: str) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("started", [values], indirect=True)


async def session_of(shopper: Shopper) -> str:
    return str((await shopper.json("GET", "/api/me"))[1]["session_id"])


async def page_state(shopper: Shopper, path: str) -> dict[str, Any]:
    response = await shopper.get(path)
    assert response.status_code == 200
    html = await response.get_data(as_text=True)
    match = re.search(r'id="vitrine-state">(.*?)</script>', html, re.S)
    assert match, "no page state"
    return orjson.loads(match.group(1))  # type: ignore[no-any-return]


async def trigger_of(app: Any, vid: str) -> dict[str, Any]:
    """The visitor's trigger, once the document writer has stored it."""
    triggers = app.services.store[EXPERIMENT_TRIGGERS]
    return await eventually(lambda: triggers.find_one({"_id": vid}))  # type: ignore[no-any-return]


async def exposures_of(app: Any, vid: str, count: int) -> list[dict[str, Any]]:
    exposures = app.services.store[EXPOSURES]

    async def landed() -> list[dict[str, Any]]:
        docs = await exposures.find({"vid": vid}).to_list()
        return docs if len(docs) >= count else []

    docs = await eventually(landed)
    return sorted(docs, key=lambda doc: (doc["at"], doc["adaptation"]))


async def push(app: Any, shopper: Shopper, persona: str, path: str) -> RecordingNotifier:
    """What the persona worker does when the visitor's shown persona changes on `path`."""
    notifier = RecordingNotifier()
    payload = {"persona": persona, "confidence": 0.9, "reasons": ["test"]}
    change = PersonaChange(shopper.vid, await session_of(shopper), payload, path)
    await AdaptationPusher(app.services, notifier)(change)
    return notifier


@experiment(force_arm="control")
async def test_a_control_visitor_is_logged_as_it_would_have_been_shown_never_adapted(
    started: Any,
) -> None:
    app = started
    shopper = await new_shopper(app)
    sid = await session_of(shopper)
    await become(app, shopper, "bargain_hunter")
    state = await page_state(shopper, "/catalog")
    assert state["arm"] == "control" and state["adaptations"] == []

    trigger = await trigger_of(app, shopper.vid)
    assert isinstance(trigger.pop("at"), datetime)
    assert trigger == {
        "_id": shopper.vid, "vid": shopper.vid, "sid": sid, "persona": "bargain_hunter",
        "arm": "control", "adaptations": BARGAIN_ON_CATALOG, "path": "/catalog", "mode": "ab",
    }  # fmt: skip
    exposures = await exposures_of(app, shopper.vid, 3)
    assert [e["adaptation"] for e in exposures] == BARGAIN_ON_CATALOG
    assert all(e["counterfactual"] is True and e["arm"] == "control" for e in exposures)
    assert all(e["persona"] == "bargain_hunter" and e["sid"] == sid for e in exposures)

    # The live push on a persona change: logged, not pushed. No coupon was ever issued.
    notifier = await push(app, shopper, "bargain_hunter", "/product/p001")
    assert notifier.emitted == []
    assert await app.services.coupons.personal_for(shopper.vid) is None
    assert await app.services.store["coupons"].count_documents({"issued_to": shopper.vid}) == 0


@experiment(force_arm="control")
async def test_a_control_visitor_first_qualifying_on_a_live_push_is_triggered_there(
    started: Any,
) -> None:
    app = started
    shopper = await new_shopper(app)
    notifier = await push(app, shopper, "hurried", "/cart")
    assert notifier.emitted == []
    trigger = await trigger_of(app, shopper.vid)
    assert (trigger["persona"], trigger["arm"], trigger["path"]) == ("hurried", "control", "/cart")
    assert trigger["adaptations"] == ["express-checkout", "sticky-cart"]
    exposures = await exposures_of(app, shopper.vid, 2)
    assert [(e["adaptation"], e["counterfactual"]) for e in exposures] == [
        ("express-checkout", True), ("sticky-cart", True),
    ]  # fmt: skip


@experiment(force_arm="treatment")
async def test_a_treatment_visitor_is_adapted_triggered_and_really_exposed(started: Any) -> None:
    app = started
    shopper = await new_shopper(app)
    await become(app, shopper, "bargain_hunter")
    state = await page_state(shopper, "/catalog")
    assert [a["name"] for a in state["adaptations"]] == BARGAIN_ON_CATALOG
    assert await app.services.coupons.personal_for(shopper.vid) is not None

    trigger = await trigger_of(app, shopper.vid)
    assert (trigger["persona"], trigger["arm"], trigger["mode"]) == (
        "bargain_hunter", "treatment", "ab",
    )  # fmt: skip
    assert trigger["adaptations"] == BARGAIN_ON_CATALOG and trigger["path"] == "/catalog"
    exposures = await exposures_of(app, shopper.vid, 3)
    assert [e["adaptation"] for e in exposures] == BARGAIN_ON_CATALOG
    assert all("counterfactual" not in e and e["arm"] == "treatment" for e in exposures)

    notifier = await push(app, shopper, "bargain_hunter", "/catalog")
    assert [event for event, _, _ in notifier.emitted] == ["adapt"]


@experiment(force_arm="treatment")
async def test_a_later_qualification_under_another_persona_keeps_the_first_trigger(
    started: Any,
) -> None:
    app = started
    services = app.services
    shopper = await new_shopper(app)
    await become(app, shopper, "explorer")
    await page_state(shopper, "/")
    first = await trigger_of(app, shopper.vid)
    assert (first["persona"], first["path"]) == ("explorer", "/")
    assert first["adaptations"] == ["tutorial", "discover-more"]

    # Recognised as a bargain hunter later: on a page, then by a live change.
    await become(app, shopper, "bargain_hunter")
    await page_state(shopper, "/catalog")
    await push(app, shopper, "hurried", "/cart")
    exposures = await exposures_of(app, shopper.vid, 2 + 3 + 2)
    assert {e["persona"] for e in exposures} == {"explorer", "bargain_hunter", "hurried"}
    assert await services.store[EXPERIMENT_TRIGGERS].find_one({"_id": shopper.vid}) == first
    assert await services.store[EXPERIMENT_TRIGGERS].count_documents({"vid": shopper.vid}) == 1
    # The mark that decides "first" lives as long as the experiment's aggregates.
    ttl = await services.redis.ttl(services.key("triggered", shopper.vid))
    assert ttl > (services.settings.retention.aggregates_days - 1) * 86_400


@experiment(force_arm="treatment", mode="aa")
async def test_a_a_mode_adapts_nobody_and_logs_everything_as_counterfactual(
    started: Any,
) -> None:
    app = started
    shopper = await new_shopper(app)
    await become(app, shopper, "bargain_hunter")
    state = await page_state(shopper, "/catalog")
    assert state["arm"] == "treatment" and state["adaptations"] == []
    assert (await shopper.json("GET", "/recommendations"))[1]["adaptations"] == []
    status, reply = await shopper.json("POST", "/api/personalization", {"opt_out": False})
    assert status == 200 and reply["adaptations"] == []
    notifier = await push(app, shopper, "bargain_hunter", "/catalog")
    assert notifier.emitted == []
    assert await app.services.coupons.personal_for(shopper.vid) is None
    # Nor does the catalog default to the bargain hunter's sort (the sort-discount adaptation).
    catalog = await (await shopper.get("/catalog")).get_data(as_text=True)
    assert '<option value="popular" selected>' in catalog
    assert '<option value="discount" selected>' not in catalog

    trigger = await trigger_of(app, shopper.vid)
    assert (trigger["persona"], trigger["arm"], trigger["mode"]) == (
        "bargain_hunter", "treatment", "aa",
    )  # fmt: skip
    assert trigger["adaptations"] == BARGAIN_ON_CATALOG
    exposures = await exposures_of(app, shopper.vid, 3)
    assert [e["adaptation"] for e in exposures] == BARGAIN_ON_CATALOG
    assert all(e["counterfactual"] is True and e["arm"] == "treatment" for e in exposures)


@experiment(force_arm="control")
async def test_no_trigger_without_an_adaptation_for_the_page_or_after_an_opt_out(
    started: Any,
) -> None:
    app = started
    services = app.services
    explorer = await new_shopper(app)
    await become(app, explorer, "explorer")
    await page_state(explorer, "/tutorials")  # explorers are adapted on home, catalog, product
    await push(app, explorer, "explorer", "/cart")
    unknown = await new_shopper(app)
    await page_state(unknown, "/catalog")
    opted = await new_shopper(app)
    await become(app, opted, "bargain_hunter")
    assert (await opted.json("POST", "/api/personalization", {"opt_out": True}))[0] == 200
    await page_state(opted, "/catalog")
    await push(app, opted, "bargain_hunter", "/catalog")

    # A visitor who qualifies after them: once its trigger is stored, theirs would be too.
    later = await new_shopper(app)
    await become(app, later, "bargain_hunter")
    await page_state(later, "/catalog")
    await trigger_of(app, later.vid)
    await exposures_of(app, later.vid, 3)
    for shopper in (explorer, unknown, opted):
        assert await services.store[EXPERIMENT_TRIGGERS].find_one({"_id": shopper.vid}) is None
        assert await services.store[EXPOSURES].count_documents({"vid": shopper.vid}) == 0
        assert not await services.redis.exists(services.key("triggered", shopper.vid))


@experiment(force_arm="control")
async def test_replay_markers_show_only_what_was_shown(started: Any) -> None:
    from server.web.admin_api import _markers

    app = started
    shopper = await new_shopper(app)
    sid = await session_of(shopper)
    await become(app, shopper, "bargain_hunter")
    await page_state(shopper, "/catalog")
    await exposures_of(app, shopper.vid, 3)  # counterfactual: this visitor is in control
    shown_at = datetime.now(UTC)
    await app.services.store[EXPOSURES].insert_many(
        [{"_id": "shown", "vid": shopper.vid, "sid": sid, "at": shown_at, "adaptation": "tutorial",
          "persona": "explorer", "arm": "treatment", "path": "/"}]
    )  # fmt: skip
    exposures = (await app.services.admin.dashboard.exposures_of([sid]))[sid]
    assert len(exposures) == 4
    markers = _markers([], exposures, 0)
    assert [(m["kind"], m["label"]) for m in markers] == [("exposure", "tutorial")]
