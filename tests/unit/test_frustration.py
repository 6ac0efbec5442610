"""Frustration signals on hand-written event streams: each found, and each near miss not."""

from __future__ import annotations

from typing import Any

import pytest

from server.domain.frustration import (
    DEAD,
    DEFAULT_RULES,
    ERROR,
    QUICK_BACK,
    RAGE,
    THRASH,
    FrustrationRules,
    SessionFrustration,
    session_signals,
)

T0 = 1_750_000_000_000


def batch(events: list[dict[str, Any]], pvid: str = "pageview01", path: str = "/catalog", t0: int = T0) -> dict[str, Any]:  # fmt: skip
    return {"pvid": pvid, "path": path, "t0": t0, "events": events}


def click(t: int, x: int = 100, y: int = 200, **extra: Any) -> dict[str, Any]:
    return {"k": "click", "t": t, "x": x, "y": y, "a": "#hero", "rx": 0.5, "ry": 0.5, **extra}


def outcome(ct: int, ia: int = 0, **extra: Any) -> dict[str, Any]:
    fields = {"ct": ct, "a": "[data-price]", "x": 40, "y": 60, "rx": 0.2, "ry": 0.3, "ia": ia}
    return {"k": "outcome", "t": ct + 2000, **fields, **extra}


def kinds(batches: list[dict[str, Any]], rules: FrustrationRules = DEFAULT_RULES) -> list[str]:
    return [s.kind for s in session_signals(batches, rules)]


# Rage clicks


def test_three_clicks_within_700_ms_and_30_px_are_one_rage_click() -> None:
    signals = session_signals([batch([click(0), click(300, 110), click(700, 95, 210)])])
    assert [(s.kind, s.t, s.anchor, s.x, s.y) for s in signals] == [(RAGE, 700, "#hero", 95, 210)]
    assert signals[0].at_ms == T0 + 700


def test_a_long_burst_is_one_episode_and_a_later_burst_another() -> None:
    burst = [click(t) for t in range(0, 2000, 150)]
    later = [click(t) for t in (5000, 5200, 5400)]
    assert kinds([batch(burst + later)]) == [RAGE, RAGE]


@pytest.mark.parametrize(
    "events",
    [
        [click(0), click(400)],  # two clicks only
        [click(0), click(400), click(701)],  # the third is 701 ms after the first
        [click(0), click(300), click(600, 131)],  # the third is 31 px away
        [click(0), click(300, nf=1), click(600)],  # one of them opted out
    ],
    ids=["two", "too-slow", "too-far", "opted-out"],
)
def test_near_misses_are_no_rage_click(events: list[dict[str, Any]]) -> None:
    assert kinds([batch(events)]) == []


def test_a_rage_click_split_across_batches_is_found_from_the_carried_state() -> None:
    first = SessionFrustration()
    assert first.feed(batch([click(0), click(250)])) == []
    carried = SessionFrustration(first.to_state())  # as the flusher stores it between rounds
    assert [s.kind for s in carried.feed(batch([click(500)]))] == [RAGE]
    assert carried.feed(batch([click(650)])) == []  # the same episode goes on


def test_thresholds_are_configurable() -> None:
    events = [click(0), click(300), click(600)]
    assert kinds([batch(events)], FrustrationRules(rage_clicks=4)) == []
    assert kinds([batch(events[:2])], FrustrationRules(rage_clicks=2)) == [RAGE]
    assert kinds([batch(events)], FrustrationRules(rage_window_ms=500)) == []


# Dead and error clicks


def test_a_click_on_a_non_interactive_element_with_no_effect_is_dead() -> None:
    signals = session_signals([batch([click(1000), outcome(1000)])])
    assert [(s.kind, s.t, s.anchor, s.x) for s in signals] == [(DEAD, 1000, "[data-price]", 40)]


@pytest.mark.parametrize(
    "follow",
    [{"dm": 120}, {"nv": 800}, {"dm": 1000}],
    ids=["dom-changed", "navigated", "changed-at-the-limit"],
)
def test_a_click_followed_by_a_change_or_navigation_is_not_dead(follow: dict[str, int]) -> None:
    assert kinds([batch([outcome(1000, **follow)])]) == []


def test_a_change_after_the_window_leaves_the_click_dead() -> None:
    assert kinds([batch([outcome(1000, dm=1001)])]) == [DEAD]
    assert kinds([batch([outcome(1000, dm=1001)])], FrustrationRules(dead_window_ms=1500)) == []


def test_an_interactive_click_is_never_dead() -> None:
    assert kinds([batch([outcome(1000, ia=1)])]) == []


def test_an_error_within_a_second_of_a_click_is_an_error_click() -> None:
    events = [outcome(500, ia=1, em=300, ek="TypeError", eo="https://cdn.example.com")]
    (signal,) = session_signals([batch(events)])
    assert (signal.kind, signal.error_kind, signal.error_origin) == (
        ERROR, "TypeError", "https://cdn.example.com",
    )  # fmt: skip


def test_an_error_after_the_window_is_no_error_click() -> None:
    assert kinds([batch([outcome(500, ia=1, em=1001, ek="Error", eo="self")])]) == []


def test_a_dead_click_that_also_raised_an_error_is_both() -> None:
    assert sorted(kinds([batch([outcome(500, em=10, ek="Error", eo="self")])])) == [DEAD, ERROR]


# Quick-backs


def page(path: str, t: int = 0) -> dict[str, Any]:
    return {"k": "page", "t": t, "path": path}


def visit(*steps: tuple[str, str, int]) -> list[dict[str, Any]]:
    """(pvid, path, start ms after T0) per page view."""
    return [batch([page(path)], pvid, path, T0 + start) for pvid, path, start in steps]


def test_going_back_within_seconds_is_a_quick_back_on_the_page_left() -> None:
    steps = visit(("pv-catalog", "/catalog", 0), ("pv-product", "/p/p001", 9000),
                  ("pv-catalog2", "/catalog", 12000))  # fmt: skip
    (signal,) = session_signals(steps)
    assert (signal.kind, signal.path, signal.pvid, signal.at_ms) == (
        QUICK_BACK, "/p/p001", "pv-product", T0 + 9000,
    )  # fmt: skip


@pytest.mark.parametrize(
    "steps",
    [
        (("pv-a0000001", "/catalog", 0), ("pv-b0000001", "/p/p001", 9000),
         ("pv-c0000001", "/catalog", 14001)),  # 5.001 s on the product
        (("pv-a0000001", "/catalog", 0), ("pv-b0000001", "/p/p001", 9000),
         ("pv-c0000001", "/cart", 10000)),  # onwards, not back
        (("pv-a0000001", "/catalog", 0), ("pv-b0000001", "/catalog", 1000),
         ("pv-c0000001", "/catalog", 2000)),  # reloads of one page
    ],
    ids=["stayed-long-enough", "went-on", "reloads"],
)  # fmt: skip
def test_near_misses_are_no_quick_back(steps: tuple[tuple[str, str, int], ...]) -> None:
    assert kinds(visit(*steps)) == []


def test_a_quick_back_is_found_when_page_views_arrive_in_separate_rounds() -> None:
    detector = SessionFrustration()
    for step in visit(("pv-a0000001", "/", 0), ("pv-b0000001", "/deals", 100)):
        assert detector.feed(step) == []
    later = SessionFrustration(detector.to_state())
    [step] = visit(("pv-c0000001", "/", 2000))
    assert [s.kind for s in later.feed(step)] == [QUICK_BACK]


# Thrashed cursor


def shake(start: int, turns: int, amplitude: int = 60, every_ms: int = 50) -> list[dict[str, Any]]:
    """A pointer going right and left `turns` times, 3 samples per run."""
    events, x, t = [], 400, start
    for run in range(turns + 1):
        step = amplitude // 3 if run % 2 == 0 else -(amplitude // 3)
        for _ in range(3):
            x += step
            t += every_ms
            events.append({"k": "move", "t": t, "x": x, "y": 300})
    return events


def test_a_shaken_cursor_is_one_thrash() -> None:
    signals = session_signals([batch(shake(0, 8))])
    assert [s.kind for s in signals] == [THRASH]
    assert signals[0].x is not None and signals[0].anchor is None


@pytest.mark.parametrize(
    "events",
    [
        shake(0, 4),  # four reversals only
        shake(0, 8, amplitude=15),  # small tremor: runs of 15 px
        shake(0, 8, every_ms=140),  # five reversals take 1.68 s
    ],
    ids=["few-turns", "tremor", "slow"],
)
def test_near_misses_are_no_thrash(events: list[dict[str, Any]]) -> None:
    assert kinds([batch(events)]) == []


def test_reading_moves_are_no_thrash() -> None:
    moves = [{"k": "move", "t": 50 * i, "x": 100 + 7 * i, "y": 200 + (i % 3)} for i in range(60)]
    assert kinds([batch(moves)]) == []


# State


def test_the_state_round_trips_through_json_and_stays_bounded() -> None:
    import orjson

    detector = SessionFrustration()
    for n in range(10):
        detector.feed(batch([click(t) for t in range(0, 3000, 100)], pvid=f"pageview{n:02d}"))
    state = orjson.loads(orjson.dumps(detector.to_state()))
    assert len(state["v"]) <= 4
    assert all(len(view["c"]) <= 16 for view in state["v"].values())
    assert SessionFrustration(state).to_state() == state


def test_rules_reject_windows_the_tracker_cannot_watch() -> None:
    with pytest.raises(ValueError):
        FrustrationRules(dead_window_ms=2500)
    with pytest.raises(ValueError):
        FrustrationRules(rage_clicks=1)
