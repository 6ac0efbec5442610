"""Cart rules and pricing: everything about money is computed here, on the server."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from server.domain.catalog import Product
from server.domain.coupons import Coupon
from server.domain.errors import Conflict, InvalidInput

MIN_QUANTITY = 1
MAX_QUANTITY = 99
MAX_LINES = 50


@dataclass(frozen=True)
class CartLine:
    product: Product
    quantity: int

    @property
    def unit_price_cents(self) -> int:
        return self.product.unit_price_cents

    @property
    def line_total_cents(self) -> int:
        return self.unit_price_cents * self.quantity

    @property
    def list_total_cents(self) -> int:
        return self.product.price_cents * self.quantity


@dataclass(frozen=True)
class CartTotals:
    lines: tuple[CartLine, ...]
    list_total_cents: int
    product_discount_cents: int
    subtotal_cents: int
    coupon: Coupon | None
    coupon_discount_cents: int
    total_cents: int

    @property
    def item_count(self) -> int:
        return sum(line.quantity for line in self.lines)


def check_quantity(quantity: int, product: Product) -> None:
    """Reject quantities outside 1..99 or above the stock."""
    if not MIN_QUANTITY <= quantity <= MAX_QUANTITY:
        raise InvalidInput("invalid_quantity", f"quantity must be {MIN_QUANTITY}..{MAX_QUANTITY}")
    if quantity > product.stock:
        raise Conflict("insufficient_stock", f"only {product.stock} left of {product.id}")


def add_quantity(items: Mapping[str, int], product: Product, quantity: int) -> dict[str, int]:
    """Return the cart items after adding `quantity` of `product`."""
    new_quantity = items.get(product.id, 0) + quantity
    check_quantity(quantity, product)
    if new_quantity > MAX_QUANTITY:
        raise InvalidInput("invalid_quantity", f"at most {MAX_QUANTITY} of one product")
    check_quantity(new_quantity, product)
    if product.id not in items and len(items) >= MAX_LINES:
        raise Conflict("cart_full", f"at most {MAX_LINES} different products")
    return {**items, product.id: new_quantity}


def set_quantity(items: Mapping[str, int], product: Product, quantity: int) -> dict[str, int]:
    """Return the cart items with the quantity of `product` replaced."""
    check_quantity(quantity, product)
    if product.id not in items and len(items) >= MAX_LINES:
        raise Conflict("cart_full", f"at most {MAX_LINES} different products")
    return {**items, product.id: quantity}


def price_cart(
    items: Mapping[str, int], products: Mapping[str, Product], coupon: Coupon | None = None
) -> CartTotals:
    """Price a cart from server-side products and an already validated coupon."""
    lines = tuple(
        CartLine(products[product_id], quantity)
        for product_id, quantity in items.items()
        if product_id in products
    )
    list_total = sum(line.list_total_cents for line in lines)
    subtotal = sum(line.line_total_cents for line in lines)
    coupon_discount = coupon.discount_cents(subtotal) if coupon is not None else 0
    return CartTotals(
        lines=lines,
        list_total_cents=list_total,
        product_discount_cents=list_total - subtotal,
        subtotal_cents=subtotal,
        coupon=coupon,
        coupon_discount_cents=coupon_discount,
        total_cents=subtotal - coupon_discount,
    )
