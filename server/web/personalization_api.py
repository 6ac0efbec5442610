"""The shopper's side of personalization: recommendations, opt-out, and what the page shows."""

from __future__ import annotations

from typing import Any

from quart import Blueprint

from server.bootstrap import Services
from server.domain.catalog import Product, format_money
from server.domain.errors import InvalidInput
from server.domain.validation import require_object
from server.web.adaptation_service import (
    build_adaptations,
    opted_out,
    record_qualification,
    set_opt_out,
)
from server.web.common import json_response, read_json, services, visitor
from server.web.identity import Visitor
from server.web.personas_view import current_persona

blueprint = Blueprint("personalization", __name__)

RECOMMENDATION_COUNT = 4
MESSAGES = {
    "explorer": "Something new to discover, from corners of the shop you have not seen yet.",
    "hurried": "Best sellers, ready to go.",
    "bargain_hunter": "The biggest discounts in the categories you like.",
    "unknown": "Popular right now.",
}


async def viewed_categories(shop: Services, vid: str) -> list[str]:
    states = shop.extras.get("persona_states")
    if states is None:
        return []
    session_id = await states.current_session(vid)
    if not session_id:
        return []
    return list((await states.load([session_id]))[session_id].features.categories)


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


def product_card(product: Product) -> dict[str, Any]:
    return {
        "product_id": product.id,
        "name": product.name,
        "category": product.category,
        "price": format_money(product.unit_price_cents),
        "list_price": format_money(product.price_cents),
        "discount_percent": product.discount_percent,
        "image": product.image,
        "image_alt": product.image_alt,
        "url": f"/product/{product.id}",
    }


async def page_state(shop: Services, current: Visitor, path: str) -> dict[str, Any]:
    """What the page starts from: persona, reasons, arm and the adaptations to render.

    Qualifying here is logged in both arms (exposures, and the visitor's first trigger).
    """
    persona = await current_persona(shop, current.vid)
    opted = await opted_out(shop, current.vid)
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
        "opted_out": await shop.redis.exists(shop.key("optout", current.vid)) > 0,
        "adaptations": adaptations,
    }


@blueprint.get("/recommendations")
async def recommendations() -> Any:
    shop, current = services(), visitor()
    persona = (await current_persona(shop, current.vid))["persona"]
    products = await recommend(shop, current.vid, persona)
    adaptations = await build_adaptations(shop, current.vid, persona, current.arm)
    return json_response(
        {
            "persona": persona,
            "products": [product_card(p) for p in products],
            "adaptations": [a["name"] for a in adaptations],
            "message": MESSAGES.get(persona, MESSAGES["unknown"]),
        }
    )


@blueprint.post("/api/personalization")
async def personalization() -> Any:
    body = require_object(await read_json())
    opt_out = body.get("opt_out")
    if not isinstance(opt_out, bool):
        raise InvalidInput("invalid_field", "opt_out must be true or false")
    shop, current = services(), visitor()
    await set_opt_out(shop, current.vid, opt_out)
    persona = (await current_persona(shop, current.vid))["persona"]
    adaptations = await build_adaptations(shop, current.vid, persona, current.arm)
    return json_response({"opted_out": opt_out, "adaptations": adaptations})
