"""Cart and order use cases: load, validate, price on the server, store."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from server.adapters.shop_store import order_document
from server.container import Services
from server.domain.cart import CartTotals, add_quantity, price_cart, set_quantity
from server.domain.coupons import COUPON_CODE, Coupon, normalise_code
from server.domain.errors import Conflict, InvalidInput, Unprocessable, VitrineError
from server.domain.validation import TOKEN, read_str, require_object
from server.domain.visitor import Visitor

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}$")
ZIP = re.compile(r"^[A-Za-z0-9 -]{2,12}$")
PAYMENT_METHODS = ("card", "paypal", "invoice")
SHIPPING_FIELDS: dict[str, tuple[int, re.Pattern[str] | None]] = {
    "name": (100, None),
    "email": (254, EMAIL),
    "address": (200, None),
    "city": (100, None),
    "zip": (12, ZIP),
    "country": (56, None),
}


async def load_totals(services: Services, vid: str) -> tuple[CartTotals, str | None]:
    """Price the visitor's cart; a coupon that stopped being valid is dropped and reported."""
    items, code = await services.carts.load(vid)
    products = await services.catalog.get_many(items)
    totals = price_cart(items, products)
    if not code:
        return totals, None
    try:
        coupon = await services.coupons.validate(code, vid, totals.subtotal_cents)
    except VitrineError as error:
        # Drop it so the shopper is told once and can still check out.
        await services.carts.save(vid, items, None)
        return totals, error.code
    return price_cart(items, products, coupon), None


async def add_to_cart(services: Services, vid: str, product_id: str, quantity: int) -> None:
    items, coupon = await services.carts.load(vid)
    product = await services.catalog.get(product_id)
    await services.carts.save(vid, add_quantity(items, product, quantity), coupon)


async def update_cart(services: Services, vid: str, product_id: str, quantity: int) -> None:
    items, coupon = await services.carts.load(vid)
    product = await services.catalog.get(product_id)
    if product_id not in items:
        raise InvalidInput("not_in_cart", f"{product_id} is not in the cart")
    await services.carts.save(vid, set_quantity(items, product, quantity), coupon)


async def remove_from_cart(services: Services, vid: str, product_id: str) -> None:
    items, coupon = await services.carts.load(vid)
    await services.catalog.get(product_id)  # 404 for an unknown product
    items.pop(product_id, None)
    await services.carts.save(vid, items, coupon)


async def apply_coupon(services: Services, vid: str, raw_code: str) -> Coupon:
    code = normalise_code(raw_code)
    if not COUPON_CODE.fullmatch(code):
        raise InvalidInput("invalid_field", "code has an invalid format")
    items, _ = await services.carts.load(vid)
    totals = price_cart(items, await services.catalog.get_many(items))
    coupon = await services.coupons.validate(code, vid, totals.subtotal_cents)
    await services.carts.save(vid, items, coupon.code)
    return coupon


def read_order_request(body: Any) -> tuple[dict[str, str], str, str]:
    """Validate a /process-order body into (shipping, payment method, idempotency key)."""
    data = require_object(body)
    shipping_in = require_object(data.get("shipping"), "shipping")
    shipping = {
        key: str(read_str(shipping_in, key, pattern=pattern, max_len=max_len)).strip()
        for key, (max_len, pattern) in SHIPPING_FIELDS.items()
    }
    payment = require_object(data.get("payment"), "payment")
    method = read_str(payment, "method", max_len=20)
    if method not in PAYMENT_METHODS:
        raise InvalidInput("invalid_field", f"payment.method must be one of {PAYMENT_METHODS}")
    key = read_str(data, "idempotency_key", pattern=TOKEN, max_len=64)
    assert method is not None and key is not None
    return shipping, method, key


async def process_order(
    services: Services,
    visitor: Visitor,
    shipping: Mapping[str, str],
    payment_method: str,
    idempotency_key: str,
    persona: str,
) -> tuple[dict[str, Any], bool]:
    """Place the order once per idempotency key; return (order, created_now)."""
    existing = await services.orders.find_by_key(visitor.vid, idempotency_key)
    if existing is not None:
        return existing, False
    totals, coupon_error = await load_totals(services, visitor.vid)
    if coupon_error:
        raise Unprocessable(coupon_error, "the coupon in the cart can no longer be used")
    if not totals.lines:
        raise Unprocessable("empty_cart", "the cart is empty")
    taken: list[tuple[str, int]] = []
    coupon_redeemed = False
    try:
        for line in totals.lines:
            if not await services.catalog.take_stock(line.product.id, line.quantity):
                raise Conflict("insufficient_stock", f"not enough {line.product.name} left")
            taken.append((line.product.id, line.quantity))
        if totals.coupon is not None:
            if not await services.coupons.redeem(totals.coupon):
                raise Unprocessable("coupon_used_up", "this coupon has already been used")
            coupon_redeemed = True
        order = order_document(
            vid=visitor.vid,
            idempotency_key=idempotency_key,
            totals=totals,
            shipping=shipping,
            payment_method=payment_method,
            arm=visitor.arm,
            persona=persona,
            session_id=visitor.session_id,
        )
        if not await services.orders.insert(order):
            # A concurrent submit with the same key won: undo ours, answer with theirs.
            raise _DuplicateSubmit()
    except _DuplicateSubmit:
        await _undo(services, taken, totals.coupon if coupon_redeemed else None)
        winner = await services.orders.find_by_key(visitor.vid, idempotency_key)
        assert winner is not None
        return winner, False
    except BaseException:
        await _undo(services, taken, totals.coupon if coupon_redeemed else None)
        raise
    await services.carts.clear(visitor.vid)
    return order, True


class _DuplicateSubmit(Exception):
    pass


async def _undo(services: Services, taken: list[tuple[str, int]], coupon: Coupon | None) -> None:
    for product_id, quantity in taken:
        await services.catalog.give_back_stock(product_id, quantity)
    if coupon is not None:
        await services.coupons.release(coupon)
