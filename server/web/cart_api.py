"""Cart and order JSON API (the seed's names). Prices always come from the server."""

from __future__ import annotations

import logging
from typing import Any

from quart import Blueprint

from server.domain.cart import MAX_QUANTITY, CartTotals
from server.domain.catalog import format_money
from server.domain.validation import read_int, read_product_id, read_str, require_object
from server.services import checkout
from server.services.personas import current_persona
from server.web.common import json_response, read_json, services, visitor
from server.web.privacy_api import request_consent
from server.web.rate_limits import rate_limited

blueprint = Blueprint("cart_api", __name__)
log = logging.getLogger(__name__)

# Wider than 1..99 so that 0, -1 and 100 reach the cart rule and get its message.
_QUANTITY_BOUNDS = {"minimum": -(2**31), "maximum": 2**31}


def cart_payload(totals: CartTotals, coupon_error: str | None = None) -> dict[str, Any]:
    """Describe a priced cart for the browser (cents and formatted amounts)."""
    return {
        "items": [
            {
                "product_id": line.product.id,
                "name": line.product.name,
                "quantity": line.quantity,
                "stock": line.product.stock,
                "unit_price_cents": line.unit_price_cents,
                "unit_price": format_money(line.unit_price_cents),
                "list_price": format_money(line.product.price_cents),
                "discount_percent": line.product.discount_percent,
                "line_total_cents": line.line_total_cents,
                "line_total": format_money(line.line_total_cents),
                "image": line.product.image,
            }
            for line in totals.lines
        ],
        "item_count": totals.item_count,
        "subtotal_cents": totals.subtotal_cents,
        "subtotal": format_money(totals.subtotal_cents),
        "product_discount": format_money(totals.product_discount_cents),
        "coupon": (
            {"code": totals.coupon.code, "percent_off": totals.coupon.percent_off}
            if totals.coupon
            else None
        ),
        "coupon_discount_cents": totals.coupon_discount_cents,
        "coupon_discount": format_money(totals.coupon_discount_cents),
        "coupon_error": coupon_error,
        "total_cents": totals.total_cents,
        "total": format_money(totals.total_cents),
        "max_quantity": MAX_QUANTITY,
    }


async def _cart_response(status: int = 200) -> Any:
    totals, coupon_error = await checkout.load_totals(services(), visitor().vid)
    return json_response(cart_payload(totals, coupon_error), status)


@blueprint.get("/api/cart")
async def get_cart() -> Any:
    return await _cart_response()


@blueprint.post("/add-to-cart")
async def add_to_cart() -> Any:
    body = require_object(await read_json())
    product_id = read_product_id(body)
    quantity = read_int(body, "quantity", **_QUANTITY_BOUNDS)
    assert quantity is not None
    await checkout.add_to_cart(services(), visitor().vid, product_id, quantity)
    return await _cart_response()


@blueprint.post("/update-cart")
async def update_cart() -> Any:
    body = require_object(await read_json())
    product_id = read_product_id(body)
    quantity = read_int(body, "quantity", **_QUANTITY_BOUNDS)
    assert quantity is not None
    await checkout.update_cart(services(), visitor().vid, product_id, quantity)
    return await _cart_response()


@blueprint.post("/remove-from-cart")
async def remove_from_cart() -> Any:
    body = require_object(await read_json())
    await checkout.remove_from_cart(services(), visitor().vid, read_product_id(body))
    return await _cart_response()


@blueprint.post("/apply-coupon")
@rate_limited("apply_coupon")
async def apply_coupon() -> Any:
    body = require_object(await read_json())
    code = read_str(body, "code", max_len=32)
    assert code is not None
    await checkout.apply_coupon(services(), visitor().vid, code)
    return await _cart_response()


@blueprint.post("/process-order")
@rate_limited("process_order")
async def process_order() -> Any:
    shipping, method, key = checkout.read_order_request(await read_json())
    current = visitor()
    persona = await current_persona(services(), current.vid)
    order, created = await checkout.process_order(
        services(), current, shipping, method, key, persona["persona"]
    )
    if (await request_consent()).analytics:
        # The zone report's revenue (server/domain/zones.py); again on a retried submit, in
        # case the first died before it (the stream keeps one per order).
        try:
            await services().pipeline.ingest.record_order(order, current.vid, order["session_id"])
        except Exception:  # the order is stored: a lost zone credit must not fail the answer
            log.warning("order %s not recorded for the zone report", order["_id"], exc_info=True)
    return json_response(
        {
            "order_id": order["_id"],
            "total_cents": order["total_cents"],
            "total": format_money(order["total_cents"]),
            "coupon": order.get("coupon"),
            "coupon_discount": format_money(order.get("coupon_discount_cents", 0)),
            "created": created,
            "url": f"/order/{order['_id']}",
        },
        201 if created else 200,
    )
