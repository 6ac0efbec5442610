"""The checkout form in Chromium, as a shopper fills it in (the e2e tests that buy)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

SHIPPING = {
    "name": "Ada Lovelace", "email": "ada@example.org", "address": "12 Analytical Row",
    "city": "London", "zip": "NW1 2AB", "country": "United Kingdom",
}  # fmt: skip


async def place_order(page: Any, shipping: Mapping[str, str] = SHIPPING) -> str:
    """Fill the checkout's empty fields (express checkout prefills some), place the order and
    wait for its confirmation page; returns the order's URL."""
    for field, value in shipping.items():
        if await page.locator(f'[name="{field}"]').input_value() == "":
            await page.fill(f'[name="{field}"]', value)
    await page.click('[data-action="place-order"]')
    await page.wait_for_url(re.compile(r"/order/o[0-9a-f]+"))
    return str(page.url)
