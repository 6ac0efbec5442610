"""The shopper's side of personalization over HTTP: recommendations, opt-out, page state.

The rules live in server/services/personalization.py; this module reads the request's
visitor and consent, calls them and answers.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint

from server.container import Services
from server.domain.catalog import Product, format_money
from server.domain.errors import InvalidInput
from server.domain.validation import require_object
from server.domain.visitor import Visitor
from server.services import personalization as personalization_service
from server.services.adaptation import build_adaptations, set_opt_out
from server.services.personas import current_persona
from server.web.common import json_response, read_json, services, visitor
from server.web.privacy_api import request_opted_out

blueprint = Blueprint("personalization", __name__)


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
    """What the page starts from (persona, reasons, arm, adaptations); logs qualifying."""
    return await personalization_service.page_state(
        shop, current, path, opted=await request_opted_out(shop, current.vid)
    )


@blueprint.get("/recommendations")
async def recommendations() -> Any:
    shop, current = services(), visitor()
    persona = (await current_persona(shop, current.vid))["persona"]
    products = await personalization_service.recommend(shop, current.vid, persona)
    opted = await request_opted_out(shop, current.vid)
    adaptations = await build_adaptations(shop, current.vid, persona, current.arm, opted=opted)
    return json_response(
        {
            "persona": persona,
            "products": [product_card(p) for p in products],
            "adaptations": [a["name"] for a in adaptations],
            "message": personalization_service.MESSAGES.get(
                persona, personalization_service.MESSAGES["unknown"]
            ),
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
    opted = await request_opted_out(shop, current.vid)
    adaptations = await build_adaptations(shop, current.vid, persona, current.arm, opted=opted)
    return json_response({"opted_out": opt_out, "adaptations": adaptations})
