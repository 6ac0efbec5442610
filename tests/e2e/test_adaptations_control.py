"""The control arm (forced): the persona is still predicted and set, no adaptation shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.test_personas import test_bargain_hunter as browse_like_a_bargain_hunter
from tests.support.live_server import ServerProcess

SERVER_ENV = {"VITRINE_EXPERIMENTS__FORCE_ARM": "control"}


async def test_control_bargain_hunter_sees_no_adaptation(
    shop: ServerProcess, page: Any, artifacts: Path
) -> None:
    await browse_like_a_bargain_hunter(shop, page, artifacts)  # waits for data-persona
    assert await page.locator("body").get_attribute("data-arm") == "control"
    await page.wait_for_timeout(3000)  # time enough for an adapt push, if one came
    assert await page.locator("[data-adaptation]").count() == 0
    await page.reload()
    assert await page.locator("body").get_attribute("data-persona") == "bargain_hunter"
    assert await page.locator("[data-adaptation]").count() == 0
