"""Three fresh shoppers in Chromium, no reload: each gets the persona their behaviour shows."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.support.live_server import ServerProcess

PERSONA_DEADLINE_MS = 30_000


async def persona_within_deadline(page: Any, persona: str) -> None:
    await page.wait_for_selector(f'body[data-persona="{persona}"]', timeout=PERSONA_DEADLINE_MS,
                                 state="attached")  # fmt: skip


async def wander(page: Any, x: int, y: int, steps: int = 12) -> None:
    await page.mouse.move(x, y, steps=steps)
    await asyncio.sleep(0.2)


async def test_bargain_hunter(shop: ServerProcess, page: Any, artifacts: Path) -> None:
    await page.goto(shop.url + "/catalog")
    await wander(page, 400, 300)
    await page.select_option('[data-action="sort"]', "price_asc")
    await page.wait_for_url("**sort=price_asc**")
    await page.click('[data-filter="on-sale"]')
    await page.wait_for_url("**on_sale=1**")
    badges = page.locator("article[data-product-id] [data-discount]")
    for index in range(min(4, await badges.count())):
        await badges.nth(index).hover()
        await asyncio.sleep(1.2)
        await page.mouse.move(5, 5)
    await page.select_option('[data-action="sort"]', "discount")
    await page.wait_for_url("**sort=discount**")
    for index in range(3):
        await page.locator("article[data-product-id] [data-discount]").nth(index).hover()
        await asyncio.sleep(1.0)
    await persona_within_deadline(page, "bargain_hunter")
    await page.screenshot(path=str(artifacts / "persona-bargain-hunter.png"))


async def test_hurried(shop: ServerProcess, page: Any) -> None:
    await browse_like_a_hurried_shopper(shop, page)
    await persona_within_deadline(page, "hurried")


async def browse_like_a_hurried_shopper(shop: ServerProcess, page: Any) -> None:
    """Straight to a product, into the cart, on to checkout."""
    await page.goto(shop.url + "/product/p010")
    await page.mouse.move(640, 400, steps=4)
    await page.click('[data-product-id][data-category] [data-action="add-to-cart"]')
    await page.wait_for_function(
        "() => document.querySelector('[data-cart-count]')?.textContent.trim() === '1'"
    )
    await page.click('a[href="/cart"]')
    await page.wait_for_url("**/cart")
    await page.click('[data-action="checkout"]')
    await page.wait_for_url("**/checkout")
    await page.mouse.move(500, 300, steps=4)


async def test_explorer(shop: ServerProcess, page: Any) -> None:
    for product in ("p003", "p015", "p027", "p041", "p052", "p066"):
        await page.goto(f"{shop.url}/product/{product}")
        await wander(page, 300, 300)
        for _ in range(6):
            await page.mouse.wheel(0, 500)
            await asyncio.sleep(0.35)
        await page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        await wander(page, 700, 500)
        await asyncio.sleep(1.5)
        if await page.locator('body[data-persona="explorer"]').count():
            break
    await persona_within_deadline(page, "explorer")
