"""End-to-end fixtures: the real server as a process, headless Debian Chromium via Playwright."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from server.adapters.embedded_valkey import EmbeddedValkey
from server.settings import REPO_ROOT
from tests.support.live_server import ServerProcess
from tests.support.settings import server_env

CHROMIUM = os.environ.get("VITRINE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--explicitly-allowed-ports=1-65535",
]  # fmt: skip
ARTIFACTS = REPO_ROOT / "var" / "artifacts"
ADMIN_USER = "e2e-admin"
ADMIN_PASSWORD = "e2e-password-123"


def refuse_to_skip_under_ci() -> None:
    """Under CI the browser tests are never skipped: no Chromium fails the run."""
    if os.environ.get("CI", "").lower() in ("1", "true"):
        raise pytest.UsageError(f"CI: no Chromium at {CHROMIUM} (apt-get install -y chromium)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if Path(CHROMIUM).exists():
        return
    refuse_to_skip_under_ci()
    skip = pytest.mark.skip(reason=f"CHROMIUM NOT FOUND at {CHROMIUM}: browser test skipped")
    for item in items:
        if "e2e" in str(item.fspath):
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not Path(CHROMIUM).exists():
        terminalreporter.write_sep(
            "!", f"END-TO-END BROWSER TESTS SKIPPED: no Chromium at {CHROMIUM}", red=True
        )


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
async def shop(
    valkey: EmbeddedValkey,
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
    models_dir: Path,
) -> AsyncIterator[ServerProcess]:
    """One real server process per test module (its own database and key prefix)."""
    name = "e2e" + request.module.__name__.rsplit(".", 1)[-1].replace("test_", "")[:20]
    var_dir = tmp_path_factory.mktemp(name)
    # Tests browse without clicking the consent banner (SERVER_ENV can say "ask").
    extra = getattr(request.module, "SERVER_ENV", {})
    env = server_env(name, var_dir, models_dir, valkey.url, VITRINE_ADMIN_USER=ADMIN_USER,
                     VITRINE_ADMIN_PASSWORD=ADMIN_PASSWORD, **extra)  # fmt: skip
    server = ServerProcess(env, var_dir / "server.log")
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        yield instance
        await instance.close()


@pytest.fixture
async def page(browser: Any) -> AsyncIterator[Any]:
    """A fresh browser context (a new visitor) and page; console errors are collected."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    tab = await context.new_page()
    tab.console_errors = []
    tab.on("pageerror", lambda error: tab.console_errors.append(str(error)))
    yield tab
    await context.close()
