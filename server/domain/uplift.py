"""Experiment statistics: rates and means with 95 % intervals, and treatment − control tests.

Pure arithmetic on counts and sums (docs/experiments.md shows the formulas): the summary job
stores n, Σx and Σx² per row × arm, and everything here is derived from those. Distributions
and quantiles come from SciPy, the Wilson interval from statsmodels; the always-valid
(sequential) interval is in server/domain/sequential.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from server.domain import sequential

CONFIDENCE = 0.95
ALPHA = 1 - CONFIDENCE
Z95 = float(stats.norm.ppf(0.5 + CONFIDENCE / 2))  # 1.959963984540054
MIN_VISITORS = 30  # per arm, below which nothing is said
MIN_CONVERSIONS = 5  # per arm: fewer converters and the normal approximation is meaningless
# Per arm, for the two money metrics: order totals are skewed, and with fewer buyers the
# normal approximation behind both intervals fails. In the A/A peeking test
# (tests/unit/test_sequential.py) five buyers per arm let 14 % of experiments call an AOV
# difference; thirty bring it under 5 %.
MIN_BUYERS_FOR_MEANS = 30
METRICS = ("conversion_rate", "aov_cents", "revenue_per_visitor_cents")


@dataclass(frozen=True)
class Estimate:
    """A point estimate and its 95 % interval; None where the data cannot give one."""

    value: float | None
    low: float | None = None
    high: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        return {"value": self.value, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class Difference:
    """Treatment − control with its standard error and, for Welch, its degrees of freedom.

    `df` None means a normal reference (the difference of proportions).
    """

    value: float | None
    se: float | None = None
    df: float | None = None

    def fixed(self) -> tuple[Estimate, float | None]:
        """The fixed-horizon 95 % interval and two-sided p-value."""
        if self.value is None or self.se is None:
            return Estimate(self.value), None
        if self.se == 0:
            # Both arms constant (all 0 or all 1): a point, and nothing to test.
            return Estimate(self.value, self.value, self.value), None
        score = abs(self.value) / self.se
        if self.df is None:
            half, p = Z95 * self.se, float(2 * stats.norm.sf(score))
        else:
            half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, self.df)) * self.se
            p = float(2 * stats.t.sf(score, self.df))
        return Estimate(self.value, self.value - half, self.value + half), p

    def always_valid(self, n: int, tuning_n: int) -> tuple[Estimate, float | None]:
        """The always-valid 95 % interval and p-value after `n` units (both arms)."""
        if self.value is None or self.se is None:
            return Estimate(self.value), None
        if self.se == 0:
            return Estimate(self.value, self.value, self.value), None
        radius, p = sequential.mixture(self.value, self.se, n, ALPHA, tuning_n)
        return Estimate(self.value, self.value - radius, self.value + radius), p


@dataclass(frozen=True)
class Moments:
    """A sample summarised as count, sum and sum of squares (all one needs for mean and SD)."""

    n: int
    total: float
    squares: float

    @property
    def mean(self) -> float:
        return self.total / self.n

    @property
    def variance(self) -> float:
        """Sample variance (n − 1 denominator), never negative despite rounding."""
        return max(0.0, (self.n * self.squares - self.total * self.total) / (self.n * (self.n - 1)))


@dataclass(frozen=True)
class ArmTotals:
    """One arm of one row: visitors, converters (≥ 1 order), orders, revenue in cents."""

    visitors: int = 0
    converters: int = 0
    orders: int = 0
    revenue: int = 0  # Σ order totals = Σ revenue per visitor
    order_squares: int = 0  # Σ (order total)²
    visitor_squares: int = 0  # Σ (revenue of one visitor)², zeros for non-buyers included

    @property
    def order_moments(self) -> Moments:
        return Moments(self.orders, self.revenue, self.order_squares)

    @property
    def visitor_moments(self) -> Moments:
        return Moments(self.visitors, self.revenue, self.visitor_squares)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ArmTotals:
        return cls(**{name: int(doc.get(name, 0)) for name in cls.__dataclass_fields__})


def wilson(successes: int, n: int) -> Estimate:
    """Return the proportion successes/n with its Wilson score interval."""
    if n <= 0:
        return Estimate(None)
    low, high = proportion_confint(successes, n, alpha=ALPHA, method="wilson")
    # At 0 and n the bounds are exactly 0 and 1; rounding must not move them.
    return Estimate(
        successes / n,
        0.0 if successes == 0 else max(0.0, float(low)),
        1.0 if successes == n else min(1.0, float(high)),
    )


def mean_interval(sample: Moments) -> Estimate:
    """Return the mean with its Student t interval (n − 1 degrees of freedom)."""
    if sample.n <= 0:
        return Estimate(None)
    if sample.n == 1:
        return Estimate(sample.mean)
    quantile = float(stats.t.ppf(0.5 + CONFIDENCE / 2, sample.n - 1))
    half = quantile * math.sqrt(sample.variance / sample.n)
    return Estimate(sample.mean, sample.mean - half, sample.mean + half)


def proportion_difference(x1: int, n1: int, x2: int, n2: int) -> Difference:
    """p1 − p2 with the unpooled standard error."""
    if n1 <= 0 or n2 <= 0:
        return Difference(None)
    p1, p2 = x1 / n1, x2 / n2
    return Difference(p1 - p2, math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2))


def welch_difference(first: Moments, second: Moments) -> Difference:
    """mean1 − mean2 with Welch's standard error and Welch–Satterthwaite degrees of freedom."""
    if first.n <= 0 or second.n <= 0:
        return Difference(None)
    diff = first.mean - second.mean
    if first.n < 2 or second.n < 2:
        return Difference(diff)
    a, b = first.variance / first.n, second.variance / second.n
    if a + b == 0:
        return Difference(diff, 0.0)
    df = (a + b) ** 2 / (a * a / (first.n - 1) + b * b / (second.n - 1))
    return Difference(diff, math.sqrt(a + b), df)


def differences(treatment: ArmTotals, control: ArmTotals) -> dict[str, Difference]:
    """Treatment minus control for the three metrics."""
    return {
        "conversion_rate": proportion_difference(
            treatment.converters, treatment.visitors, control.converters, control.visitors
        ),
        "aov_cents": welch_difference(treatment.order_moments, control.order_moments),
        "revenue_per_visitor_cents": welch_difference(
            treatment.visitor_moments, control.visitor_moments
        ),
    }


def too_small(treatment: ArmTotals, control: ArmTotals) -> bool:
    """Tell whether either arm has under 30 visitors or under 5 converters."""
    return any(
        arm.visitors < MIN_VISITORS or arm.converters < MIN_CONVERSIONS
        for arm in (treatment, control)
    )


def readable(metric: str, treatment: ArmTotals, control: ArmTotals) -> bool:
    """Tell whether a metric's test may be read at all (its approximation holds)."""
    if too_small(treatment, control):
        return False
    buyers = min(treatment.converters, control.converters)
    return metric == "conversion_rate" or buyers >= MIN_BUYERS_FOR_MEANS


def arm_report(arm: ArmTotals) -> dict[str, Any]:
    """The counts of one arm and its three metrics with intervals (money in cents)."""
    return {
        "visitors": arm.visitors,
        "converters": arm.converters,
        "orders": arm.orders,
        "revenue_cents": arm.revenue,
        "conversion_rate": wilson(arm.converters, arm.visitors).to_dict(),
        "aov_cents": mean_interval(arm.order_moments).to_dict(),
        "revenue_per_visitor_cents": mean_interval(arm.visitor_moments).to_dict(),
    }


def combine(arms: list[ArmTotals]) -> ArmTotals:
    """Pool arms of several rows (sums of counts, sums and squares all add up)."""
    fields = ArmTotals.__dataclass_fields__
    return ArmTotals(**{name: sum(getattr(arm, name) for arm in arms) for name in fields})
