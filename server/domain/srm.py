"""Sample-ratio mismatch: do the arms split the way the configuration says they should?

A broken assignment, or tracking that loses visitors in one arm more than in the other,
shows up as a split that differs from `holdout_fraction`. Then no comparison of the arms
can be trusted, however significant it looks. The check is Pearson's chi-square goodness
of fit of the two arm counts against the configured split (one degree of freedom), flagged
below p = 0.001 as GrowthBook and Optimizely do: strict enough that a correct split is
flagged once in a thousand reads, sensitive enough to catch a few percent of loss in one
arm at a few thousand visitors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scipy import stats


@dataclass(frozen=True)
class SampleRatio:
    treatment: int
    control: int
    expected_control_share: float
    chi2: float | None
    p: float | None
    mismatch: bool

    @property
    def observed_control_share(self) -> float | None:
        total = self.treatment + self.control
        return self.control / total if total else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "treatment": self.treatment,
            "control": self.control,
            "expected_control_share": self.expected_control_share,
            "observed_control_share": self.observed_control_share,
            "chi2": self.chi2,
            "p": self.p,
            "mismatch": self.mismatch,
        }


def check(treatment: int, control: int, control_share: float, threshold: float) -> SampleRatio:
    """Test treatment:control against (1 − control_share):control_share."""
    total = treatment + control
    if total == 0 or not 0 < control_share < 1:
        # Nobody yet, or a split with an empty arm by design: nothing to test.
        return SampleRatio(treatment, control, control_share, None, None, False)
    expected = [total * (1 - control_share), total * control_share]
    chi2, p = stats.chisquare([treatment, control], f_exp=expected)
    return SampleRatio(
        treatment, control, control_share, float(chi2), float(p), bool(p < threshold)
    )
