"""Turn labelled visits into training rows: features of whole visits and of visit prefixes.

The live system predicts after a few seconds of browsing, so the model also learns from
visits cut at random batches; otherwise it would only ever have seen finished visits.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from personas_engine.features import FeatureState, evidence, feature_vector, fold_batch


class LabelledVisit(Protocol):
    """A visit with a persona label: simulated, or labelled by an admin."""

    @property
    def label(self) -> str: ...

    @property
    def batches(self) -> Sequence[Mapping[str, Any]]: ...


@dataclass(frozen=True)
class Snapshot:
    """The features of a visit (or of a prefix of it) with its label."""

    label: str
    features: dict[str, float]
    evidence: float
    elapsed_s: float
    full: bool


def trajectory(batches: Iterable[Mapping[str, Any]]) -> Iterator[tuple[dict[str, float], float]]:
    """Yield (features, evidence) after each batch, as the live system would see them."""
    state = FeatureState()
    for batch in batches:
        fold_batch(state, batch)
        yield feature_vector(state), evidence(state)


def snapshots(
    visits: Iterable[LabelledVisit],
    *,
    prefixes: int,
    min_evidence: float,
    seed: int,
    early: int = 0,
    early_window_s: float = 30.0,
) -> list[Snapshot]:
    """Return each visit's full features plus `prefixes` random prefixes with enough evidence.

    `early` more prefixes are drawn among those ending within the visit's first
    `early_window_s` seconds: that is when the live system has to make up its mind, and
    uniformly drawn cuts mostly fall later in long visits.
    """
    rng = random.Random(seed)
    early_rng = random.Random(seed + 7)
    rows: list[Snapshot] = []
    for visit in visits:
        batches = list(visit.batches)
        n = len(batches)
        cuts = set(rng.sample(range(1, n), k=min(prefixes, n - 1))) if n > 1 else set()
        cuts.add(n)
        state = FeatureState()
        soon: list[Snapshot] = []
        for i, batch in enumerate(batches, start=1):
            fold_batch(state, batch)
            is_early = early > 0 and i < n and _elapsed_s(state) <= early_window_s
            if i not in cuts and not is_early:
                continue
            found = evidence(state)
            if found < min_evidence and i < n:
                continue
            features = feature_vector(state)
            row = Snapshot(visit.label, features, found, features["visit_duration_s"], i == n)
            if i in cuts:
                rows.append(row)
            if is_early:
                soon.append(row)
        rows += early_rng.sample(soon, k=min(early, len(soon)))
    return rows


def _elapsed_s(state: FeatureState) -> float:
    return (state.last_abs - state.first_abs) / 1000 if state.first_abs >= 0 else 0.0
