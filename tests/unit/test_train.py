"""ensure_model: a model trained on other features or another simulator is trained again."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from personas_engine import train as train_module
from personas_engine.artifacts import load_model, save_model
from personas_engine.features import FEATURE_NAMES
from personas_engine.simulate import SIMULATOR_VERSION


@pytest.fixture
def small_training(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = train_module.train_on_simulation

    def small(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(n=60, seed=3)

    monkeypatch.setattr(train_module, "train_on_simulation", small)
    return calls


def test_a_current_model_is_reused(tmp_path: Path, small_training: list[int]) -> None:
    first = train_module.ensure_model(tmp_path)
    again = train_module.ensure_model(tmp_path)
    assert again.version == first.version and len(small_training) == 1


@pytest.mark.parametrize("stale", ["simulator", "features"])
def test_a_stale_model_is_trained_again(
    tmp_path: Path, small_training: list[int], stale: str
) -> None:
    model = train_module.train_on_simulation()
    if stale == "simulator":
        model.params = {**model.params, "data": {"simulator": SIMULATOR_VERSION - 1}}
    else:
        model = replace(model, feature_names=FEATURE_NAMES[:-1])
        model.params = {"data": {"simulator": SIMULATOR_VERSION}}
    model.version = "19990101-stale000"
    save_model(model, tmp_path)
    assert load_model(tmp_path).version == "19990101-stale000"
    fresh = train_module.ensure_model(tmp_path)
    assert fresh.version != "19990101-stale000" and fresh.feature_names == FEATURE_NAMES
    assert load_model(tmp_path).version == fresh.version  # saved as the latest
