"""Security suite fixtures: the hostile-case counter and its report, Chromium for XSS checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from server.settings import REPO_ROOT
from tests.e2e import conftest as e2e
from tests.e2e.conftest import CHROMIUM, artifacts, browser, page, shop  # noqa: F401 (fixtures)
from tests.security.hostile import CASES

REPORT = REPO_ROOT / "var" / "artifacts" / "hostile_cases.json"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if Path(CHROMIUM).exists():
        return
    if any("security" in str(item.fspath) and "browser" in item.name for item in items):
        e2e.refuse_to_skip_under_ci()
    skip = pytest.mark.skip(reason=f"CHROMIUM NOT FOUND at {CHROMIUM}: browser test skipped")
    for item in items:
        if "security" in str(item.fspath) and "browser" in item.name:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print (and keep under var/artifacts) how many hostile cases this run generated."""
    if not CASES:
        return
    total = sum(CASES.values())
    terminalreporter.write_sep("=", f"hostile cases generated: {total}")
    for name, count in sorted(CASES.items()):
        terminalreporter.write_line(f"  {name:<40} {count:>7}")
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps({"total": total, "by_target": dict(sorted(CASES.items()))},
                                 indent=2) + "\n")  # fmt: skip
