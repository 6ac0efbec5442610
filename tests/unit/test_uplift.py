"""Uplift statistics against an example worked by hand, plus the edges and the warning rule."""

from __future__ import annotations

import math

import pytest

from server.domain.uplift import (
    Z95,
    ArmTotals,
    Difference,
    Moments,
    arm_report,
    combine,
    differences,
    mean_interval,
    proportion_difference,
    too_small,
    welch_difference,
    wilson,
)

# The worked example (amounts are small whole numbers so the arithmetic fits a comment).
#
# Treatment: 16 visitors. Six bought; one of them twice (40 and 60), so 7 orders:
#   orders  20 20 40 50 50 40 60        Σ = 280   Σ² = 12 600
#   revenue per visitor 20 20 40 50 50 100 and ten 0s: Σ = 280, Σ² = 17 400
# Control: 9 visitors, three bought once each:
#   orders  20 30 40                     Σ = 90    Σ² = 2 900 (and the same per visitor)
TREATMENT = ArmTotals(
    visitors=16, converters=6, orders=7, revenue=280, order_squares=12_600, visitor_squares=17_400
)
CONTROL = ArmTotals(
    visitors=9, converters=3, orders=3, revenue=90, order_squares=2_900, visitor_squares=2_900
)

# Constants from any table: z(0.975) and Student t(0.975; df).
Z = 1.959963984540054  # z² = 3.841458820694125
T_975 = {2: 4.302652729749462, 6: 2.446911851144979, 8: 2.306004135204166,
         15: 2.131449545559776, 23: 2.068657610419049}  # fmt: skip
TOL = 1e-6


def arms_of(treatment: ArmTotals, control: ArmTotals) -> dict[str, dict[str, object]]:
    return {"treatment": arm_report(treatment), "control": arm_report(control)}


def fixed_uplift(treatment: ArmTotals, control: ArmTotals) -> dict[str, dict[str, float | None]]:
    """The fixed-horizon uplift of each metric, as {value, low, high, p}."""
    out = {}
    for metric, diff in differences(treatment, control).items():
        estimate, p = diff.fixed()
        out[metric] = {**estimate.to_dict(), "p": p}
    return out


def close(estimate: dict[str, float | None], value: float, low: float, high: float) -> None:
    assert estimate["value"] == pytest.approx(value, abs=TOL)
    assert estimate["low"] == pytest.approx(low, abs=TOL)
    assert estimate["high"] == pytest.approx(high, abs=TOL)


def test_conversion_rates_are_wilson_intervals() -> None:
    report = arms_of(TREATMENT, CONTROL)
    # Wilson: centre = (p + z²/2n) / (1 + z²/n), half = z/(1 + z²/n) · √(p(1−p)/n + z²/4n²)
    # Treatment p = 6/16 = 0.375, z²/n = 0.240091176:
    #   centre = (0.375 + 0.120045588) / 1.240091176 = 0.399200960
    #   half   = 1.580499904 · √(0.0146484375 + 0.0037514246) = 0.214388634
    close(report["treatment"]["conversion_rate"], 0.375, 0.184812326, 0.613589595)
    # Control p = 3/9 = 0.333333333, z²/n = 0.426828758:
    #   centre = (0.333333333 + 0.213414379) / 1.426828758 = 0.383190841
    #   half   = 1.373650463 · √(0.024691358 + 0.011856354) = 0.262607023
    close(report["control"]["conversion_rate"], 1 / 3, 0.120583818, 0.645797864)


def test_average_order_value_and_revenue_per_visitor_are_t_intervals() -> None:
    report = arms_of(TREATMENT, CONTROL)
    # s² = (n·Σx² − (Σx)²) / (n(n−1)), half = t(0.975; n−1) · √(s²/n)
    # Treatment AOV: mean 280/7 = 40, s² = (88 200 − 78 400)/42 = 233.333,
    #   se = √(233.333/7) = 5.773502692, half = 2.446911851 · 5.773502692 = 14.127252159
    close(report["treatment"]["aov_cents"], 40, 25.872747841, 54.127252159)
    # Treatment revenue/visitor: mean 280/16 = 17.5, s² = (278 400 − 78 400)/240 = 833.333,
    #   se = √(833.333/16) = 7.216878365, half = 2.131449546 · 7.216878365 = 15.382412111
    close(report["treatment"]["revenue_per_visitor_cents"], 17.5, 2.117587889, 32.882412111)
    # Control AOV: mean 30, s² = (8 700 − 8 100)/6 = 100, se = √(100/3) = 5.773502692,
    #   half = 4.302652730 · 5.773502692 = 24.841377118
    close(report["control"]["aov_cents"], 30, 5.158622882, 54.841377118)
    # Control revenue/visitor: mean 90/9 = 10, s² = (26 100 − 8 100)/72 = 250,
    #   se = √(250/9) = 5.270462767, half = 2.306004135 · 5.270462767 = 12.153708935
    close(report["control"]["revenue_per_visitor_cents"], 10, -2.153708935, 22.153708935)


def test_uplift_is_treatment_minus_control_with_its_interval() -> None:
    uplift = fixed_uplift(TREATMENT, CONTROL)
    # Conversion, unpooled: diff = 0.375 − 0.333333 = 0.041666667,
    #   se = √(0.375·0.625/16 + (1/3)(2/3)/9) = √(0.0146484375 + 0.0246913580) = 0.198342622,
    #   half = 1.959963985 · 0.198342622 = 0.388743395
    close(uplift["conversion_rate"], 1 / 24, -0.347077728, 0.430411062)
    # AOV, Welch: a = 233.333/7 = 33.333, b = 100/3 = 33.333, se = √66.667 = 8.164965809,
    #   df = (a+b)² / (a²/6 + b²/2) = 4/(1/6 + 1/2) = 6, half = 2.446911851 · se = 19.978951603
    close(uplift["aov_cents"], 10, -9.978951603, 29.978951603)
    # Revenue/visitor, Welch: a = 625/12 = 52.083333, b = 250/9 = 27.777778,
    #   se = √(2875/36) = 8.936504412,
    #   df = 79.861111² / (52.083333²/15 + 27.777778²/8) = 6377.797068 / 277.295525 = 23,
    #   half = 2.068657610 · 8.936504412 = 18.486567863
    close(uplift["revenue_per_visitor_cents"], 7.5, -10.986567863, 25.986567863)
    # Two-sided p-values of the same tests: 2·(1 − Φ(0.041667/0.198343)) and Welch's t.
    z = (1 / 24) / 0.198342622
    assert uplift["conversion_rate"]["p"] == pytest.approx(math.erfc(z / math.sqrt(2)), abs=1e-8)
    assert all(metric["p"] > 0.05 for metric in uplift.values())


def test_the_building_blocks_agree_with_the_example() -> None:
    assert Z95 == pytest.approx(Z, abs=1e-12)
    # The fixed interval's half-width divided by the standard error is t(0.975; df).
    for df, value in T_975.items():
        interval, _ = Difference(0.0, 1.0, df).fixed()
        assert interval.high == pytest.approx(value, abs=1e-9)
    welch = welch_difference(Moments(16, 280, 17_400), Moments(9, 90, 2_900))
    assert welch.value == pytest.approx(7.5)
    assert welch.se == pytest.approx(math.sqrt(2875 / 36), abs=TOL)
    assert welch.df == pytest.approx(23, abs=1e-6)
    interval, _ = welch.fixed()
    assert interval.high == pytest.approx(7.5 + T_975[23] * math.sqrt(2875 / 36), abs=TOL)


def test_wilson_edges_stay_inside_zero_and_one() -> None:
    none = wilson(0, 20)
    assert none.value == 0 and none.low == 0
    # x = 0: upper = (z²/n) / (1 + z²/n) = 0.192072941 / 1.192072941 = 0.161125158
    assert none.high == pytest.approx((Z * Z / 20) / (1 + Z * Z / 20), abs=1e-12)
    every = wilson(20, 20)
    assert every.value == 1 and every.high == 1
    assert every.low == pytest.approx(1 / (1 + Z * Z / 20), abs=1e-12)
    assert wilson(0, 0).value is None


def test_degenerate_samples_give_no_interval_rather_than_a_wrong_one() -> None:
    assert mean_interval(Moments(0, 0, 0)).value is None
    single = mean_interval(Moments(1, 42, 42 * 42))
    assert (single.value, single.low, single.high) == (42, None, None)
    flat, p = welch_difference(Moments(3, 30, 300), Moments(2, 10, 50)).fixed()
    assert (flat.value, flat.low, flat.high, p) == (5, 5, 5, None)
    assert welch_difference(Moments(1, 10, 100), Moments(5, 10, 30)).fixed()[0].low is None
    assert proportion_difference(1, 0, 1, 2).value is None
    empty = fixed_uplift(ArmTotals(), ArmTotals())
    assert too_small(ArmTotals(), ArmTotals()) and empty["conversion_rate"]["value"] is None
    assert welch_difference(Moments(3, 30, 300), Moments(2, 10, 50)).always_valid(5, 100)[1] is None


@pytest.mark.parametrize(
    ("treatment", "control", "expected"),
    [
        ((30, 5), (30, 5), False),  # exactly at the thresholds: enough
        ((29, 5), (300, 50), True),  # too few treatment visitors
        ((300, 50), (30, 4), True),  # too few control converters
        ((1000, 4), (1000, 80), True),
        ((1000, 80), (1000, 80), False),
    ],
)
def test_too_small_rule(
    treatment: tuple[int, int], control: tuple[int, int], expected: bool
) -> None:
    arms = [ArmTotals(visitors=v, converters=c) for v, c in (treatment, control)]
    assert too_small(*arms) is expected


def test_pooling_personas_adds_their_sums() -> None:
    pooled = combine([TREATMENT, CONTROL])
    assert pooled == ArmTotals(25, 9, 10, 370, 15_500, 20_300)
