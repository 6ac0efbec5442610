"""The per-device evaluation: what counts as flicker, as the first right persona, as a miss."""

from __future__ import annotations

import math

import pytest

from personas_engine.evaluate import LiveRun, Report, evaluate, render
from personas_engine.model import PersonaModel, TrainParams, train
from personas_engine.policy import PolicyConfig
from personas_engine.simulate import EVAL_MIXTURE, simulate_visits


def test_flicker_is_a_wrong_persona_shown_first() -> None:
    assert LiveRun(12.0, "hurried", "explorer", [], label="explorer").flickered
    assert LiveRun(math.inf, "hurried", "hurried", [], label="explorer").flickered
    assert not LiveRun(5.0, "explorer", "hurried", [], label="explorer").flickered
    assert not LiveRun(math.inf, "unknown", "unknown", [], label="explorer").flickered


@pytest.fixture(scope="module")
def report() -> Report:
    model: PersonaModel = train(simulate_visits(150, 11), TrainParams(prefixes=2, seed=3))
    visits = simulate_visits(90, 4242, EVAL_MIXTURE)
    return evaluate(model, visits, seed=4242, mixture=EVAL_MIXTURE, config=PolicyConfig())


def test_the_report_is_split_by_device_class(report: Report) -> None:
    by_device = report.by_device
    assert {"phone", "desktop"} <= set(by_device)
    assert sum(c.visits for c in by_device.values()) == report.overall.visits == 90
    phone = by_device["phone"]
    assert 0.0 <= phone.flicker <= 1.0 and phone.first_right["p50"] <= phone.first_right["p90"]
    text = render(report)
    assert "| phone |" in text and "| desktop |" in text


def test_a_missed_target_is_named(report: Report) -> None:
    phone = report.by_device["phone"]
    worse = type(phone)(**{**vars(phone), "flicker": 0.2, "macro_f1": 0.5})
    missed = worse.misses()
    assert any("flicker" in m for m in missed) and any("macro-F1" in m for m in missed)
