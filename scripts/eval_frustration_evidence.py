"""Ablation: do frustration signals help the persona model on the held-out visits?

    .venv/bin/python scripts/eval_frustration_evidence.py [--train-n 1800] [--eval-n 900]

Simulates the training visits (seed 1, TRAIN_MIXTURE) and the held-out visits (seed 20251,
EVAL_MIXTURE) exactly as personas_engine.train / personas_engine.evaluate do, and trains the
production model class twice on the same training rows (whole visits plus the same random
prefixes): once on FEATURE_NAMES (today's model) and once on FEATURE_NAMES plus frustration
signal features. Each visit prefix's signals come from server/domain/frustration.py's
SessionFrustration, driven as server/pipeline/aggregate.py drives it: one detector per
session (its page views' state kept inside it), fed every batch in arrival order once per
(pvid, seq) (the ingest's append_once drops resent batches), skipping the server's order
records. Both models are scored like personas_engine.evaluate: macro-F1 on whole visits and
the first right persona through the live policy, replayed after every batch.

Nothing here changes the production model, its features or its defaults.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from personas_engine import evaluate as ev
from personas_engine.catalog import load_catalog
from personas_engine.dataset import Snapshot
from personas_engine.features import (
    FEATURE_NAMES,
    FeatureState,
    evidence,
    feature_vector,
    fold_batch,
)
from personas_engine.model import (
    PersonaModel,
    TrainParams,
    _fit_temperature,
    _matrix,
    train,
)
from personas_engine.policy import DisplayState, PolicyConfig, update_display
from personas_engine.simulate import (
    EVAL_MIXTURE,
    TRAIN_MIXTURE,
    SimulatedVisit,
    simulate_visits,
)
from personas_engine.train import DEFAULT_SEED as TRAIN_SEED
from personas_engine.train import DEFAULT_VISITS as TRAIN_VISITS
from personas_engine.vocabulary import PERSONAS, UNKNOWN
from server.domain.frustration import DEFAULT_RULES, SIGNALS, SessionFrustration
from server.domain.zones import is_server_record

FX_COUNTS = tuple(f"fx_{kind}" for kind in SIGNALS)
FX_RATES = tuple(f"fx_{kind}_per_view" for kind in SIGNALS)
FX_FEATURES = (*FX_COUNTS, *FX_RATES, "fx_any_per_view")
WITH_FX = (*FEATURE_NAMES, *FX_FEATURES)


class VisitTracker:
    """A visit's feature state and its session's frustration detector, fed batch by batch."""

    def __init__(self) -> None:
        self.state = FeatureState()
        self.detector = SessionFrustration(rules=DEFAULT_RULES)
        self.accepted: set[tuple[str, int]] = set()
        self.signals: Counter[str] = Counter()

    def fold(self, batch: Mapping[str, Any]) -> None:
        fold_batch(self.state, batch)
        key = (str(batch["pvid"]), int(batch["seq"]))
        if key in self.accepted or is_server_record(batch):
            return  # the ingest accepts a (pvid, seq) once; the flusher skips order records
        self.accepted.add(key)
        self.signals.update(signal.kind for signal in self.detector.feed(batch))

    def features(self) -> dict[str, float]:
        """Return the production features plus the frustration features, so far."""
        features = feature_vector(self.state)
        views = max(self.state.count("page_views"), 1.0)
        for kind in SIGNALS:
            features[f"fx_{kind}"] = float(self.signals[kind])
            features[f"fx_{kind}_per_view"] = self.signals[kind] / views
        features["fx_any_per_view"] = sum(self.signals.values()) / views
        return features


def snapshots(
    visits: Sequence[SimulatedVisit],
    *,
    prefixes: int,
    min_evidence: float,
    seed: int,
    early: int = 0,
    early_window_s: float = 30.0,
) -> list[Snapshot]:
    """personas_engine.dataset.snapshots, same random and early cuts, with the frustration
    features (kept in step with it: main() checks the baseline reproduces the model)."""
    rng = random.Random(seed)
    early_rng = random.Random(seed + 7)
    rows: list[Snapshot] = []
    for visit in visits:
        batches = list(visit.batches)
        n = len(batches)
        cuts = set(rng.sample(range(1, n), k=min(prefixes, n - 1))) if n > 1 else set()
        cuts.add(n)
        tracker = VisitTracker()
        soon: list[Snapshot] = []
        for i, batch in enumerate(batches, start=1):
            tracker.fold(batch)
            state = tracker.state
            elapsed_s = (state.last_abs - state.first_abs) / 1000 if state.first_abs >= 0 else 0.0
            is_early = early > 0 and i < n and elapsed_s <= early_window_s
            if i not in cuts and not is_early:
                continue
            found = evidence(state)
            if found < min_evidence and i < n:
                continue
            features = tracker.features()
            row = Snapshot(visit.label, features, found, features["visit_duration_s"], i == n)
            if i in cuts:
                rows.append(row)
            if is_early:
                soon.append(row)
        rows += early_rng.sample(soon, k=min(early, len(soon)))
    return rows


@dataclass(frozen=True)
class TrainingRows:
    fit: list[Snapshot]
    val: list[Snapshot]


def training_rows(visits: Sequence[SimulatedVisit], params: TrainParams) -> TrainingRows:
    """The rows personas_engine.model.train fits and calibrates on (same split and seeds)."""
    n_val = int(len(visits) * params.validation_share)
    val_ids = set(range(0, len(visits), max(1, len(visits) // max(n_val, 1)))) if n_val else set()
    fit = [v for i, v in enumerate(visits) if i not in val_ids]
    val = [v for i, v in enumerate(visits) if i in val_ids]
    kw = {"prefixes": params.prefixes, "min_evidence": params.min_prefix_evidence,
          "early": params.early_prefixes, "early_window_s": params.early_window_s}  # fmt: skip
    return TrainingRows(
        snapshots(fit, seed=params.seed, **kw), snapshots(val, seed=params.seed + 1, **kw)
    )


def fit_model(rows: TrainingRows, names: Sequence[str], params: TrainParams) -> PersonaModel:
    """personas_engine.model.train's fit, on the given feature names."""
    x, missing = _matrix(rows.fit, names)
    masked = np.where(missing, np.nan, x)
    mean = np.nan_to_num(np.nanmean(masked, axis=0))
    scale = np.nan_to_num(np.nanstd(masked, axis=0), nan=1.0)
    scale[scale < 1e-6] = 1.0
    z = np.where(missing, 0.0, (x - mean) / scale)
    y = np.array([r.label for r in rows.fit])
    clf = LogisticRegression(C=params.c, max_iter=2_000)
    clf.fit(z, y)
    order = [list(clf.classes_).index(p) for p in PERSONAS]
    model = PersonaModel(
        version=f"ablation-{len(names)}",
        feature_names=tuple(names),
        classes=PERSONAS,
        mean=mean,
        scale=scale,
        coef=clf.coef_[order],
        intercept=clf.intercept_[order],
    )
    model.temperature = _fit_temperature(model, rows.val)
    return model


@dataclass
class HeldOutVisit:
    visit: SimulatedVisit
    steps: list[tuple[dict[str, float], float]]  # (features, evidence) after each batch
    signals: Counter[str]


def replay(visits: Sequence[SimulatedVisit]) -> list[HeldOutVisit]:
    out = []
    for visit in visits:
        tracker = VisitTracker()
        steps = []
        for batch in visit.batches:
            tracker.fold(batch)
            steps.append((tracker.features(), evidence(tracker.state)))
        out.append(HeldOutVisit(visit, steps, tracker.signals))
    return out


def live_persona(
    model: PersonaModel, features: Mapping[str, float], found: float, config: PolicyConfig
) -> tuple[str, dict[str, float]]:
    """PersonaModel.predict's answer (without the reasons)."""
    probs = model.probabilities(features)
    best = max(probs, key=probs.__getitem__)
    sure = found >= config.sure[0] and probs[best] >= config.sure[1]
    if found < config.min_evidence and not sure:
        return UNKNOWN, probs
    return best, {k: round(v, 4) for k, v in probs.items()}


def live_run(model: PersonaModel, held: HeldOutVisit, config: PolicyConfig) -> ev.LiveRun:
    """personas_engine.evaluate.replay_live on precomputed per-batch features."""
    label = held.visit.label
    first_right, shown, first_shown = math.inf, DisplayState(), UNKNOWN
    live: list[tuple[float, bool]] = []
    for features, found in held.steps:
        persona, probs = live_persona(model, features, found, config)
        if persona not in PERSONAS:
            continue
        live.append((round(probs[persona], 4), persona == label))
        shown = update_display(shown, persona, probs, config)
        if first_shown == UNKNOWN:
            first_shown = shown.persona
        if math.isinf(first_right) and shown.persona == label:
            first_right = features["visit_duration_s"]
    return ev.LiveRun(first_right, first_shown, shown.persona, live, label=label)


def score(
    model: PersonaModel, held: Sequence[HeldOutVisit], config: PolicyConfig
) -> dict[str, ev.ClassReport]:
    visits = [h.visit for h in held]
    probs = [model.probabilities(h.steps[-1][0]) for h in held]
    runs = [live_run(model, h, config) for h in held]
    reports = {"all": ev._class_report(visits, probs, runs)}
    for name in ev.TARGET_CLASSES:
        chosen = [i for i, v in enumerate(visits) if ev.DEVICE_CLASSES.get(v.device) == name]
        reports[name] = ev._class_report(
            [visits[i] for i in chosen], [probs[i] for i in chosen], [runs[i] for i in chosen]
        )
    return reports


def signal_table(title: str, tallies: Sequence[tuple[str, Counter[str]]]) -> list[str]:
    """Visits with at least one signal of each kind, and signals in all, per persona."""
    lines = [f"{title}: visits with >= 1 signal (signals in all)", ""]
    lines.append("| persona | visits | " + " | ".join(SIGNALS) + " |")
    lines.append("|---" * (len(SIGNALS) + 2) + "|")
    for persona in PERSONAS:
        mine = [c for label, c in tallies if label == persona]
        cells = [f"{sum(c[k] > 0 for c in mine)} ({sum(c[k] for c in mine)})" for k in SIGNALS]
        lines.append(f"| {persona} | {len(mine)} | " + " | ".join(cells) + " |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/eval_frustration_evidence.py")
    parser.add_argument("--train-n", type=int, default=TRAIN_VISITS)
    parser.add_argument("--train-seed", type=int, default=TRAIN_SEED)
    parser.add_argument("--eval-n", type=int, default=ev.DEFAULT_VISITS)
    parser.add_argument("--eval-seed", type=int, default=ev.DEFAULT_SEED)
    parser.add_argument(
        "--no-check", action="store_true", help="skip comparing the baseline with model.train"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    config = PolicyConfig()
    params = TrainParams(seed=args.train_seed)
    catalog = load_catalog()
    train_visits = simulate_visits(args.train_n, args.train_seed, TRAIN_MIXTURE, catalog)
    rows = training_rows(train_visits, params)
    models = {
        "without": fit_model(rows, FEATURE_NAMES, params),
        "with": fit_model(rows, WITH_FX, params),
    }
    if not args.no_check:
        # The baseline must be today's model: same training as personas_engine.model.train.
        reference = train(train_visits, params)
        base = models["without"]
        same = np.allclose(reference.coef, base.coef) and np.isclose(
            reference.temperature, base.temperature
        )
        print(f"baseline reproduces personas_engine.model.train: {'yes' if same else 'NO'}")
        if not same:
            return 2
    held = replay(simulate_visits(args.eval_n, args.eval_seed, EVAL_MIXTURE, catalog))
    print(
        f"train: {args.train_n} visits (seed {args.train_seed}, TRAIN_MIXTURE), "
        f"{len(rows.fit)} fit rows; held out: {args.eval_n} visits "
        f"(seed {args.eval_seed}, EVAL_MIXTURE)\n"
    )
    train_tallies = []
    for visit in train_visits:
        tracker = VisitTracker()
        for batch in visit.batches:
            tracker.fold(batch)
        train_tallies.append((visit.label, tracker.signals))
    print("\n".join(signal_table("Training visits", train_tallies)) + "\n")
    held_tallies = [(h.visit.label, h.signals) for h in held]
    print("\n".join(signal_table("Held-out visits", held_tallies)) + "\n")

    reports = {arm: score(model, held, config) for arm, model in models.items()}
    print("| features | device | visits | macro-F1 | first right p50 | first right p90 | flicker |")
    print("|---|---|---|---|---|---|---|")
    for arm, by_class in reports.items():
        for name in (*ev.TARGET_CLASSES, "all"):
            c = by_class[name]
            print(
                f"| {arm} frustration | {name} | {c.visits} | {c.macro_f1:.4f} "
                f"| {ev._seconds(c.first_right['p50'])} | {ev._seconds(c.first_right['p90'])} "
                f"| {c.flicker:.1%} |"
            )
    with_fx = models["with"]
    rel = with_fx.coef[:, len(FEATURE_NAMES) :] - with_fx.coef[:, len(FEATURE_NAMES) :].mean(0)
    print("\nWeights of the frustration features (per persona, relative to the mean):")
    for j, name in enumerate(FX_FEATURES):
        cells = ", ".join(f"{p} {rel[i, j]:+.3f}" for i, p in enumerate(PERSONAS))
        print(f"- {name}: {cells}")

    better = all(
        reports["with"][n].macro_f1 > reports["without"][n].macro_f1
        and reports["with"][n].first_right["p50"] <= reports["without"][n].first_right["p50"]
        and reports["with"][n].first_right["p90"] <= reports["without"][n].first_right["p90"]
        for n in ev.TARGET_CLASSES
    )
    print(
        f"\nwith frustration better on macro-F1 and first right p50/p90, phone and desktop: "
        f"{'yes' if better else 'no'}  ({time.perf_counter() - started:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
