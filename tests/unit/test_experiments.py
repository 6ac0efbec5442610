"""Sticky experiment arms from a hash of the visitor id."""

from __future__ import annotations

import secrets

from server.domain.experiments import assign_arm


def test_arm_is_deterministic() -> None:
    vid = "abcdEFGH1234_-xy"
    assert {assign_arm(vid, 0.1) for _ in range(5)} == {assign_arm(vid, 0.1)}


def test_holdout_fraction_within_one_point_over_100k_ids() -> None:
    ids = [secrets.token_urlsafe(16) for _ in range(100_000)]
    for fraction in (0.10, 0.5):
        control = sum(assign_arm(vid, fraction) == "control" for vid in ids)
        assert abs(control / len(ids) - fraction) <= 0.01


def test_forced_arm_and_extremes() -> None:
    assert assign_arm("someone", 0.1, force="control") == "control"
    assert assign_arm("someone", 0.0) == "treatment"
    assert assign_arm("someone", 1.0) == "control"
