"""Evaluate the persona model on held-out simulated visits and record the results.

    python -m personas_engine.evaluate [--out var/models] [--seed 20251] [--n 900]

The held-out visits use a different seed and different mixture parameters (`EVAL_MIXTURE`:
murkier mixes, more noise, more scripted pointers) than training. Results are printed and
written into docs/personas.md between the eval markers.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

from personas_engine.artifacts import DEFAULT_MODELS_DIR, load_model
from personas_engine.catalog import REPO_ROOT
from personas_engine.dataset import trajectory
from personas_engine.features import features_of
from personas_engine.model import PersonaModel
from personas_engine.policy import DisplayState, PolicyConfig, update_display
from personas_engine.simulate import EVAL_MIXTURE, Mixture, SimulatedVisit, simulate_visits
from personas_engine.train import ensure_model
from personas_engine.vocabulary import PERSONAS, UNKNOWN

DEFAULT_SEED = 20_251
DEFAULT_VISITS = 900
DOCS = REPO_ROOT / "docs" / "personas.md"
START, END = "<!-- eval:start -->", "<!-- eval:end -->"


@dataclass
class Report:
    """Everything the evaluation measured."""

    model_version: str
    visits: int
    seed: int
    mixture: Mixture
    macro_f1: float
    per_class: dict[str, dict[str, float]]
    confusion: list[list[int]]
    ece_full: float
    ece_live: float
    time_to_confident: dict[str, dict[str, float]]
    subsets: dict[str, float]
    predict_us: float
    config: PolicyConfig
    extra: dict[str, Any] = field(default_factory=dict)


def expected_calibration_error(
    confidences: Sequence[float], correct: Sequence[bool], bins: int = 10
) -> float:
    """Return the gap between confidence and accuracy, averaged over confidence bins."""
    conf, hit = np.asarray(confidences, dtype=float), np.asarray(correct, dtype=float)
    if conf.size == 0:
        return 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            total += mask.sum() / conf.size * abs(conf[mask].mean() - hit[mask].mean())
    return float(total)


@dataclass(frozen=True)
class LiveRun:
    """What the live system would have done on one visit."""

    first_confident_s: float  # the right persona with confidence >= threshold (inf if never)
    first_shown: str  # the first persona displayed through the hysteresis
    last_shown: str
    predictions: list[tuple[float, bool]]  # (confidence, correct) of every live prediction


def replay_live(model: PersonaModel, visit: SimulatedVisit, config: PolicyConfig) -> LiveRun:
    """Predict after every batch as the live system would, through the display policy."""
    first = math.inf
    shown, first_shown = DisplayState(), UNKNOWN
    live: list[tuple[float, bool]] = []
    for features, found in trajectory(visit.batches):
        prediction = model.predict(features, found, min_evidence=config.min_evidence, max_reasons=0)
        if prediction.persona not in PERSONAS:
            continue
        live.append((prediction.confidence, prediction.persona == visit.label))
        if (
            math.isinf(first)
            and prediction.persona == visit.label
            and prediction.confidence >= config.threshold
        ):
            first = features["visit_duration_s"]
        shown = update_display(shown, prediction.persona, prediction.probabilities, config)
        if first_shown == UNKNOWN:
            first_shown = shown.persona
    return LiveRun(first, first_shown, shown.persona, live)


def evaluate(
    model: PersonaModel,
    visits: Sequence[SimulatedVisit],
    *,
    seed: int,
    mixture: Mixture,
    config: PolicyConfig,
) -> Report:
    """Measure accuracy, calibration and time to a confident persona on the visits."""
    labels = [v.label for v in visits]
    probs = [model.probabilities(features_of(v.batches)) for v in visits]
    predicted = [max(p, key=p.__getitem__) for p in probs]
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predicted, labels=list(PERSONAS), zero_division=0
    )
    per_class = {
        p: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, p in enumerate(PERSONAS)
    }
    times: dict[str, list[float]] = {"all": [], "clear-cut": [], "scripted": []}
    live: list[tuple[float, bool]] = []
    shown = {"first shown persona right": 0, "persona shown at the end right": 0}
    for visit in visits:
        run = replay_live(model, visit, config)
        live.extend(run.predictions)
        shown["first shown persona right"] += run.first_shown == visit.label
        shown["persona shown at the end right"] += run.last_shown == visit.label
        times["all"].append(run.first_confident_s)
        if visit.weights.get(visit.label, 0) >= 0.9:
            times["clear-cut"].append(run.first_confident_s)
        if visit.pointer == "sparse":
            times["scripted"].append(run.first_confident_s)
    subsets = _subset_accuracy(visits, predicted)
    return Report(
        model_version=model.version,
        visits=len(visits),
        seed=seed,
        mixture=mixture,
        macro_f1=float(f1_score(labels, predicted, average="macro")),
        per_class=per_class,
        confusion=confusion_matrix(labels, predicted, labels=list(PERSONAS)).tolist(),
        ece_full=expected_calibration_error(
            [max(p.values()) for p in probs],
            [a == b for a, b in zip(predicted, labels, strict=True)],
        ),
        ece_live=expected_calibration_error([c for c, _ in live], [h for _, h in live]),
        time_to_confident={k: _distribution(v) for k, v in times.items()},
        subsets=subsets,
        predict_us=_latency_us(model, visits[0]),
        config=config,
        extra={k: v / len(visits) for k, v in shown.items()},
    )


def _subset_accuracy(
    visits: Sequence[SimulatedVisit], predicted: Sequence[str]
) -> dict[str, float]:
    groups: dict[str, list[bool]] = {}
    for visit, guess in zip(visits, predicted, strict=True):
        share = visit.weights.get(visit.label, 0.0)
        keys = [
            f"pointer {visit.pointer}",
            "mixed (dominant < 0.75)"
            if share < 0.75
            else "clear-cut (dominant >= 0.9)"
            if share >= 0.9
            else "dominant 0.75-0.9",
        ]
        if visit.by_url:
            keys.append("navigates by URL")
        for key in keys:
            groups.setdefault(key, []).append(guess == visit.label)
    return {k: sum(v) / len(v) for k, v in sorted(groups.items())}


def _distribution(values: Sequence[float]) -> dict[str, float]:
    finite = np.asarray([v for v in values if math.isfinite(v)])
    arr = np.asarray(values, dtype=float)  # never reached counts as infinitely late
    return {
        "p50": float(np.percentile(arr, 50)) if arr.size else math.inf,
        "p90": float(np.percentile(arr, 90)) if arr.size else math.inf,
        "reached": finite.size / arr.size if arr.size else 0.0,
        "within_15s": float((arr <= 15).mean()) if arr.size else 0.0,
        "n": float(arr.size),
    }


def _latency_us(model: PersonaModel, visit: SimulatedVisit) -> float:
    features = features_of(visit.batches)
    runs = 2_000
    started = time.perf_counter()
    for _ in range(runs):
        model.predict(features, 10.0)
    return (time.perf_counter() - started) / runs * 1e6


def _seconds(value: float) -> str:
    return "never" if math.isinf(value) else f"{value:.1f} s"


def render(report: Report) -> str:
    """Return the report as Markdown."""
    mix = report.mixture
    lines = [
        f"Model `{report.model_version}` on {report.visits} held-out simulated visits "
        f"(seed {report.seed}; mixture: dominant share {mix.dominant_min}-{mix.dominant_max}, "
        f"{mix.pure_fraction:.0%} single-persona, noise {mix.noise}, trait variation "
        f"{mix.variation}, {mix.sparse_pointer:.0%} scripted pointers on desktop, "
        f"{mix.touch:.0%} touch).",
        "",
        f"- **Macro-F1 (whole visits): {report.macro_f1:.3f}**",
        f"- Expected calibration error: {report.ece_full:.3f} on whole visits, "
        f"{report.ece_live:.3f} over every live prediction (after each batch, once evidence "
        f">= {report.config.min_evidence:g})",
        f"- Prediction latency: {report.predict_us:.0f} µs per call (features to reasons)",
        "",
        "| persona | precision | recall | F1 | visits |",
        "|---|---|---|---|---|",
    ]
    for persona, m in report.per_class.items():
        lines.append(
            f"| {persona} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} "
            f"| {m['support']} |"
        )
    lines += [
        "",
        "Confusion matrix (rows: true persona, columns: predicted):",
        "",
        "| true \\ predicted | " + " | ".join(PERSONAS) + " |",
        "|---" * (len(PERSONAS) + 1) + "|",
    ]
    for persona, row in zip(PERSONAS, report.confusion, strict=True):
        lines.append(f"| {persona} | " + " | ".join(str(v) for v in row) + " |")
    lines += [
        "",
        f"Time to first confident persona (the right persona with confidence >= "
        f"{report.config.threshold:g} and evidence >= {report.config.min_evidence:g}, "
        "in seconds of visit since the first event):",
        "",
        "| visits | p50 | p90 | reached | within 15 s |",
        "|---|---|---|---|---|",
    ]
    for name, d in report.time_to_confident.items():
        lines.append(
            f"| {name} ({d['n']:.0f}) | {_seconds(d['p50'])} | {_seconds(d['p90'])} "
            f"| {d['reached']:.0%} | {d['within_15s']:.0%} |"
        )
    lines += ["", "Through the live policy (hysteresis, defaults above):", ""]
    lines += [f"- {name}: {share:.1%}" for name, share in report.extra.items()]
    lines += ["", "Accuracy by kind of visit:", ""]
    lines += [f"- {name}: {acc:.3f}" for name, acc in report.subsets.items()]
    return "\n".join(lines) + "\n"


def write_docs(markdown: str, path: Path = DOCS) -> None:
    """Replace the text between the eval markers of docs/personas.md (or append it)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{START}\n{markdown}{END}"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + f"\n\n## Evaluation\n\n{block}\n"
    path.write_text(text, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """Evaluate the latest model (training one if none) and print and record the results."""
    parser = argparse.ArgumentParser(prog="python -m personas_engine.evaluate")
    parser.add_argument("--out", type=Path, default=DEFAULT_MODELS_DIR, help="models directory")
    parser.add_argument("--version", default="latest")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--n", type=int, default=DEFAULT_VISITS)
    parser.add_argument("--docs", type=Path, default=DOCS)
    parser.add_argument("--no-docs", action="store_true", help="print only")
    args = parser.parse_args(argv)
    model = (
        ensure_model(args.out) if args.version == "latest" else load_model(args.out, args.version)
    )
    trained_seed = model.params.get("data", {}).get("seed")
    if trained_seed == args.seed:
        parser.error(f"--seed {args.seed} is the training seed; pick another")
    visits = simulate_visits(args.n, args.seed, EVAL_MIXTURE)
    report = evaluate(model, visits, seed=args.seed, mixture=EVAL_MIXTURE, config=PolicyConfig())
    markdown = render(report)
    print(markdown)
    if not args.no_docs:
        write_docs(markdown, args.docs)
        print(f"written to {args.docs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
