"""Sticky experiment arms: a hash of the visitor id decides, so no state is needed."""

from __future__ import annotations

import hashlib

ARMS = ("treatment", "control")


def assign_arm(vid: str, holdout_fraction: float, force: str = "") -> str:
    """Return "control" for a stable `holdout_fraction` of visitors, else "treatment"."""
    if force in ARMS:
        return force
    digest = hashlib.sha256(f"arm:{vid}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    return "control" if position < holdout_fraction else "treatment"
