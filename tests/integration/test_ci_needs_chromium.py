"""Under CI (`CI=true`) a missing Chromium fails the run; elsewhere the browser tests are
skipped, and the run says so. (.ci/run, for its part, stops when it cannot install Chromium.)"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from server.settings import REPO_ROOT

pytestmark = pytest.mark.slow  # each case is a pytest run of its own (seconds of imports)
BROWSER_TESTS = ["tests/e2e/test_shopping.py", "tests/security/test_xss_browser.py"]
NO_CHROMIUM = "/nonexistent/chromium"


def pytest_run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """pytest in a child process with this environment (CI unset unless given)."""
    environ = {key: value for key, value in os.environ.items() if key != "CI"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=REPO_ROOT, env={**environ, **env}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.mark.parametrize("path", BROWSER_TESTS)
def test_under_ci_a_missing_chromium_fails_the_run(path: str) -> None:
    run = pytest_run("--collect-only", "-q", path, CI="true", VITRINE_CHROMIUM=NO_CHROMIUM)
    assert run.returncode == pytest.ExitCode.USAGE_ERROR, run.stdout[-2000:] + run.stderr[-2000:]
    assert f"CI: no Chromium at {NO_CHROMIUM}" in run.stdout + run.stderr


def test_elsewhere_the_browser_tests_are_skipped_and_the_run_says_so() -> None:
    run = pytest_run("-q", "-rs", *BROWSER_TESTS, VITRINE_CHROMIUM=NO_CHROMIUM)
    assert run.returncode == pytest.ExitCode.OK, run.stdout[-2000:] + run.stderr[-2000:]
    assert f"CHROMIUM NOT FOUND at {NO_CHROMIUM}" in run.stdout
    assert "END-TO-END BROWSER TESTS SKIPPED" in run.stdout
    assert " passed" not in run.stdout and "4 skipped" in run.stdout
