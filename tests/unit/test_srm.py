"""Sample-ratio mismatch: the chi-square by hand, the flag rate, and what it does to a row."""

from __future__ import annotations

import math

import numpy as np
import pytest

from server.domain import srm
from server.domain.experiment_fold import ExperimentFold
from server.domain.experiment_report import SUMMARY_VERSION, AnalysisPlan, Labels, build

LABELS = Labels(names={}, personas=("explorer", "hurried", "bargain_hunter"))


def test_chi_square_by_hand() -> None:
    # 940 : 60 against 90 : 10 of 1,000 → expected 900 : 100,
    #   χ² = 40²/900 + 40²/100 = 1.777… + 16 = 17.777…, p = erfc(√(χ²/2)) with 1 df.
    ratio = srm.check(940, 60, 0.10, 0.001)
    assert ratio.chi2 == pytest.approx(1600 / 900 + 16, rel=1e-12)
    assert ratio.p == pytest.approx(math.erfc(math.sqrt(ratio.chi2 / 2)), rel=1e-9)
    assert ratio.mismatch and ratio.observed_control_share == pytest.approx(0.06)


def test_a_60_40_split_at_a_configured_90_10_is_flagged() -> None:
    rng = np.random.default_rng(3)
    flagged = 0
    for _ in range(1000):
        control = int(rng.binomial(500, 0.40))
        flagged += srm.check(500 - control, control, 0.10, 0.001).mismatch
    assert flagged == 1000


def test_a_correct_split_is_not_flagged_in_99_percent_of_runs() -> None:
    rng = np.random.default_rng(4)
    for share, visitors in ((0.10, 2000), (0.50, 600), (0.10, 80)):
        flags = 0
        for _ in range(1000):
            control = int(rng.binomial(visitors, share))
            flags += srm.check(visitors - control, control, share, 0.001).mismatch
        assert flags <= 10, (share, visitors, flags)


def test_no_test_without_visitors_or_with_an_empty_arm_by_design() -> None:
    assert srm.check(0, 0, 0.1, 0.001).p is None
    assert not srm.check(100, 0, 0.0, 0.001).mismatch


def _summary(fold: ExperimentFold) -> dict[str, object]:
    return {"version": SUMMARY_VERSION, **fold.to_summary(10**12)}


def test_a_mismatched_row_gets_no_verdict_however_large_its_effect() -> None:
    fold = ExperimentFold()
    # Explorers: 160 treatment visitors who all buy, 40 control who never do, at a
    # configured 90/10 split: an enormous uplift on a broken split (20 % control).
    for arm, buys, count in (("treatment", True, 160), ("control", False, 40)):
        for _ in range(count):
            orders = [(0, 1000)] if buys else []
            fold.add("explorer", arm, 0, orders)
            fold.add("all", arm, 0, orders)
    # Hurried shoppers on a correct split, in the overall row too (so it stays near 90/10).
    for i in range(8000):
        arm = "control" if i % 10 == 0 else "treatment"
        fold.add("hurried", arm, 0, [(0, 1000)] if i % 3 == 0 else [])
        fold.add("all", arm, 0, [(0, 1000)] if i % 3 == 0 else [])
    report = build(_summary(fold), AnalysisPlan(holdout_fraction=0.10), LABELS)
    rows = {row["persona"]: row for row in report["personas"]}
    explorer = rows["explorer"]
    assert explorer["srm"]["mismatch"] and explorer["state"] == "srm"
    assert "Sample ratio mismatch" in explorer["note"]
    assert explorer["uplift"]["conversion_rate"]["p_adjusted"] is None  # left out of the family
    hurried = rows["hurried"]
    assert hurried["state"] in ("verdict", "not_yet") and not hurried["srm"]["mismatch"]
    assert report["srm"]["mismatch"] is False


def test_an_overall_mismatch_voids_the_overall_row_not_a_persona_split_correctly() -> None:
    fold = ExperimentFold()
    for i in range(3000):
        arm = "control" if i % 10 == 0 else "treatment"
        fold.add("all", arm, 0, [(0, 500)] if i % 4 == 0 else [])
        fold.add("hurried", arm, 0, [(0, 500)] if i % 4 == 0 else [])
    for _ in range(600):  # explorers, all in control: tracking broken in one arm
        fold.add("all", "control", 0, [])
        fold.add("explorer", "control", 0, [])
    report = build(_summary(fold), AnalysisPlan(holdout_fraction=0.10), LABELS)
    rows = {row["persona"]: row for row in report["personas"]}
    assert report["srm"]["mismatch"] and report["srm"] == rows["all"]["srm"]
    assert rows["all"]["state"] == rows["explorer"]["state"] == "srm"
    assert rows["hurried"]["state"] != "srm"
