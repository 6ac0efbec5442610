"""Experiment statistics: rates and means with 95 % intervals, and treatment − control uplift.

Pure arithmetic on counts and sums (docs/experiments.md shows the formulas): the summary job
stores n, Σx and Σx² per persona × arm, and everything here is derived from those.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

CONFIDENCE = 0.95
Z95 = NormalDist().inv_cdf(0.5 + CONFIDENCE / 2)  # 1.959963984540054
MIN_VISITORS = 30  # per arm, below which nothing is said
MIN_CONVERSIONS = 5  # per arm: fewer converters and the normal approximation is meaningless
# Above this many degrees of freedom the Cornish–Fisher series is exact to ~1e-10 and the
# continued fraction would need many terms.
_SERIES_DF = 100.0


@dataclass(frozen=True)
class Estimate:
    """A point estimate and its 95 % interval; None where the data cannot give one."""

    value: float | None
    low: float | None = None
    high: float | None = None

    def to_dict(self) -> dict[str, float | None]:
        return {"value": self.value, "low": self.low, "high": self.high}


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
    """One arm of one persona: visitors, converters (≥ 1 order), orders, revenue in cents."""

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


def wilson(successes: int, n: int, z: float = Z95) -> Estimate:
    """Return the proportion successes/n with its Wilson score interval."""
    if n <= 0:
        return Estimate(None)
    p = successes / n
    scale = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / scale
    half = z / scale * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # At 0 and n the bounds are exactly 0 and 1; rounding must not move them.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return Estimate(p, low, high)


def mean_interval(sample: Moments) -> Estimate:
    """Return the mean with its Student t interval (n − 1 degrees of freedom)."""
    if sample.n <= 0:
        return Estimate(None)
    if sample.n == 1:
        return Estimate(sample.mean)
    half = t_quantile(0.5 + CONFIDENCE / 2, sample.n - 1) * math.sqrt(sample.variance / sample.n)
    return Estimate(sample.mean, sample.mean - half, sample.mean + half)


def proportion_difference(x1: int, n1: int, x2: int, n2: int, z: float = Z95) -> Estimate:
    """Return p1 − p2 with a normal interval on the unpooled standard error."""
    if n1 <= 0 or n2 <= 0:
        return Estimate(None)
    p1, p2 = x1 / n1, x2 / n2
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    return Estimate(p1 - p2, p1 - p2 - z * se, p1 - p2 + z * se)


def welch_difference(first: Moments, second: Moments) -> Estimate:
    """Return mean1 − mean2 with Welch's t interval (Welch–Satterthwaite degrees of freedom)."""
    if first.n <= 0 or second.n <= 0:
        return Estimate(None)
    diff = first.mean - second.mean
    if first.n < 2 or second.n < 2:
        return Estimate(diff)
    a, b = first.variance / first.n, second.variance / second.n
    if a + b == 0:
        return Estimate(diff, diff, diff)
    df = (a + b) ** 2 / (a * a / (first.n - 1) + b * b / (second.n - 1))
    half = t_quantile(0.5 + CONFIDENCE / 2, df) * math.sqrt(a + b)
    return Estimate(diff, diff - half, diff + half)


def too_small(treatment: ArmTotals, control: ArmTotals) -> bool:
    """Tell whether either arm has under 30 visitors or under 5 converters."""
    return any(
        arm.visitors < MIN_VISITORS or arm.converters < MIN_CONVERSIONS
        for arm in (treatment, control)
    )


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


def uplift_report(treatment: ArmTotals, control: ArmTotals) -> dict[str, Any]:
    """Treatment minus control for the three metrics, each with its interval."""
    rate = proportion_difference(
        treatment.converters, treatment.visitors, control.converters, control.visitors
    )
    return {
        "conversion_rate": _with_verdict(rate),
        "aov_cents": _with_verdict(
            welch_difference(treatment.order_moments, control.order_moments)
        ),
        "revenue_per_visitor_cents": _with_verdict(
            welch_difference(treatment.visitor_moments, control.visitor_moments)
        ),
    }


def combine(arms: list[ArmTotals]) -> ArmTotals:
    """Pool arms of several personas (sums of counts, sums and squares all add up)."""
    fields = ArmTotals.__dataclass_fields__
    return ArmTotals(**{name: sum(getattr(arm, name) for arm in arms) for name in fields})


def comparison(treatment: ArmTotals, control: ArmTotals) -> dict[str, Any]:
    """Both arms' metrics, the uplift and whether the sample is too small to say anything."""
    return {
        "arms": {"treatment": arm_report(treatment), "control": arm_report(control)},
        "uplift": uplift_report(treatment, control),
        "too_small": too_small(treatment, control),
    }


def _with_verdict(estimate: Estimate) -> dict[str, Any]:
    # "significant" only means the interval leaves out zero; the page says so in words.
    result: dict[str, Any] = estimate.to_dict()
    low, high = estimate.low, estimate.high
    result["significant"] = low is not None and high is not None and (low > 0 or high < 0)
    return result


# Student t quantiles without SciPy: the CDF from the regularized incomplete beta function,
# inverted by bisection; the Cornish–Fisher series for large degrees of freedom.


def t_quantile(p: float, df: float) -> float:
    """Return the p-quantile (0.5 ≤ p < 1) of Student's t with `df` > 0 degrees of freedom.

    Relative error under 1e-8 for p ≥ 0.6 (checked against SciPy); the intervals use 0.975.
    """
    if not 0.5 <= p < 1 or df <= 0:
        raise ValueError("need 0.5 <= p < 1 and df > 0")
    if p == 0.5:
        return 0.0
    if df > _SERIES_DF:
        return _cornish_fisher(NormalDist().inv_cdf(p), df)
    # Newton's method from the series' guess, kept inside a shrinking bracket (bisecting
    # whenever a step would leave it), so heavy tails at small df cannot make it diverge.
    low, high = 0.0, 1.0
    while _t_cdf(high, df) < p:
        low, high = high, high * 2
    guess = min(max(_cornish_fisher(NormalDist().inv_cdf(p), df), low), high)
    log_norm = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    for _ in range(100):
        error = _t_cdf(guess, df) - p
        if error < 0:
            low = guess
        else:
            high = guess
        density = math.exp(log_norm - (df + 1) / 2 * math.log1p(guess * guess / df))
        step = guess - error / density
        previous, guess = guess, step if low < step < high else (low + high) / 2
        if abs(guess - previous) < 1e-12 * max(1.0, guess):
            break
    return guess


def _t_cdf(t: float, df: float) -> float:
    return 1 - 0.5 * _incomplete_beta(df / 2, 0.5, df / (df + t * t))


def _cornish_fisher(z: float, df: float) -> float:
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b) (continued fraction, Numerical Recipes §6.4)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1 - math.exp(log_front) * _beta_fraction(b, a, 1 - x) / b


def _beta_fraction(a: float, b: float, x: float) -> float:
    tiny, eps = 1e-300, 1e-15
    c, d = 1.0, 1 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 500):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1) < eps:
            break
    return result
