"""When to re-predict, when the displayed persona may change, and what each persona adapts.

Pure: the persona worker keeps a `DisplayState` per visit (as `to_dict()` JSON) and feeds it
each new prediction; the displayed persona changes only with hysteresis so it never flickers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from personas_engine.vocabulary import PERSONAS, UNKNOWN


@dataclass(frozen=True)
class PolicyConfig:
    """Re-prediction cadence and hysteresis; defaults suit a 5-15 s first prediction."""

    every_n_events: int = 20
    every_s: float = 3.0
    min_evidence: float = 6.0  # measured: 4 showed 8% of phone visits a wrong persona first
    threshold: float = 0.85  # confidence needed to leave unknown (measured in docs/personas.md)
    margin: float = 0.15  # p(new) - p(shown) needed to switch between personas
    confirmations: int = 2  # consecutive predictions that must agree before switching
    # A persona this sure may show with less evidence: a shopper at the checkout 3 s after
    # arriving is hurried beyond doubt, and a beacon batch still on its way must not hide it.
    sure_evidence: float = 3.0  # measured: 4 kept sure phone visits waiting (docs/personas.md)
    sure_confidence: float = 0.97

    def __post_init__(self) -> None:
        if self.every_n_events < 1 or self.every_s <= 0:
            raise ValueError("every_n_events must be >= 1 and every_s > 0")
        if not 0.0 < self.threshold <= 1.0 or not 0.0 <= self.margin <= 1.0:
            raise ValueError("threshold must be within (0, 1] and margin within [0, 1]")
        if self.confirmations < 1 or self.min_evidence < 0:
            raise ValueError("confirmations must be >= 1 and min_evidence >= 0")
        if self.sure_evidence < 0 or not 0.0 < self.sure_confidence <= 1.0:
            raise ValueError("sure_evidence must be >= 0 and sure_confidence within (0, 1]")

    @property
    def sure(self) -> tuple[float, float]:
        """(evidence, confidence): below min_evidence, a persona at least this sure is shown."""
        return (self.sure_evidence, self.sure_confidence)


@dataclass(frozen=True)
class DisplayState:
    """The persona shown to the shopper and a challenger waiting for confirmation."""

    persona: str = UNKNOWN
    confidence: float = 0.0
    candidate: str = ""
    streak: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return the state as plain JSON types."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DisplayState:
        """Rebuild a state from `to_dict()` output."""
        return cls(
            persona=str(data.get("persona", UNKNOWN)),
            confidence=float(data.get("confidence", 0.0)),
            candidate=str(data.get("candidate", "")),
            streak=int(data.get("streak", 0)),
        )


def should_repredict(events_since: int, seconds_since: float, every_n: int, every_s: float) -> bool:
    """Tell whether enough new events or time have passed since the last prediction."""
    if events_since <= 0:
        return False  # nothing new: the features, hence the prediction, are unchanged
    return events_since >= every_n or seconds_since >= every_s


def update_display(
    state: DisplayState,
    predicted: str,
    probabilities: Mapping[str, float],
    config: PolicyConfig,
) -> DisplayState:
    """Return the display state after one prediction, switching only with hysteresis."""
    if predicted not in PERSONAS:
        return state  # not enough evidence yet: keep whatever is shown
    p_new = float(probabilities.get(predicted, 0.0))
    if state.persona not in PERSONAS:
        if p_new >= config.threshold:
            return DisplayState(predicted, p_new)
        return state
    p_shown = float(probabilities.get(state.persona, 0.0))
    if predicted == state.persona or p_new - p_shown < config.margin:
        return DisplayState(state.persona, p_shown)  # the challenger, if any, loses its streak
    streak = state.streak + 1 if state.candidate == predicted else 1
    if streak >= config.confirmations:
        return DisplayState(predicted, p_new)
    return DisplayState(state.persona, p_shown, predicted, streak)


class PersonaTracker:
    """Keep one visit's displayed persona: a convenience wrapper over `update_display`."""

    def __init__(self, config: PolicyConfig | None = None, state: DisplayState | None = None):
        self.config = config or PolicyConfig()
        self.state = state or DisplayState()

    @property
    def persona(self) -> str:
        """Return the persona currently shown."""
        return self.state.persona

    def observe(self, predicted: str, probabilities: Mapping[str, float]) -> bool:
        """Feed one prediction; return True when the displayed persona changed."""
        before = self.state.persona
        self.state = update_display(self.state, predicted, probabilities, self.config)
        return self.state.persona != before
