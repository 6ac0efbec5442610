"""The local model: separates personas, abstains on thin evidence, explains itself, persists."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from personas_engine import artifacts
from personas_engine.artifacts import load_model, resolve_version, save_model
from personas_engine.dataset import trajectory
from personas_engine.evaluate import expected_calibration_error, write_docs
from personas_engine.features import (
    FeatureState,
    evidence,
    feature_vector,
    features_of,
    fold_batches,
)
from personas_engine.model import PersonaModel, TrainParams, train
from personas_engine.policy import PolicyConfig
from personas_engine.simulate import Mixture, simulate_visits
from personas_engine.train import ensure_model
from personas_engine.vocabulary import PERSONAS, UNKNOWN

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "personas"
SCRIPTED = ["hurried_scripted", "explorer_scripted", "bargain_scripted"]


def fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


@pytest.fixture(scope="module")
def model() -> PersonaModel:
    started = time.perf_counter()
    trained = train(simulate_visits(300, 11), TrainParams(prefixes=3, seed=3))
    assert time.perf_counter() - started < 30  # a few seconds normally; slack for busy CI
    return trained


def test_it_separates_clear_cut_simulated_personas(model: PersonaModel) -> None:
    clear = simulate_visits(60, 99, Mixture(pure_fraction=1.0, noise=0.05))
    hits = 0
    for visit in clear:
        p = model.probabilities(features_of(visit.batches))
        hits += max(p, key=p.__getitem__) == visit.label
    assert hits / len(clear) >= 0.9


@pytest.mark.parametrize("name", SCRIPTED)
def test_scripted_browser_visits_get_their_persona_within_15_seconds(
    model: PersonaModel, name: str
) -> None:
    data = fixture(name)
    config = PolicyConfig()  # the live defaults
    confident_at = None
    for features, found in trajectory(data["batches"]):
        prediction = model.predict(features, found, min_evidence=config.min_evidence)
        if prediction.persona == data["label"] and prediction.confidence >= config.threshold:
            confident_at = features["visit_duration_s"]
            break
    assert confident_at is not None and confident_at <= 15
    final = model.predict_state(fold_batches(FeatureState(), data["batches"]))
    assert final.persona == data["label"]


def test_unknown_while_evidence_is_low_with_probabilities_filled(model: PersonaModel) -> None:
    features = features_of(fixture("bargain_scripted")["batches"][:2])
    prediction = model.predict(features, evidence=3, min_evidence=4)
    assert prediction.persona == UNKNOWN
    assert set(prediction.probabilities) == set(PERSONAS)
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0, abs=1e-3)
    assert prediction.reasons and "3 of 4" in prediction.reasons[0]
    assert model.predict(features, evidence=4, min_evidence=4).persona in PERSONAS


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "bargain_scripted",
            [
                "hovered over discount badges 3 times (4 s in total)",
                "sorted by price once",
                "used the on-sale filter once",
            ],
        ),
        ("hurried_scripted", ["added to cart 1.8 s after arriving"]),
        (
            "explorer_scripted",
            [
                "viewed 3 products in 3 categories",
                "reached 100% of the way down each product page on average",
            ],
        ),
    ],
)
def test_reasons_name_the_real_behaviour(
    model: PersonaModel, name: str, expected: list[str]
) -> None:
    prediction = model.predict_state(fold_batches(FeatureState(), fixture(name)["batches"]))
    assert 1 <= len(prediction.reasons) <= 3
    assert any(reason in prediction.reasons for reason in expected), prediction.reasons
    assert all(
        re.search(r"\d|once|twice", r) or "checkout" in r or "product" in r
        for r in prediction.reasons
    )


def test_reasons_in_french(model: PersonaModel) -> None:
    state = fold_batches(FeatureState(), fixture("bargain_scripted")["batches"])
    reasons = model.predict_state(state, lang="fr").reasons
    assert reasons and any("badges de remise" in r or "trié par prix" in r for r in reasons)


def test_prediction_is_json_ready_and_fast(model: PersonaModel) -> None:
    features = features_of(fixture("explorer_scripted")["batches"])
    prediction = model.predict(features, evidence=17)
    assert json.loads(json.dumps(prediction.to_dict()))["model_version"] == model.version
    runs = 300
    started = time.perf_counter()
    for _ in range(runs):
        model.predict(features, evidence=17)
    assert (time.perf_counter() - started) / runs < 0.001


def test_save_and_load_give_identical_probabilities(model: PersonaModel, tmp_path: Path) -> None:
    folder = save_model(model, tmp_path)
    assert {p.name for p in folder.iterdir()} == {"model.json", "metrics.json", "features.json"}
    assert re.fullmatch(r"\d{8}-[0-9a-f]{8}", model.version)
    loaded = load_model(tmp_path)
    assert loaded.version == model.version
    assert json.loads((folder / "metrics.json").read_text())["train_visits"] > 0
    for name in SCRIPTED:
        features = features_of(fixture(name)["batches"])
        assert loaded.probabilities(features) == model.probabilities(features)
        assert loaded.predict(features, 10).to_dict() == model.predict(features, 10).to_dict()


def test_latest_resolution(model: PersonaModel, tmp_path: Path) -> None:
    assert resolve_version(tmp_path) is None
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path)
    older = PersonaModel.from_json({**model.to_json(), "version": "20240101-aaaaaaaa"})
    save_model(older, tmp_path)
    save_model(model, tmp_path)
    assert resolve_version(tmp_path) == model.version
    save_model(older, tmp_path)  # saving points latest at it, whatever its date
    assert resolve_version(tmp_path) == older.version
    (tmp_path / "latest").unlink()
    assert resolve_version(tmp_path) == max(model.version, older.version)
    assert resolve_version(tmp_path, "20240101-aaaaaaaa") == older.version
    assert resolve_version(tmp_path, "20990101-missing0") is None


def test_ensure_model_trains_only_when_none_exists(
    model: PersonaModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    def fake_training() -> PersonaModel:
        calls.append(1)
        return model

    monkeypatch.setattr("personas_engine.train.train_on_simulation", fake_training)
    assert ensure_model(tmp_path).version == model.version
    assert ensure_model(tmp_path).version == model.version
    assert calls == [1]
    assert artifacts.DEFAULT_MODELS_DIR.name == "models"


def test_expected_calibration_error() -> None:
    assert expected_calibration_error([0.9] * 10, [True] * 9 + [False]) == pytest.approx(0.0)
    assert expected_calibration_error([1.0] * 4, [False] * 4) == pytest.approx(1.0)
    assert expected_calibration_error([], []) == 0.0


def test_write_docs_replaces_only_the_marked_block(tmp_path: Path) -> None:
    doc = tmp_path / "personas.md"
    doc.write_text("intro\n<!-- eval:start -->\nold\n<!-- eval:end -->\noutro\n")
    write_docs("new results\n", doc)
    assert doc.read_text() == "intro\n<!-- eval:start -->\nnew results\n<!-- eval:end -->\noutro\n"


def test_a_persona_beyond_doubt_shows_with_less_evidence(model: PersonaModel) -> None:
    # The scripted hurried visit, cut after its add to cart: little evidence, no doubt.
    batches = fixture("hurried_scripted")["batches"][:2]
    state = fold_batches(FeatureState(), batches)
    found = evidence(state)
    features = feature_vector(state)
    probability = max(model.probabilities(features).values())
    gate = found + 1  # more evidence than the visit has
    assert model.predict(features, found, min_evidence=gate).persona == "unknown"
    sure = model.predict(features, found, min_evidence=gate, sure=(found, probability - 0.01))
    assert sure.persona == "hurried"
    doubt = model.predict(features, found, min_evidence=gate, sure=(found, probability + 0.01))
    assert doubt.persona == "unknown"
    assert model.predict(features, found, min_evidence=gate, sure=(found + 0.5, 0.0)).persona == (
        "unknown"
    )  # not even that little evidence


def test_the_version_names_the_features_it_was_trained_on(model: PersonaModel) -> None:
    # Same parameters, other features: another version, so a retrained model with a feature
    # added never overwrites (nor is mistaken for) the version directory of the one before.
    params = TrainParams(**model.params)
    assert model.version.endswith("-" + params.digest(model.feature_names))
    assert params.digest(model.feature_names) != params.digest(model.feature_names[:-1])
