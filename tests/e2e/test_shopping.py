"""A shopper in Chromium: browse, filter, sort, open a product, buy it, see the confirmation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.support.checkout import place_order
from tests.support.live_server import ServerProcess

GRACE = {
    "name": "Grace Hopper", "email": "grace@example.org", "address": "1 Compiler Way",
    "city": "Arlington", "zip": "22201", "country": "United States",
}  # fmt: skip


async def test_browse_filter_sort_buy_and_confirm(
    shop: ServerProcess, page: Any, artifacts: Path
) -> None:
    await page.goto(shop.url + "/catalog")
    await page.select_option('[data-action="sort"]', "price_asc")
    await page.wait_for_url(re.compile(r"sort=price_asc"))
    prices = [float(p) for p in await page.locator("article[data-product-id] [data-price]")
              .evaluate_all("els => els.map(e => e.dataset.price)")]  # fmt: skip
    assert prices == sorted(prices) and len(prices) > 3

    await page.click('[data-filter="on-sale"]')
    await page.wait_for_url(re.compile(r"on_sale=1"))
    cards = page.locator("article[data-product-id]")
    assert await cards.count() > 0
    assert await cards.locator("[data-discount]").count() == await cards.count()

    product_id = await cards.first.get_attribute("data-product-id")
    await cards.first.locator("a").first.click()
    await page.wait_for_url(re.compile(rf"/product/{product_id}"))
    root = page.locator("[data-product-id][data-category]")
    unit_price = float(await root.locator("[data-price]").first.get_attribute("data-price"))

    await page.click('[data-product-id][data-category] [data-action="add-to-cart"]')
    await page.wait_for_function(
        "() => document.querySelector('[data-cart-count]')?.textContent.trim() === '1'"
    )
    await page.goto(shop.url + "/cart")
    quantity = page.locator(f'[data-cart-item="{product_id}"] input[type="number"]')
    await quantity.fill("2")
    await quantity.dispatch_event("change")
    expected_total = f"{unit_price * 2:.2f}"
    await page.wait_for_function(
        f"() => document.querySelector('[data-total]')?.dataset.total === '{expected_total}'"
    )

    await page.click('[data-action="checkout"]')
    await page.wait_for_url(re.compile(r"/checkout"))
    await place_order(page, GRACE)
    assert await page.locator("[data-total]").first.get_attribute("data-total") == expected_total
    await page.screenshot(path=str(artifacts / "shopping-confirmation.png"), full_page=True)
    assert page.console_errors == []
