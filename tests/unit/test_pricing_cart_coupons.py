"""Pricing, discounts, coupon rules and cart rules (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from server.domain.cart import add_quantity, price_cart, set_quantity
from server.domain.catalog import Product, discounted_price, format_money, sort_spec
from server.domain.coupons import Coupon, check_coupon, normalise_code
from server.domain.errors import Conflict, InvalidInput, NotFound, Unprocessable

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def make_product(**overrides: object) -> Product:
    base = Product(
        id="p001", slug="mug", name="Mug", description="A mug.", category="kitchen",
        price_cents=1999, discount_percent=None, stock=10, rating=4.5, rating_count=3,
        popularity=1, created_at="2026-01-01", image="/static/x.svg", image_alt="Mug",
    )  # fmt: skip
    return replace(base, **overrides)  # type: ignore[arg-type]


def make_coupon(**overrides: object) -> Coupon:
    base = Coupon(
        code="SAVE10", percent_off=10, min_subtotal_cents=0,
        valid_from=NOW - timedelta(days=1), valid_until=NOW + timedelta(days=1),
        max_uses=None, uses=0,
    )  # fmt: skip
    return replace(base, **overrides)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("price", "percent", "expected"),
    [(1999, None, 1999), (1999, 0, 1999), (1999, 10, 1799), (1000, 33, 670), (995, 50, 497)],
)
def test_discounted_price_rounds_to_nearest_cent(
    price: int, percent: int | None, expected: int
) -> None:
    assert discounted_price(price, percent) == expected


def test_format_money() -> None:
    assert [format_money(c) for c in (0, 5, 1234, -250)] == ["0.00", "0.05", "12.34", "-2.50"]


def test_sort_spec_breaks_ties_by_id() -> None:
    assert sort_spec("price_asc") == [("effective_price_cents", 1), ("_id", 1)]
    with pytest.raises(KeyError):
        sort_spec("$where")


def test_price_cart_uses_server_prices_and_coupon() -> None:
    mug = make_product(discount_percent=20)  # 1999 -> 1599
    lamp = make_product(id="p002", price_cents=5000)
    totals = price_cart({"p001": 2, "p002": 1}, {"p001": mug, "p002": lamp}, make_coupon())
    assert totals.list_total_cents == 2 * 1999 + 5000
    assert totals.subtotal_cents == 2 * 1599 + 5000
    assert totals.product_discount_cents == 2 * 400
    assert totals.coupon_discount_cents == (8198 * 10 + 50) // 100
    assert totals.total_cents == 8198 - 820
    assert totals.item_count == 3


def test_price_cart_skips_products_that_no_longer_exist() -> None:
    totals = price_cart({"p001": 1, "p404": 3}, {"p001": make_product()})
    assert [line.product.id for line in totals.lines] == ["p001"]


@pytest.mark.parametrize("quantity", [0, -1, 100])
def test_quantity_out_of_range(quantity: int) -> None:
    with pytest.raises(InvalidInput):
        add_quantity({}, make_product(), quantity)


def test_quantity_above_stock_conflicts() -> None:
    with pytest.raises(Conflict):
        add_quantity({"p001": 9}, make_product(stock=10), 2)
    assert add_quantity({"p001": 9}, make_product(stock=10), 1) == {"p001": 10}


def test_adding_past_99_is_refused_even_with_stock() -> None:
    with pytest.raises(InvalidInput):
        add_quantity({"p001": 98}, make_product(stock=500), 2)


def test_set_quantity_replaces() -> None:
    assert set_quantity({"p001": 3}, make_product(), 5) == {"p001": 5}


def test_coupon_validity_window_and_uses() -> None:
    assert check_coupon(make_coupon(), "v1", NOW, 100).code == "SAVE10"
    with pytest.raises(Unprocessable, match="coupon_expired"):
        check_coupon(make_coupon(valid_until=NOW), "v1", NOW, 100)
    with pytest.raises(Unprocessable, match="coupon_not_yet_valid"):
        check_coupon(make_coupon(valid_from=NOW + timedelta(seconds=1)), "v1", NOW, 100)
    with pytest.raises(Unprocessable, match="coupon_used_up"):
        check_coupon(make_coupon(max_uses=1, uses=1), "v1", NOW, 100)
    with pytest.raises(Unprocessable, match="coupon_minimum_not_met"):
        check_coupon(make_coupon(min_subtotal_cents=2000), "v1", NOW, 1999)


def test_personal_coupon_is_unknown_to_other_visitors() -> None:
    personal = make_coupon(issued_to="owner", max_uses=1)
    assert check_coupon(personal, "owner", NOW, 100) is personal
    with pytest.raises(NotFound):
        check_coupon(personal, "someone-else", NOW, 100)
    with pytest.raises(NotFound):
        check_coupon(None, "owner", NOW, 100)


def test_coupon_codes_are_case_insensitive() -> None:
    assert normalise_code("  welcome10 ") == "WELCOME10"
