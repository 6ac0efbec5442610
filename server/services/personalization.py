"""Personalization use cases: what a page starts from, and recommendations by persona."""

from __future__ import annotations

from typing import Any

from server.container import Services
from server.domain.catalog import Product
from server.domain.visitor import Visitor
from server.services.adaptation import build_adaptations, record_qualification
from server.services.personas import current_persona, viewed_categories

RECOMMENDATION_COUNT = 4
MESSAGES = {
    "explorer": "Something new to discover, from corners of the shop you have not seen yet.",
    "hurried": "Best sellers, ready to go.",
    "bargain_hunter": "The biggest discounts in the categories you like.",
    "unknown": "Popular right now.",
}


def message_for(persona: str) -> str:
    """The line shown above the recommendations."""
    return MESSAGES.get(persona, MESSAGES["unknown"])


async def recommend(shop: Services, vid: str, persona: str) -> list[Product]:
    """Products by persona and viewed categories, never items already in the cart."""
    in_cart, _ = await shop.carts.load(vid)
    seen = await viewed_categories(shop, vid)
    all_categories = [c["slug"] for c in await shop.catalog.categories()]
    if persona == "explorer":
        categories, sort = [c for c in all_categories if c not in seen] or all_categories, "popular"
    elif persona == "hurried":
        categories, sort = (seen[-1:] or all_categories), "popular"
    elif persona == "bargain_hunter":
        categories, sort = (seen or all_categories), "discount"
    else:
        categories, sort = all_categories, "popular"
    picks = await shop.catalog.top_in_categories(
        categories, sort, exclude=set(in_cart), limit=RECOMMENDATION_COUNT,
        one_per_category=persona == "explorer",
    )  # fmt: skip
    return picks


async def page_state(shop: Services, current: Visitor, path: str, *, opted: bool) -> dict[str, Any]:
    """What the page starts from: persona, reasons, arm and the adaptations to render.

    Qualifying here is logged in both arms (exposures, and the visitor's first trigger).
    `opted` is the visitor's opt-out as the request resolved it (consent included).
    """
    persona = await current_persona(shop, current.vid)
    adaptations = await build_adaptations(
        shop, current.vid, persona["persona"], current.arm, opted=opted
    )
    await record_qualification(
        shop, current.vid, current.session_id, persona["persona"], current.arm, path,
        opted=opted, built=[a["name"] for a in adaptations],
    )  # fmt: skip
    return {
        "persona": persona["persona"],
        "reasons": persona.get("reasons", []),
        "arm": current.arm,
        "opted_out": await shop.visitor_state.opted_out(current.vid),
        "adaptations": adaptations,
    }
