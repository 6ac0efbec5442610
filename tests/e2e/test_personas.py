"""Three fresh shoppers in Chromium, no reload: each gets the persona their behaviour shows."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from tests.support.live_server import ServerProcess

PERSONA_DEADLINE_MS = 30_000


PREDICTION = """async () => {
  const vid = document.querySelector('meta[name="vitrine-vid"]')?.content;
  const reply = await fetch('/predict-persona/' + vid, { credentials: 'same-origin' });
  return { status: reply.status, body: await reply.json().catch(() => null) };
}"""


async def persona_within_deadline(page: Any, persona: str) -> None:
    """Wait for `body[data-persona=persona]`; a miss says what the page showed and why."""
    try:
        await page.wait_for_selector(f'body[data-persona="{persona}"]',
                                     timeout=PERSONA_DEADLINE_MS, state="attached")  # fmt: skip
    except Exception as error:  # playwright's TimeoutError
        shown = await page.evaluate("document.body.dataset.persona")
        prediction = json.dumps(await page.evaluate(PREDICTION), indent=1)
        raise AssertionError(
            f"no {persona!r} within {PERSONA_DEADLINE_MS / 1000:.0f} s: the page at {page.url} "
            f"shows {shown!r}; /predict-persona says {prediction}"
        ) from error


async def wander(page: Any, x: int, y: int, steps: int = 12) -> None:
    await page.mouse.move(x, y, steps=steps)
    await asyncio.sleep(0.2)


async def test_bargain_hunter(shop: ServerProcess, page: Any, artifacts: Path) -> None:
    await browse_like_a_bargain_hunter(shop, page)
    await linger_on_deals(page)
    await persona_within_deadline(page, "bargain_hunter")
    await page.screenshot(path=str(artifacts / "persona-bargain-hunter.png"))


async def browse_like_a_bargain_hunter(shop: ServerProcess, page: Any) -> None:
    """The catalog sorted by price, then on sale only, then by discount: the last navigation
    (what follows, `linger_on_deals`, stays on that page)."""
    await page.goto(shop.url + "/catalog")
    await wander(page, 400, 300)
    await page.select_option('[data-action="sort"]', "price_asc")
    await page.wait_for_url("**sort=price_asc**")
    await page.click('[data-filter="on-sale"]')
    await page.wait_for_url("**on_sale=1**")
    await page.select_option('[data-action="sort"]', "discount")
    await page.wait_for_url("**sort=discount**")


async def linger_on_deals(page: Any) -> None:
    """Rest the pointer on the discount badges, one after the other, without navigating."""
    badges = page.locator("article[data-product-id] [data-discount]")
    for index in range(min(4, await badges.count())):
        await badges.nth(index).hover()
        await asyncio.sleep(1.2)
        await page.mouse.move(5, 5)
    for index in range(4, min(7, await badges.count())):
        await badges.nth(index).hover()
        await asyncio.sleep(1.0)


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
