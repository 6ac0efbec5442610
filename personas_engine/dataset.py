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
) -> list[Snapshot]:
    """Return each visit's full features plus `prefixes` random prefixes with enough evidence."""
    rng = random.Random(seed)
    rows: list[Snapshot] = []
    for visit in visits:
        batches = list(visit.batches)
        n = len(batches)
        cuts = set(rng.sample(range(1, n), k=min(prefixes, n - 1))) if n > 1 else set()
        cuts.add(n)
        state = FeatureState()
        for i, batch in enumerate(batches, start=1):
            fold_batch(state, batch)
            if i not in cuts:
                continue
            found = evidence(state)
            if found < min_evidence and i < n:
                continue
            features = feature_vector(state)
            rows.append(
                Snapshot(visit.label, features, found, features["visit_duration_s"], i == n)
            )
    return rows
