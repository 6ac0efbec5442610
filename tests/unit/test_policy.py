"""Live policy: when to re-predict and when the displayed persona may change."""

from __future__ import annotations

import json

import pytest

from personas_engine.policy import (
    DisplayState,
    PersonaTracker,
    PolicyConfig,
    should_repredict,
    update_display,
)
from personas_engine.vocabulary import UNKNOWN

CONFIG = PolicyConfig(threshold=0.6, margin=0.15, confirmations=2)


def probs(explorer: float, hurried: float, bargain_hunter: float) -> dict[str, float]:
    return {"explorer": explorer, "hurried": hurried, "bargain_hunter": bargain_hunter}


def top(p: dict[str, float]) -> str:
    return max(p, key=p.__getitem__)


@pytest.mark.parametrize(
    ("events", "seconds", "expected"),
    [(0, 99.0, False), (19, 1.0, False), (20, 0.0, True), (1, 3.0, True), (5, 2.9, False)],
)
def test_should_repredict_every_n_events_or_t_seconds(
    events: int, seconds: float, expected: bool
) -> None:
    assert should_repredict(events, seconds, every_n=20, every_s=3.0) is expected


def test_unknown_switches_once_confidence_reaches_the_threshold() -> None:
    state = DisplayState()
    low = probs(0.55, 0.25, 0.20)
    state = update_display(state, top(low), low, CONFIG)
    assert state.persona == UNKNOWN
    high = probs(0.60, 0.25, 0.15)
    state = update_display(state, top(high), high, CONFIG)
    assert state.persona == "explorer"
    assert state.confidence == pytest.approx(0.60)


def test_low_evidence_predictions_change_nothing() -> None:
    shown = DisplayState("hurried", 0.8)
    assert update_display(shown, UNKNOWN, probs(0.9, 0.05, 0.05), CONFIG) == shown
    assert (
        update_display(DisplayState(), UNKNOWN, probs(0.9, 0.05, 0.05), CONFIG).persona == UNKNOWN
    )


def test_alternating_near_equal_predictions_do_not_flicker() -> None:
    tracker = PersonaTracker(CONFIG)
    tracker.observe("explorer", probs(0.62, 0.30, 0.08))
    assert tracker.persona == "explorer"
    changes = 0
    for i in range(20):
        p = probs(0.46, 0.50, 0.04) if i % 2 == 0 else probs(0.51, 0.45, 0.04)
        changes += tracker.observe(top(p), p)
    assert changes == 0
    assert tracker.persona == "explorer"


def test_a_challenger_that_wins_by_the_margin_twice_in_a_row_takes_over() -> None:
    tracker = PersonaTracker(CONFIG)
    tracker.observe("explorer", probs(0.7, 0.2, 0.1))
    challenger = probs(0.25, 0.05, 0.70)
    assert tracker.observe("bargain_hunter", challenger) is False
    assert tracker.persona == "explorer"
    assert tracker.state.candidate == "bargain_hunter" and tracker.state.streak == 1
    assert tracker.observe("bargain_hunter", challenger) is True
    assert tracker.persona == "bargain_hunter"
    assert tracker.state.streak == 0


def test_an_interrupted_streak_starts_again() -> None:
    tracker = PersonaTracker(CONFIG)
    tracker.observe("explorer", probs(0.7, 0.2, 0.1))
    tracker.observe("hurried", probs(0.2, 0.7, 0.1))
    tracker.observe("explorer", probs(0.6, 0.3, 0.1))  # back to the shown persona
    assert tracker.observe("hurried", probs(0.2, 0.7, 0.1)) is False
    assert tracker.observe("hurried", probs(0.2, 0.7, 0.1)) is True
    assert tracker.persona == "hurried"


def test_a_challenger_inside_the_margin_never_switches() -> None:
    tracker = PersonaTracker(CONFIG)
    tracker.observe("explorer", probs(0.7, 0.2, 0.1))
    for _ in range(10):
        assert tracker.observe("hurried", probs(0.40, 0.50, 0.10)) is False
    assert tracker.persona == "explorer"


def test_one_confirmation_switches_at_once() -> None:
    config = PolicyConfig(confirmations=1, margin=0.1)
    state = update_display(DisplayState("explorer", 0.7), "hurried", probs(0.3, 0.6, 0.1), config)
    assert state.persona == "hurried"


def test_display_state_roundtrips_through_json() -> None:
    state = DisplayState("explorer", 0.7, "hurried", 1)
    assert DisplayState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
    assert DisplayState.from_dict({}) == DisplayState()
