"""The local persona model: a multinomial logistic regression on standardised features.

Chosen for speed and honesty: a prediction is a 3x36 dot product (tens of microseconds, no
scikit-learn call at predict time), each feature's pull on the answer is its weight times its
standardised value, which is what the reasons are made from, and it trains in seconds.
The weights are saved as JSON, so loading an artifact never unpickles anything.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from personas_engine.dataset import LabelledVisit, Snapshot, snapshots
from personas_engine.features import (
    DEFAULT_MIN_EVIDENCE,
    FEATURE_NAMES,
    HOVER_FEATURES,
    NOT_MEASURED,
    FeatureState,
    evidence,
    feature_vector,
)
from personas_engine.reasons import explain
from personas_engine.vocabulary import PERSONAS, UNKNOWN

ARTIFACT_FORMAT = 1
# Ratios stay linear; counts, durations and speeds are compared on a log scale.
LINEAR = frozenset(
    {
        "max_scroll_depth_mean",
        "product_scroll_depth_mean",
        "path_straightness",
        "idle_ratio",
        "hesitation_ratio",
        "checkout_reached",
        "touch_device",
        "scroll_up_share",
        "discount_viewed_share",
    }
)
# These are NOT_MEASURED when the visit has no sample for them: they then pull neither way.
# Hover-based features are missing on every touch visit (a finger cannot hover).
MAY_BE_MISSING = frozenset(
    {
        "mean_dwell_per_product_s",
        "mean_page_dwell_s",
        "product_scroll_depth_mean",
        "scroll_speed_px_s",
        "fling_speed_px_s",
        "tap_gap_s",
        "pre_tap_s",
        "pause_s",
        "scroll_up_share",
        "mean_viewed_discount",
        "discount_viewed_share",
        *HOVER_FEATURES,
    }
)


@dataclass(frozen=True)
class TrainParams:
    """What a training run depends on; its hash names the model version."""

    c: float = 0.5  # inverse L2 strength
    prefixes: int = 6  # random prefixes per visit, besides the whole visit
    early_prefixes: int = 10  # more, among those ending in the visit's first early_window_s
    early_window_s: float = 30.0
    min_prefix_evidence: float = 2.0
    validation_share: float = 0.2  # of visits, held back to fit the temperature and report
    seed: int = 0
    data: Mapping[str, Any] = field(default_factory=dict)  # how the visits were made

    def digest(self, features: Sequence[str] = ()) -> str:
        """Return a short stable hash of these parameters and the features trained on."""
        # The features too: a model of other features is another model, and must not take
        # (and overwrite) the version directory of the one before it.
        text = json.dumps({**asdict(self), "features": list(features)}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:8]


@dataclass(frozen=True)
class Prediction:
    """A persona, how sure the model is, and why."""

    persona: str
    confidence: float
    probabilities: dict[str, float]
    reasons: list[str]
    model_version: str
    evidence: float

    def to_dict(self) -> dict[str, Any]:
        """Return the prediction as plain JSON types."""
        return asdict(self)


@dataclass
class PersonaModel:
    """A trained model: feature scaling, weights, temperature and where they came from."""

    version: str
    feature_names: tuple[str, ...]
    classes: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # classes x features
    intercept: np.ndarray
    temperature: float = 1.0
    metrics: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = self.feature_names
        self._log = np.array([n not in LINEAR for n in names])
        self._may_miss = np.array([n in MAY_BE_MISSING for n in names])

    def standardise(self, features: Mapping[str, float]) -> np.ndarray:
        """Return the standardised vector of a feature dict (missing values at the mean)."""
        x = np.array([features.get(name, 0.0) for name in self.feature_names], dtype=float)
        missing = self._may_miss & (x == NOT_MEASURED)
        x = np.where(self._log, np.log1p(np.maximum(x, 0.0)), x)
        return np.where(missing, 0.0, (x - self.mean) / self.scale)

    def probabilities(self, features: Mapping[str, float]) -> dict[str, float]:
        """Return the probability of each persona."""
        return dict(zip(self.classes, self._softmax(self.standardise(features)), strict=True))

    def _softmax(self, z: np.ndarray) -> list[float]:
        logits = (self.coef @ z + self.intercept) / self.temperature
        exps = np.exp(logits - logits.max())
        return [float(v) for v in exps / exps.sum()]

    def predict(
        self,
        features: Mapping[str, float],
        evidence: float,
        *,
        min_evidence: float = DEFAULT_MIN_EVIDENCE,
        sure: tuple[float, float] | None = None,
        lang: str = "en",
        max_reasons: int = 3,
    ) -> Prediction:
        """Predict a persona, or unknown while evidence is below `min_evidence`.

        `sure` = (evidence, confidence): with at least that much evidence, a persona at least
        that probable is answered before `min_evidence` is reached.
        """
        z = self.standardise(features)
        probs = self._softmax(z)
        best = max(range(len(probs)), key=probs.__getitem__)
        probabilities = {c: round(p, 4) for c, p in zip(self.classes, probs, strict=True)}
        certain = sure is not None and evidence >= sure[0] and probs[best] >= sure[1]
        if evidence < min_evidence and not certain:
            reason = (
                f"not enough activity yet ({evidence:.0f} of {min_evidence:.0f} signals)"
                if lang == "en"
                else f"pas encore assez d'activité ({evidence:.0f} signaux sur {min_evidence:.0f})"
            )
            return Prediction(
                UNKNOWN, round(probs[best], 4), probabilities, [reason], self.version, evidence
            )
        reasons = explain(features, self.drivers(z, best), limit=max_reasons, lang=lang)
        return Prediction(
            self.classes[best],
            round(probs[best], 4),
            probabilities,
            reasons,
            self.version,
            evidence,
        )

    def predict_state(
        self,
        state: FeatureState,
        *,
        min_evidence: float = DEFAULT_MIN_EVIDENCE,
        sure: tuple[float, float] | None = None,
        lang: str = "en",
    ) -> Prediction:
        """Predict from a visit's feature state."""
        return self.predict(
            feature_vector(state), evidence(state), min_evidence=min_evidence, sure=sure, lang=lang
        )

    def drivers(self, z: np.ndarray, cls: int) -> list[str]:
        """Return the features pushing towards class `cls` more than the others, strongest first."""
        # A feature's pull on class c relative to the mean pull on all classes.
        relative = ((self.coef[cls] - self.coef.mean(axis=0)) * z).tolist()
        order = sorted(range(len(relative)), key=relative.__getitem__, reverse=True)
        return [self.feature_names[j] for j in order if relative[j] > 0.05]

    def to_json(self) -> dict[str, Any]:
        """Return the weights as plain JSON types."""
        return {
            "format": ARTIFACT_FORMAT,
            "version": self.version,
            "feature_names": list(self.feature_names),
            "classes": list(self.classes),
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
            "temperature": self.temperature,
            "linear": sorted(LINEAR & set(self.feature_names)),
            "may_be_missing": sorted(MAY_BE_MISSING & set(self.feature_names)),
        }

    @classmethod
    def from_json(
        cls,
        data: Mapping[str, Any],
        metrics: Mapping[str, Any] | None = None,
    ) -> PersonaModel:
        """Rebuild a model from `to_json()` output."""
        if data.get("format") != ARTIFACT_FORMAT:
            raise ValueError(f"unsupported model format {data.get('format')!r}")
        return cls(
            version=str(data["version"]),
            feature_names=tuple(data["feature_names"]),
            classes=tuple(data["classes"]),
            mean=np.asarray(data["mean"], dtype=float),
            scale=np.asarray(data["scale"], dtype=float),
            coef=np.asarray(data["coef"], dtype=float),
            intercept=np.asarray(data["intercept"], dtype=float),
            temperature=float(data["temperature"]),
            metrics=dict(metrics or {}),
        )


def _matrix(rows: Sequence[Snapshot], names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    x = np.array([[r.features.get(n, 0.0) for n in names] for r in rows], dtype=float)
    missing = np.zeros_like(x, dtype=bool)
    for j, name in enumerate(names):
        if name in MAY_BE_MISSING:
            missing[:, j] = x[:, j] == NOT_MEASURED
        if name not in LINEAR:
            x[:, j] = np.log1p(np.maximum(x[:, j], 0.0))
    return x, missing


def _fit_temperature(model: PersonaModel, rows: Sequence[Snapshot]) -> float:
    # One scalar fitted on held-back visits: it only softens or sharpens the probabilities.
    if not rows:
        return 1.0
    z = np.array([model.standardise(r.features) for r in rows])
    logits = z @ model.coef.T + model.intercept
    target = np.array([model.classes.index(r.label) for r in rows])
    best, best_nll = 1.0, math.inf
    for t in np.arange(0.5, 3.01, 0.05):
        scaled = logits / t
        scaled -= scaled.max(axis=1, keepdims=True)
        log_probs = scaled - np.log(np.exp(scaled).sum(axis=1, keepdims=True))
        nll = float(-log_probs[np.arange(len(rows)), target].mean())
        if nll < best_nll:
            best, best_nll = float(t), nll
    return best


def train(visits: Iterable[LabelledVisit], params: TrainParams | None = None) -> PersonaModel:
    """Train a model on labelled visits (whole visits and random prefixes of them)."""
    params = params or TrainParams()
    started = time.perf_counter()
    visits = list(visits)
    n_val = int(len(visits) * params.validation_share)
    # Visits are interleaved by persona, so a stride keeps both parts balanced.
    val_ids = set(range(0, len(visits), max(1, len(visits) // max(n_val, 1)))) if n_val else set()
    fit_visits = [v for i, v in enumerate(visits) if i not in val_ids]
    val_visits = [v for i, v in enumerate(visits) if i in val_ids]
    rows = snapshots(
        fit_visits,
        prefixes=params.prefixes,
        min_evidence=params.min_prefix_evidence,
        seed=params.seed,
        early=params.early_prefixes,
        early_window_s=params.early_window_s,
    )
    val_rows = snapshots(
        val_visits,
        prefixes=params.prefixes,
        min_evidence=params.min_prefix_evidence,
        seed=params.seed + 1,
        early=params.early_prefixes,
        early_window_s=params.early_window_s,
    )
    names = FEATURE_NAMES
    x, missing = _matrix(rows, names)
    masked = np.where(missing, np.nan, x)
    mean = np.nan_to_num(np.nanmean(masked, axis=0))
    scale = np.nan_to_num(np.nanstd(masked, axis=0), nan=1.0)
    scale[scale < 1e-6] = 1.0
    z = np.where(missing, 0.0, (x - mean) / scale)
    y = np.array([r.label for r in rows])
    clf = LogisticRegression(C=params.c, max_iter=2_000)
    clf.fit(z, y)
    order = [list(clf.classes_).index(p) for p in PERSONAS]
    version = f"{datetime.now(UTC):%Y%m%d}-{params.digest(names)}"
    model = PersonaModel(
        version=version,
        feature_names=tuple(names),
        classes=PERSONAS,
        mean=mean,
        scale=scale,
        coef=clf.coef_[order],
        intercept=clf.intercept_[order],
        params=asdict(params) | {"data": dict(params.data)},
    )
    model.temperature = _fit_temperature(model, val_rows)
    model.metrics = {
        "train_rows": len(rows),
        "train_visits": len(fit_visits),
        "validation_visits": len(val_visits),
        "validation_macro_f1_full": _macro_f1(model, [r for r in val_rows if r.full]),
        "validation_macro_f1_prefixes": _macro_f1(model, [r for r in val_rows if not r.full]),
        "temperature": model.temperature,
        "train_seconds": round(time.perf_counter() - started, 2),
    }
    return model


def _macro_f1(model: PersonaModel, rows: Sequence[Snapshot]) -> float | None:
    if not rows:
        return None
    predicted = [
        max(model.probabilities(r.features).items(), key=lambda kv: kv[1])[0] for r in rows
    ]
    return round(float(f1_score([r.label for r in rows], predicted, average="macro")), 4)
