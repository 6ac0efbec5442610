"""Vitrine's persona engine: features, simulator, local model and live policy (pure Python)."""

from __future__ import annotations

from personas_engine.vocabulary import LABELS, PERSONAS, UNKNOWN, label

__all__ = ["LABELS", "PERSONAS", "UNKNOWN", "label"]
