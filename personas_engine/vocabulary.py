"""Persona ids and their labels, defined once for the engine, the server and the admin pages."""

from __future__ import annotations

from typing import Final

PERSONAS: Final = ("explorer", "hurried", "bargain_hunter")
UNKNOWN: Final = "unknown"

LABELS: Final[dict[str, dict[str, str]]] = {
    "explorer": {"en": "Explorer", "fr": "Découvreur"},
    "hurried": {"en": "Hurried", "fr": "Précipité"},
    "bargain_hunter": {"en": "Bargain hunter", "fr": "Chercheur de bonnes affaires"},
    UNKNOWN: {"en": "Unknown", "fr": "Inconnu"},
}


def label(persona: str, lang: str = "en") -> str:
    """Return the display label of a persona id in English or French."""
    labels = LABELS.get(persona)
    if labels is None:
        raise ValueError(f"unknown persona id {persona!r}")
    return labels.get(lang, labels["en"])
