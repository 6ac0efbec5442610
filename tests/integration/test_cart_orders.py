"""Cart and order endpoints on a real Valkey and the embedded engine (or real MongoDB)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.shopper import Shopper

SHIPPING = {
    "name": "Ada Lovelace",
    "email": "ada@example.org",
    "address": "12 Analytical Row",
    "city": "London",
    "zip": "NW1 2AB",
    "country": "United Kingdom",
}


def order_body(key: str = "order-key-0001") -> dict[str, Any]:
    return {"shipping": SHIPPING, "payment": {"method": "card"}, "idempotency_key": key}


async def product(app: Any, product_id: str) -> dict[str, Any]:
    doc = await app.services.store["products"].find_one({"_id": product_id})
    assert doc is not None
    return doc


async def stored_cart(app: Any, vid: str) -> dict[str, Any] | None:
    return await app.services.store["carts"].find_one({"_id": vid})


async def test_add_update_remove_and_read_cart(app: Any, client: Shopper) -> None:
    status, cart = await client.json("POST", "/add-to-cart", {"product_id": "p001", "quantity": 2})
    assert status == 200
    item = await product(app, "p001")
    assert cart["items"][0]["quantity"] == 2
    assert cart["total_cents"] == 2 * item["effective_price_cents"]

    status, cart = await client.json("POST", "/update-cart", {"product_id": "p001", "quantity": 3})
    assert status == 200 and cart["items"][0]["quantity"] == 3

    status, cart = await client.json("GET", "/api/cart")
    assert status == 200 and cart["item_count"] == 3

    status, cart = await client.json("POST", "/remove-from-cart", {"product_id": "p001"})
    assert status == 200 and cart["items"] == [] and cart["total_cents"] == 0


async def test_discounted_price_comes_from_server_and_client_price_is_ignored(
    app: Any, client: Shopper
) -> None:
    discounted = await app.services.store["products"].find_one({"discount_percent": {"$gt": 0}})
    body = {"product_id": discounted["_id"], "quantity": 1, "price": 0, "price_cents": 1}
    status, cart = await client.json("POST", "/add-to-cart", body)
    assert status == 200
    expected = (
        discounted["price_cents"]
        - (discounted["price_cents"] * discounted["discount_percent"] + 50) // 100
    )
    assert cart["items"][0]["unit_price_cents"] == expected
    assert cart["total_cents"] == expected


@pytest.mark.parametrize("quantity", [0, -1, 100, 1.5, "2", 10**20, None, True])
async def test_bad_quantities_are_rejected_and_change_nothing(
    app: Any, client: Shopper, quantity: Any
) -> None:
    await client.json("POST", "/add-to-cart", {"product_id": "p002", "quantity": 1})
    before = await stored_cart(app, client.vid)
    status, error = await client.json(
        "POST", "/add-to-cart", {"product_id": "p002", "quantity": quantity}
    )
    assert status == 400
    assert error["error"] in {"invalid_quantity", "invalid_field", "missing_field"}
    assert await stored_cart(app, client.vid) == before


@pytest.mark.parametrize(
    "body",
    [
        {"product_id": {"$ne": None}, "quantity": 1},
        {"product_id": {"$gt": ""}, "quantity": 1},
        {"product_id": "p001", "quantity": {"$gt": 0}},
        {"product_id": ["p001"], "quantity": 1},
        ["p001", 1],
    ],
)
async def test_operator_injection_is_rejected(app: Any, client: Shopper, body: Any) -> None:
    stock_before = (await product(app, "p001"))["stock"]
    status, error = await client.json("POST", "/add-to-cart", body)
    assert status == 400 and "error" in error
    assert await stored_cart(app, client.vid) is None
    assert (await product(app, "p001"))["stock"] == stock_before


async def test_coupon_injection_and_unknown_coupon(client: Shopper) -> None:
    await client.json("POST", "/add-to-cart", {"product_id": "p003", "quantity": 1})
    status, error = await client.json("POST", "/apply-coupon", {"code": {"$gt": ""}})
    assert (status, error["error"]) == (400, "invalid_field")
    status, error = await client.json("POST", "/apply-coupon", {"code": "NOPE-1234"})
    assert (status, error["error"]) == (404, "unknown_coupon")


async def test_unknown_product_is_404(client: Shopper) -> None:
    status, error = await client.json("POST", "/add-to-cart", {"product_id": "p999", "quantity": 1})
    assert (status, error["error"]) == (404, "unknown_product")


async def test_malformed_json_is_400(client: Shopper) -> None:
    response = await client.post("/add-to-cart", b'{"product_id": "p001", "quantity": NaN}')
    assert response.status_code == 400
    assert (await response.get_json())["error"] == "invalid_json"


async def test_missing_csrf_token_is_403(app: Any, client: Shopper) -> None:
    response = await client.post("/add-to-cart", {"product_id": "p001", "quantity": 1}, csrf=False)
    assert response.status_code == 403
    assert (await response.get_json())["error"] == "csrf_failed"
    response = await client.post(
        "/add-to-cart", {"product_id": "p001", "quantity": 1}, csrf=False,
        headers={"X-CSRF-Token": "forged"},
    )  # fmt: skip
    assert response.status_code == 403
    assert await stored_cart(app, client.vid) is None


async def test_quantity_above_stock_is_409(app: Any, client: Shopper) -> None:
    low = await app.services.store["products"].find_one({"stock": {"$gt": 0, "$lt": 6}})
    status, error = await client.json(
        "POST", "/add-to-cart", {"product_id": low["_id"], "quantity": low["stock"] + 1}
    )
    assert (status, error["error"]) == (409, "insufficient_stock")


async def test_coupon_and_order_happy_path(app: Any, client: Shopper) -> None:
    await client.json("POST", "/add-to-cart", {"product_id": "p004", "quantity": 2})
    status, cart = await client.json("POST", "/apply-coupon", {"code": "welcome10"})
    assert status == 200 and cart["coupon"]["code"] == "WELCOME10"
    assert cart["total_cents"] == cart["subtotal_cents"] - (cart["subtotal_cents"] * 10 + 50) // 100
    stock_before = (await product(app, "p004"))["stock"]

    status, order = await client.json("POST", "/process-order", order_body())
    assert status == 201 and order["total_cents"] == cart["total_cents"]
    assert (await product(app, "p004"))["stock"] == stock_before - 2
    status, cart = await client.json("GET", "/api/cart")
    assert cart["items"] == []
    page = await client.get(order["url"])
    assert page.status_code == 200


async def test_same_idempotency_key_twice_makes_one_order(app: Any, client: Shopper) -> None:
    await client.json("POST", "/add-to-cart", {"product_id": "p005", "quantity": 1})
    stock_before = (await product(app, "p005"))["stock"]
    first, second = await asyncio.gather(
        client.json("POST", "/process-order", order_body("same-key-123")),
        client.json("POST", "/process-order", order_body("same-key-123")),
    )
    assert first[1]["order_id"] == second[1]["order_id"]
    assert sorted([first[0], second[0]]) == [200, 201]
    assert await app.services.store["orders"].count_documents({"vid": client.vid}) == 1
    assert (await product(app, "p005"))["stock"] == stock_before - 1


async def test_twenty_concurrent_orders_for_five_items_sell_exactly_five(app: Any) -> None:
    await app.services.store["products"].update_one({"_id": "p006"}, {"$set": {"stock": 5}})
    shoppers = [Shopper(app.quart.test_client()) for _ in range(20)]
    for shopper in shoppers:
        await shopper.start()
        status, _ = await shopper.json(
            "POST", "/add-to-cart", {"product_id": "p006", "quantity": 1}
        )
        assert status == 200
    results = await asyncio.gather(
        *(
            s.json("POST", "/process-order", order_body(f"k-{i:08d}"))
            for i, s in enumerate(shoppers)
        )
    )
    statuses = sorted(status for status, _ in results)
    assert statuses.count(201) == 5
    assert statuses.count(409) == 15
    assert (await product(app, "p006"))["stock"] == 0
    assert await app.services.store["orders"].count_documents({"lines.product_id": "p006"}) == 5


async def test_someone_elses_order_is_404(app: Any, client: Shopper) -> None:
    await client.json("POST", "/add-to-cart", {"product_id": "p007", "quantity": 1})
    _, order = await client.json("POST", "/process-order", order_body())
    stranger = Shopper(app.quart.test_client())
    await stranger.start()
    assert (await stranger.get(order["url"])).status_code == 404
    assert (await client.get(order["url"])).status_code == 200


async def test_order_validation_errors(client: Shopper) -> None:
    await client.json("POST", "/add-to-cart", {"product_id": "p008", "quantity": 1})
    bad_email = {**order_body(), "shipping": {**SHIPPING, "email": "not-an-email"}}
    status, error = await client.json("POST", "/process-order", bad_email)
    assert (status, error["error"]) == (400, "invalid_field")
    injected = {**order_body(), "shipping": {**SHIPPING, "name": {"$gt": ""}}}
    status, error = await client.json("POST", "/process-order", injected)
    assert (status, error["error"]) == (400, "invalid_field")
    status, error = await client.json("POST", "/process-order", {**order_body(), "payment": {}})
    assert status == 400


async def test_empty_cart_cannot_be_ordered(client: Shopper) -> None:
    status, error = await client.json("POST", "/process-order", order_body())
    assert (status, error["error"]) == (422, "empty_cart")
