"""Zone attribution in Chromium: a shopper sees the home page's deals row, clicks a tile
there, buys that product; the zone's views, clicks and revenue rise by exactly that."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from tests.e2e.conftest import ADMIN_PASSWORD, ADMIN_USER
from tests.support.admin_client import AdminClient
from tests.support.checkout import place_order
from tests.support.live_server import ServerProcess
from tests.support.polling import eventually


@pytest.fixture
async def admin(shop: ServerProcess) -> AsyncIterator[AdminClient]:
    async with AdminClient(shop.url, ADMIN_USER, ADMIN_PASSWORD) as client:
        yield client


async def deals_zone(admin: AdminClient, arm: str) -> dict[str, Any]:
    status, body = await admin._get(f"/admin/api/zones?page=/&arm={arm}")
    assert status == 200, body
    rows = {row["zone"]: row for row in orjson.loads(body)["zones"]}
    return rows.get("deals", {"views": 0, "clicks": 0, "orders": 0, "revenue_cents": 0})


async def test_an_order_of_a_deals_tile_product_credits_the_deals_zone(
    shop: ServerProcess, page: Any, admin: AdminClient
) -> None:
    await page.goto(shop.url + "/")
    arm = await page.evaluate("() => document.body.dataset.arm")
    before = await deals_zone(admin, arm)
    deals = page.locator('[data-zone="deals"]')
    await deals.scroll_into_view_if_needed()
    await page.wait_for_timeout(1500)  # half in view for a second: a zone view
    tile = deals.locator("article[data-product-id]").first
    product_id = await tile.get_attribute("data-product-id")
    await tile.locator(".product-card__name a").click()
    await page.wait_for_url(re.compile(rf"/product/{product_id}"))
    await page.click('[data-product-id][data-category] [data-action="add-to-cart"]')
    await page.wait_for_function(
        "() => document.querySelector('[data-cart-count]')?.textContent.trim() === '1'"
    )
    await page.goto(shop.url + "/checkout")
    await place_order(page)
    total = round(float(await page.locator("[data-total]").first.get_attribute("data-total")) * 100)

    async def credited() -> dict[str, Any] | None:
        now = await deals_zone(admin, arm)
        return now if now["revenue_cents"] > before["revenue_cents"] else None

    after = await eventually(credited, timeout=60)
    assert after["revenue_cents"] - before["revenue_cents"] == total
    assert after["orders"] - before["orders"] == 1
    assert after["clicks"] - before["clicks"] == 1
    assert after["views"] - before["views"] == 1
    other = "control" if arm == "treatment" else "treatment"
    assert (await deals_zone(admin, other))["revenue_cents"] == 0  # under the visit's arm only
