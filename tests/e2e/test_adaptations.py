"""Live adaptations in Chromium (treatment arm forced): coupon, express checkout, opt-out."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

from tests.e2e.test_personas import (
    browse_like_a_bargain_hunter,
    browse_like_a_hurried_shopper,
    linger_on_deals,
    persona_within_deadline,
)
from tests.support.checkout import place_order
from tests.support.live_server import ServerProcess

SERVER_ENV = {"VITRINE_EXPERIMENTS__FORCE_ARM": "treatment"}


async def test_bargain_hunter_gets_a_coupon_live_and_it_works_at_checkout(
    shop: ServerProcess, page: Any, artifacts: Path
) -> None:
    await browse_like_a_bargain_hunter(shop, page)
    # After the journey's last navigation, before the coupon: a marker on this document. If
    # the coupon came by a reload or a navigation, the marker would be gone with the document.
    marker = secrets.token_hex(8)
    await page.evaluate("(marker) => { window.__vitrineMarker = marker; }", marker)
    banner = page.locator('[data-adaptation="coupon"]')
    assert await banner.count() == 0, "the coupon was rendered with the page, not pushed"
    await linger_on_deals(page)
    await persona_within_deadline(page, "bargain_hunter")
    await banner.wait_for(timeout=10_000)  # pushed with the persona, no reload
    assert await page.evaluate("window.__vitrineMarker") == marker, "the page was reloaded"
    code = await banner.locator("[data-coupon-code]").get_attribute("data-coupon-code")
    assert code and code.startswith("DEAL-")
    assert await page.locator('[data-adaptation="deal-highlight"]').count() > 0
    await page.screenshot(path=str(artifacts / "adaptation-coupon.png"))

    await page.locator('article[data-product-id] [data-action="add-to-cart"]').first.click()
    await page.wait_for_function(
        "() => document.querySelector('[data-cart-count]')?.textContent.trim() === '1'"
    )
    await page.goto(shop.url + "/cart")
    before = float(await page.locator("[data-total]").first.get_attribute("data-total"))
    await page.fill('[data-field="coupon"]', code)
    await page.click('[data-action="apply-coupon"]')
    await page.wait_for_function(
        f"() => parseFloat(document.querySelector('[data-total]').dataset.total) < {before}"
    )
    await page.click('[data-action="checkout"]')
    await page.wait_for_url(re.compile(r"/checkout"))
    await place_order(page)
    paid = float(await page.locator("[data-total]").first.get_attribute("data-total"))
    assert paid == round(before - round(before * 0.15, 2), 2)
    assert code in await page.content()

    # Opting out removes every adaptation at once, and a reload keeps it off.
    await page.goto(shop.url + "/catalog")
    await page.locator('[data-adaptation="coupon"]').wait_for()
    await page.click('[data-action="personalization-opt-out"]')
    assert await page.locator("[data-adaptation]").count() == 0
    await page.wait_for_timeout(500)
    await page.reload()
    await page.wait_for_load_state("networkidle")
    assert await page.locator("[data-adaptation]").count() == 0
    assert await page.locator("body").get_attribute("data-persona") == "bargain_hunter"


async def test_hurried_shopper_checks_out_through_express_checkout(
    shop: ServerProcess, page: Any, artifacts: Path
) -> None:
    await browse_like_a_hurried_shopper(shop, page)
    await persona_within_deadline(page, "hurried")
    await page.goto(shop.url + "/product/p011")
    express = page.locator('[data-adaptation="express-checkout"] button')
    await express.wait_for()
    await page.screenshot(path=str(artifacts / "adaptation-express.png"))
    await express.click()
    await page.wait_for_url(re.compile(r"/checkout\?express=1"))
    await place_order(page)
    assert "p011" in await page.content() or await page.locator("a[href='/product/p011']").count()
