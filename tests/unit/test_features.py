"""Behavioural features from hand-written tracker streams, folded incrementally."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from personas_engine import features as features_module
from personas_engine.features import (
    FEATURE_NAMES,
    NOT_MEASURED,
    NOT_YET_S,
    FeatureState,
    evidence,
    feature_vector,
    features_of,
    fold_batch,
    fold_batches,
    page_kind,
)
from personas_engine.simulate import Mixture, simulate_visits

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "personas"


def load(name: str) -> list[dict[str, Any]]:
    batches: list[dict[str, Any]] = json.loads((FIXTURES / f"{name}.json").read_text())["batches"]
    return batches


# Worked out by hand from the fixtures (see each fixture's description).
EXPECTED: dict[str, dict[str, float]] = {
    "hurried_scripted": {
        "products_viewed": 1,
        "product_views": 1,
        "distinct_categories": 1,
        "add_to_cart_count": 1,
        "time_to_first_add_s": 1.78,
        "cart_to_checkout_s": 1.53,
        "checkout_reached": 1,
        "clicks": 3,
        "hesitation_ratio": 0.0,
        "mean_dwell_per_product_s": 2.6,
        "product_scroll_depth_mean": 0.3,
        "max_scroll_depth_mean": (0.3 + 0.72 + 720 / 1300) / 3,
        "idle_ratio": 2310 / 6400,  # the third page: 100 ms to the click at 2410 ms
        "visit_duration_s": 6.28,
        "pages_per_minute": 18.0,
        "time_to_first_product_s": 0.0,
        "events_seen": 12,
        "pointer_speed_px_s": NOT_MEASURED,
        "path_straightness": NOT_MEASURED,
        "scroll_speed_px_s": NOT_MEASURED,
        "price_sorts": 0,
        "discount_hovers": 0,
    },
    "explorer_scripted": {
        "products_viewed": 3,
        "product_views": 4,
        "distinct_categories": 3,
        "back_and_forth": 1,
        "mean_dwell_per_product_s": 4.25,
        "product_scroll_depth_mean": 1.0,
        "max_scroll_depth_mean": 1.0,
        "scroll_speed_px_s": 2560 / 1.6,
        "idle_ratio": 12500 / 17000,
        "hesitation_ratio": NOT_MEASURED,
        "clicks": 0,
        "time_to_first_add_s": NOT_YET_S,
        "cart_to_checkout_s": NOT_YET_S,
        "checkout_reached": 0,
        "visit_duration_s": 16.85,
        "pages_per_minute": 4 / (16.85 / 60),
        "add_to_cart_count": 0,
        "tutorial_views": 0,
    },
    "bargain_scripted": {
        "price_sorts": 1,
        "discount_sorts": 0,
        "on_sale_filters": 1,
        "discount_hovers": 3,
        "discount_hover_s": 4.0,
        "price_hovers": 2,
        "catalog_views": 3,
        "products_viewed": 1,
        "clicks": 3,
        "hesitation_ratio": 0.0,
        "mean_dwell_per_product_s": 5.0,
        "product_scroll_depth_mean": 0.5545,
        "time_to_first_product_s": 9.02,
        "visit_duration_s": 13.89,
        # Idle is silence between actions, moves aside: 2.17 s resting on the first badge
        # of the product page (page event at 130 ms, hover at 2300 ms) over 14 s of pages.
        "idle_ratio": 2170 / 14000,
        "coupon_interactions": 0,
        "max_scroll_depth_mean": (0.24 + 0.24 + 0.36 + 0.5545) / 4,
    },
    "pointer_scroll": {
        "pointer_speed_px_s": 2000.0,
        "path_straightness": 500 / 700,
        "scroll_speed_px_s": 2000.0,
        "hesitation_ratio": 0.5,
        "idle_ratio": (3400 + 2600) / 7100,  # page to click (moves aside), then a scroll pause
        "time_to_first_add_s": 3.6,
        "mean_dwell_per_product_s": 7.1,
        "events_seen": 17,
        "pages_per_minute": 6.0,
        "product_scroll_depth_mean": 1.0,
    },
    "interleaved_tabs": {
        "product_views": 1,
        "catalog_views": 1,
        "price_hovers": 1,
        "discount_sorts": 1,
        "clicks": 1,
        "events_seen": 7,
        "product_scroll_depth_mean": 1.0,
        "time_to_first_product_s": 3.05,
        "hesitation_ratio": 1.0,
    },
}
EVIDENCE = {
    "hurried_scripted": 9,
    "explorer_scripted": 17,
    "bargain_scripted": 15,
    "pointer_scroll": 7,
    "interleaved_tabs": 8,
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_features_of_hand_written_streams(name: str) -> None:
    features = features_of(load(name))
    for feature, expected in EXPECTED[name].items():
        assert features[feature] == pytest.approx(expected, abs=1e-3), feature


@pytest.mark.parametrize("name", sorted(EVIDENCE))
def test_evidence_counts_meaningful_actions_and_time(name: str) -> None:
    state = fold_batches(FeatureState(), load(name))
    assert state.count("evidence") == EVIDENCE[name]
    seconds = feature_vector(state)["visit_duration_s"]
    assert evidence(state) == pytest.approx(EVIDENCE[name] + seconds / 5)


def test_feature_vector_has_all_named_float_features() -> None:
    features = features_of(load("bargain_scripted"))
    assert list(features) == list(FEATURE_NAMES)
    assert len(FEATURE_NAMES) >= 18
    assert all(isinstance(v, float) for v in features.values())


def test_empty_state_has_neutral_features() -> None:
    features = feature_vector(FeatureState())
    assert features["events_seen"] == 0
    assert features["time_to_first_add_s"] == NOT_YET_S
    assert features["pointer_speed_px_s"] == NOT_MEASURED
    assert evidence(FeatureState()) == 0


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_folding_batch_by_batch_through_json_equals_folding_at_once(name: str) -> None:
    batches = load(name)
    at_once = fold_batches(FeatureState(), batches)
    state = FeatureState()
    for batch in batches:
        # The server keeps the state in Redis between batches.
        state = FeatureState.from_dict(
            orjson.loads(orjson.dumps(fold_batch(state, batch).to_dict()))
        )
    assert feature_vector(state) == pytest.approx(feature_vector(at_once))
    assert state.to_dict() == at_once.to_dict()


@pytest.mark.parametrize(
    "name", ["hurried_scripted", "explorer_scripted", "bargain_scripted", "pointer_scroll"]
)
def test_merging_each_page_views_batches_gives_the_same_features(name: str) -> None:
    merged: dict[str, dict[str, Any]] = {}
    for batch in load(name):
        page = merged.setdefault(batch["pvid"], dict(batch, seq=0, events=[]))
        page["events"] = page["events"] + batch["events"]
    assert features_of(merged.values()) == pytest.approx(features_of(load(name)))


def test_repeated_page_view_sequence_is_ignored() -> None:
    batches = load("interleaved_tabs")
    unique = {(b["pvid"], b["seq"]): b for b in reversed(batches)}
    first_arrivals = [b for b in batches if unique[(b["pvid"], b["seq"])] is b]
    assert len(first_arrivals) == len(batches) - 2
    assert features_of(batches) == features_of(first_arrivals)
    doubled = [b for batch in load("hurried_scripted") for b in (batch, batch)]
    assert features_of(doubled) == features_of(load("hurried_scripted"))


def test_state_roundtrips_through_plain_json() -> None:
    state = fold_batches(FeatureState(), load("pointer_scroll"))
    text = json.dumps(state.to_dict())
    again = FeatureState.from_dict(json.loads(text))
    assert again == state
    with pytest.raises(ValueError, match="version"):
        FeatureState.from_dict({**state.to_dict(), "v": 99})


def test_page_kinds() -> None:
    assert page_kind("/product/p001") == "product"
    assert page_kind("/catalog") == "catalog"
    assert page_kind("/cart") == "cart"
    assert page_kind("/checkout") == "checkout"
    assert page_kind("/tutorials") == "tutorials"
    assert page_kind("/order/o123") == "order"
    assert page_kind("/") == "home"
    assert page_kind("/admin") == "other"


def test_sorting_twice_by_the_same_value_counts_once() -> None:
    batch = load("bargain_scripted")[1]
    again = dict(
        batch,
        seq=2,
        events=[
            {"k": "sort", "t": 2500, "v": "price_asc"},
            {"k": "sort", "t": 2600, "v": "price_desc"},
        ],
    )
    features = features_of([load("bargain_scripted")[0], batch, again])
    assert features["price_sorts"] == 2


def test_long_visits_keep_a_bounded_state_with_the_same_features(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    visit = next(v for v in simulate_visits(30, 3) if v.label == "explorer")
    pages = [b for b in visit.batches if b["seq"] == 0][:1]
    template = pages[0]
    batches = []
    for i in range(150):  # 150 page views, far more than the state keeps
        batches.append(dict(template, pvid=f"pvlong{i:010d}", t0=template["t0"] + i * 5_000))
    bounded = fold_batches(FeatureState(), batches)
    assert len(bounded.pages) <= features_module.MAX_TRACKED_PAGES
    monkeypatch.setattr(features_module, "MAX_TRACKED_PAGES", 10_000)
    unbounded = fold_batches(FeatureState(), batches)
    assert len(unbounded.pages) == 150
    assert feature_vector(bounded) == pytest.approx(feature_vector(unbounded))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), cut_seed=st.integers(0, 10_000))
def test_rebatching_a_simulated_visit_does_not_change_its_features(
    seed: int, cut_seed: int
) -> None:
    # Sequential page views (no late or repeated batches): any split into batches is equivalent.
    calm = Mixture(late_batch=0.0, duplicate=0.0)
    visit = simulate_visits(1, seed, calm)[0]
    rng = random.Random(cut_seed)
    by_page: dict[str, list[dict[str, Any]]] = {}
    for batch in visit.batches:
        by_page.setdefault(batch["pvid"], []).extend(batch["events"])
    rebatched = []
    for pvid, events in by_page.items():
        template = next(b for b in visit.batches if b["pvid"] == pvid)
        seq, start = 0, 0
        while start < len(events):
            size = rng.randint(1, 60)
            rebatched.append(dict(template, seq=seq, events=events[start : start + size]))
            seq, start = seq + 1, start + size
    assert features_of(rebatched) == pytest.approx(features_of(visit.batches))


# -- touch and landing evidence (issue 15) ----------------------------------------------------

T0 = 1_760_000_500_000


def view(n: int, t0: int, path: str, events: list[dict[str, Any]], **page: Any) -> dict[str, Any]:
    """One page view as one batch: its page event (with `page` fields) then `events`."""
    fields = {"path": path, "title": "", "ref": "", "vw": 390, "vh": 844, "dh": 4000}
    fields.update({"dev": "mobile", "hov": 0} | page)
    head = {"k": "page", "t": 100, **fields}
    return {"v": 1, "vid": "vtouch0001", "sid": "stouch0001", "pvid": f"pvtouch{n:08d}",
            "seq": 0, "t0": t0, "path": path, "events": [head, *events]}  # fmt: skip


def tap(t: int, anchor: str = "#main", **extra: Any) -> dict[str, Any]:
    return {"k": "click", "t": t, "x": 100, "y": 300, "a": anchor, "rx": 0.5, "ry": 0.5,
            "pt": "touch", **extra}  # fmt: skip


def test_hover_features_are_not_measured_on_a_touch_visit_even_with_a_mouse() -> None:
    # A script (or an emulated mouse) moving over a phone page: no path, no lingering.
    moves = [{"k": "move", "t": 500 + 50 * i, "x": 10 * i, "y": 300} for i in range(10)]
    hover = {"k": "hover", "t": 1200, "a": "#guide-1", "tag": "tutorial", "ms": 900}
    features = features_of([view(1, T0, "/catalog", [*moves, hover, tap(3000)])])
    assert features["touch_device"] == 1.0
    for name in features_module.HOVER_FEATURES:
        assert features[name] == NOT_MEASURED, name
    assert features["clicks"] == 1


def test_the_same_hover_counts_on_a_desktop_page() -> None:
    hover = {"k": "hover", "t": 1200, "a": "#guide-1", "tag": "tutorial", "ms": 900}
    features = features_of([view(1, T0, "/catalog", [hover], dev="desktop", hov=1)])
    assert features["touch_device"] == 0.0
    assert features["tutorial_hovers"] == 1 and features["tutorial_views"] == 0
    assert features["price_hovers"] == 0  # measured, and none


def test_an_old_tracker_without_hov_is_read_from_the_device_class() -> None:
    batch = view(1, T0, "/catalog", [])
    del batch["events"][0]["hov"]
    assert features_of([batch])["touch_device"] == 1.0
    batch["events"][0]["dev"] = "desktop"
    assert features_of([batch])["touch_device"] == 0.0


def test_a_landing_on_the_deals_listing_is_evidence_but_no_sort() -> None:
    deals = view(1, T0, "/catalog", [], sale=1, sort="discount")
    features = features_of([deals])
    assert features["on_sale_views"] == 1 and features["deal_sorted_views"] == 1
    assert features["discount_sorts"] == 0 and features["on_sale_filters"] == 0
    plain = features_of([view(1, T0, "/catalog", [], sort="popular")])
    assert plain["on_sale_views"] == 0 and plain["deal_sorted_views"] == 0
    assert evidence(fold_batches(FeatureState(), [deals])) > evidence(
        fold_batches(FeatureState(), [view(1, T0, "/catalog", [])])
    )


def test_discounted_products_are_read_from_the_product_pages_own_badge() -> None:
    def product(n: int, pid: str, **page: Any) -> dict[str, Any]:
        return view(n, T0 + n * 10_000, f"/product/{pid}", [], pid=pid, cat="kitchen", **page)

    visit = [product(1, "p001", disc=30), product(2, "p002"), product(3, "p003", disc=15)]
    features = features_of([*visit, product(4, "p001", disc=30)])  # a repeat view counts
    assert features["discount_viewed_share"] == pytest.approx(3 / 4)
    assert features["mean_viewed_discount"] == pytest.approx(25.0)
    # No product page: "not measured", which pulls neither way; full price only: 0 and -1.
    listing = features_of([view(1, T0, "/catalog", [], sale=1)])
    assert listing["discount_viewed_share"] == -1 and listing["mean_viewed_discount"] == -1
    full = features_of([product(1, "p002")])
    assert full["discount_viewed_share"] == 0 and full["mean_viewed_discount"] == -1
    # A disc outside 1..100 or of another type (the validator refuses it) counts as none.
    for odd in (0, 150, "30", True, 12.5):
        assert features_of([product(1, "p001", disc=odd)])["discount_viewed_share"] == 0


def test_time_on_listings_of_deals_is_the_time_on_catalogs_opened_on_sale_or_at_a_deal_sort() -> (
    None
):
    def catalog(n: int, at_s: int, **page: Any) -> dict[str, Any]:
        return view(n, T0 + at_s * 1000, "/catalog", [], **page)

    visit = [
        catalog(1, 0, sale=1, sort="discount"),  # 12 s, until the next page view
        catalog(2, 12, sort="popular"),  # 5 s of a listing that is not of deals
        catalog(3, 17, sort="price_asc"),  # 8 s
        view(4, T0 + 25_000, "/product/p001", [], pid="p001", disc=30),
    ]
    assert features_of(visit)["deal_listing_s"] == pytest.approx(20.0)
    assert features_of([catalog(1, 0, sort="newest"), catalog(2, 9)])["deal_listing_s"] == 0


def test_choosing_the_sort_the_page_was_opened_at_is_no_sort() -> None:
    landing = view(1, T0, "/catalog", [{"k": "sort", "t": 900, "v": "discount"}], sort="discount")
    assert features_of([landing])["discount_sorts"] == 0
    changed = view(1, T0, "/catalog", [{"k": "sort", "t": 900, "v": "price_asc"}], sort="discount")
    assert features_of([changed])["price_sorts"] == 1


def test_back_navigations_reversals_stops_and_tap_gaps() -> None:
    def scroll(t: int, y: int) -> dict[str, Any]:
        return {"k": "scroll", "t": t, "y": y, "d": 0.5}

    down_up = [scroll(300, 0), scroll(500, 400), scroll(700, 800), scroll(900, 600),
               scroll(1100, 300), tap(4000)]  # fmt: skip
    visit = [
        view(1, T0, "/catalog", down_up),
        view(2, T0 + 10_000, "/product/p001", [tap(2000), tap(10_000)], pid="p001", cat="shoes"),
        view(3, T0 + 20_000, "/catalog", [tap(1000)]),
    ]
    features = features_of(visit)
    assert features["back_navigations"] == 1  # catalog, product, catalog
    assert features["scroll_reversals"] == 1  # 800 px down, then 500 px back up
    assert features["scroll_stops"] == 1  # 2.9 s still after the last swipe, then a tap
    # gaps between taps of one page view: 8 s on the product page (the others have one tap)
    assert features["tap_gap_s"] == pytest.approx(8.0)
    late_first = features_of([visit[1], visit[0], visit[2]])  # a late beacon changes nothing
    for name in ("back_navigations", "scroll_stops", "tap_gap_s", "idle_ratio"):
        assert late_first[name] == pytest.approx(features[name]), name
    one_tap = features_of([view(1, T0, "/catalog", [tap(1000)])])
    assert one_tap["tap_gap_s"] == NOT_MEASURED and one_tap["back_navigations"] == 0


def test_a_short_scroll_back_is_no_reversal() -> None:
    events = [{"k": "scroll", "t": 300 + 200 * i, "y": y, "d": 0.5}
              for i, y in enumerate((0, 400, 800, 700, 900))]  # fmt: skip
    assert features_of([view(1, T0, "/catalog", events)])["scroll_reversals"] == 0


def test_a_version_1_state_still_loads() -> None:
    state = fold_batches(FeatureState(), [view(1, T0, "/catalog", [tap(1000)])])
    data = state.to_dict()
    data["v"] = 1
    data["sort"] = "price_asc"  # version 1 kept the sort for the whole visit
    for page in data["pages"].values():
        for name in ("last_act", "last_kind", "hover", "sdir", "sleg", "sdown", "bare", "sort",
                     "last_click"):  # fmt: skip
            page.pop(name)
    assert FeatureState.from_dict(data).count("clicks") == 1


def test_what_the_page_did_is_no_evidence_of_how_the_shopper_shops() -> None:
    # An outcome (what followed a click), a zone view and the server's order record are
    # not actions: a visit with them reads exactly as the same visit without them.
    page = {"k": "page", "t": 0, "path": "/catalog", "title": "", "ref": "", "vw": 390,
            "vh": 800, "dh": 3000, "dev": "mobile", "hov": 0}  # fmt: skip
    scroll = {"k": "scroll", "t": 500, "y": 400, "d": 0.2}
    noise = [
        {"k": "outcome", "t": 3000, "ct": 1000, "a": "#x", "x": 1, "y": 1, "rx": 0, "ry": 0,
         "ia": 0},
        {"k": "zone", "t": 3500, "z": "deals"},
    ]  # fmt: skip
    base = {"v": 1, "vid": "visitor01", "sid": "session01", "pvid": "pageview01", "seq": 0,
            "t0": 1_760_000_000_000, "path": "/catalog"}  # fmt: skip
    plain = fold_batch(FeatureState(), {**base, "events": [page, scroll]})
    noisy = fold_batch(FeatureState(), {**base, "events": [page, scroll, *noise]})
    order = {**base, "pvid": "order-000001", "events": [{"k": "order", "t": 0, "oid": "o1",
             "lines": [["p001", 1000]]}]}  # fmt: skip
    fold_batch(noisy, order)
    assert feature_vector(noisy) == feature_vector(plain)
    assert evidence(noisy) == evidence(plain)
    assert noisy.to_dict() == plain.to_dict()
