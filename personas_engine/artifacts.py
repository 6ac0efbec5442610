"""Versioned model artifacts on disk: var/models/<version>/{model,metrics,features}.json.

`latest` (a one-line file beside the versions) names the version to serve; without it the
newest version directory wins (names start with the training date).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from personas_engine.catalog import REPO_ROOT
from personas_engine.model import PersonaModel

DEFAULT_MODELS_DIR = REPO_ROOT / "var" / "models"
LATEST = "latest"


def save_model(model: PersonaModel, models_dir: Path = DEFAULT_MODELS_DIR) -> Path:
    """Write the model's artifact directory and point `latest` at it; return the directory."""
    target = models_dir / model.version
    target.mkdir(parents=True, exist_ok=True)
    _write_json(target / "model.json", model.to_json())
    _write_json(target / "metrics.json", model.metrics)
    features = {
        "names": list(model.feature_names),
        "classes": list(model.classes),
        "params": model.params,
    }
    _write_json(target / "features.json", features)
    _write_text(models_dir / LATEST, model.version + "\n")
    return target


def resolve_version(models_dir: Path = DEFAULT_MODELS_DIR, version: str = LATEST) -> str | None:
    """Return the version directory name that `version` designates, or None if there is none."""
    if version != LATEST:
        return version if (models_dir / version / "model.json").is_file() else None
    pointer = models_dir / LATEST
    if pointer.is_file():
        named = pointer.read_text(encoding="utf-8").strip()
        if named and (models_dir / named / "model.json").is_file():
            return named
    if not models_dir.is_dir():
        return None
    versions = sorted(p.name for p in models_dir.iterdir() if (p / "model.json").is_file())
    return versions[-1] if versions else None


def load_model(models_dir: Path = DEFAULT_MODELS_DIR, version: str = LATEST) -> PersonaModel:
    """Load a model artifact (`latest` by default)."""
    resolved = resolve_version(models_dir, version)
    if resolved is None:
        raise FileNotFoundError(f"no persona model {version!r} under {models_dir}")
    folder = models_dir / resolved
    data = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    metrics_path = folder / "metrics.json"
    metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.is_file() else {}
    features_path = folder / "features.json"
    model = PersonaModel.from_json(data, metrics)
    if features_path.is_file():
        model.params = json.loads(features_path.read_text(encoding="utf-8")).get("params", {})
    return model


def _write_json(path: Path, data: Any) -> None:
    _write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def _write_text(path: Path, text: str) -> None:
    # Write then rename, so a server reading `latest` never sees half a file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
