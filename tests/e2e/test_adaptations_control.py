"""The control arm (forced): the persona is still predicted and set, no adaptation shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from tests.e2e.conftest import ADMIN_PASSWORD, ADMIN_USER
from tests.e2e.test_personas import test_bargain_hunter as browse_like_a_bargain_hunter
from tests.support.admin_client import AdminClient
from tests.support.live_server import ServerProcess
from tests.support.polling import eventually

SERVER_ENV = {"VITRINE_EXPERIMENTS__FORCE_ARM": "control"}


async def coupon_would_have_shown(admin: AdminClient) -> bool:
    """Whether the coupon's counterfactual exposure is logged (the experiments recomputed now).

    The persona worker logs it for a control visitor right after the point where a treatment
    visitor's `adapt` push is sent: once it is stored, any push would have reached the page.
    """
    status, body = await admin._post_json("/admin/api/experiments/refresh", {})
    assert status == 200, body[:200]
    exposures = orjson.loads(body)["exposures"]
    return any(e["adaptation"] == "coupon" and e["control_counterfactual"] for e in exposures)


async def test_control_bargain_hunter_sees_no_adaptation(
    shop: ServerProcess, page: Any, artifacts: Path
) -> None:
    await browse_like_a_bargain_hunter(shop, page, artifacts)  # waits for data-persona
    assert await page.locator("body").get_attribute("data-arm") == "control"
    async with AdminClient(shop.url, ADMIN_USER, ADMIN_PASSWORD) as admin:
        await eventually(lambda: coupon_would_have_shown(admin), timeout=30, interval=0.5)
    assert await page.locator("[data-adaptation]").count() == 0
    await page.reload()
    assert await page.locator("body").get_attribute("data-persona") == "bargain_hunter"
    assert await page.locator("[data-adaptation]").count() == 0
