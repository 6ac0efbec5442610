"""Settings for the apps and server processes tests start: each on its own database and key prefix.

This is the one place that reads `VITRINE_TEST_MONGODB_URI`: when it is set, every app and
server process of the run uses that MongoDB (each on a database of its own); otherwise the
embedded engine.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from server.settings import Settings, load_settings

REAL_MONGODB_URI = os.environ.get("VITRINE_TEST_MONGODB_URI", "")
MONGODB_URI = REAL_MONGODB_URI or "embedded"
# Tests browse without clicking a consent banner unless they ask for "ask" themselves.
CONSENT_GRANTED = {"consent_default": "granted"}
# For tests that send as fast as they can; the rate limits have tests of their own.
UNLIMITED = {
    "rate_limit_batches_per_second": 1e6,
    "rate_limit_burst": 1_000_000,
    "rate_limit_events_per_second": 1e8,
}


def unique_name(prefix: str = "t") -> str:
    """A fresh database name and key prefix (letters and digits)."""
    return prefix + uuid.uuid4().hex[:12]


def build_settings(
    name: str, var_dir: Path, models_dir: Path, redis_url: str, **sections: dict[str, Any]
) -> Settings:
    """Settings of an app of its own: database `name`, keys under `name:`, this run's MongoDB.

    `sections` override or add keys section by section, as `load_settings` takes them; the
    environment of the test run is not read.
    """
    base: dict[str, dict[str, Any]] = {
        "paths": {"var_dir": str(var_dir), "models_dir": str(models_dir)},
        "redis": {"url": redis_url, "key_prefix": f"{name}:"},
        "mongodb": {"uri": MONGODB_URI, "database": name},
        "security": {"secret_key": "test-secret-" + name},
    }
    for section, values in sections.items():
        base.setdefault(section, {}).update(values)
    return load_settings(environ={}, **base)


def server_env(
    name: str, var_dir: Path, models_dir: Path, redis_url: str, **extra: str
) -> dict[str, str]:
    """The environment of a `python -m server` process isolated as `build_settings` does."""
    return {
        "VITRINE_PATHS__VAR_DIR": str(var_dir),
        "VITRINE_PATHS__MODELS_DIR": str(models_dir),
        "VITRINE_REDIS__URL": redis_url,
        "VITRINE_REDIS__KEY_PREFIX": f"{name}:",
        "VITRINE_MONGODB__URI": MONGODB_URI,
        "VITRINE_MONGODB__DATABASE": name,
        "VITRINE_PRIVACY__CONSENT_DEFAULT": CONSENT_GRANTED["consent_default"],
        **extra,
    }
