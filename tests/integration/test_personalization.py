"""Personal coupons, recommendations and the opt-out on real Valkey and the embedded engine."""

from __future__ import annotations

from typing import Any

import orjson

from tests.support.shopper import Shopper, new_shopper


async def become(
    app: Any, shopper: Shopper, persona: str, categories: list[str] | None = None
) -> None:
    """Set what the persona worker would have decided for this visitor."""
    services = app.services
    await services.redis.set(
        services.key("persona", shopper.vid),
        orjson.dumps({"persona": persona, "confidence": 0.9, "reasons": ["test"]}),
    )
    if categories:
        from personas_engine.features import fold_batch
        from server.adapters.persona_store import VisitState

        states = services.personas.states
        sid = await states.current_session(shopper.vid)
        state = VisitState()
        for index, category in enumerate(categories):
            fold_batch(state.features, {
                "v": 1, "vid": shopper.vid, "sid": sid, "pvid": f"pageview{index:08d}", "seq": 0,
                "t0": 1_764_158_400_000 + index * 10_000, "path": "/product/p001",
                "events": [{"k": "page", "t": 0, "path": "/product/p001", "title": "", "ref": "",
                            "vw": 1280, "vh": 800, "dh": 2000, "dev": "desktop", "pid": "p001",
                            "cat": category}],
            })  # fmt: skip
        await states.save({sid: state}, {})


async def test_personal_coupon_is_single_use_and_only_for_its_owner(make_settings: Any) -> None:
    from server.app import create_app

    app = create_app(make_settings(experiments={"force_arm": "treatment"}))
    async with app.quart.test_app():
        owner, stranger = await new_shopper(app), await new_shopper(app)
        await become(app, owner, "bargain_hunter")
        status, recs = await owner.json("GET", "/recommendations")
        assert status == 200 and "coupon" in recs["adaptations"]
        coupon = await app.services.coupons.personal_for(owner.vid)
        assert coupon is not None and coupon.max_uses == 1 and coupon.issued_to == owner.vid
        # The page shows the same code again instead of issuing a new one.
        page = await (await owner.get("/catalog")).get_data(as_text=True)
        assert f'"code":"{coupon.code}"' in page.replace(" ", "")

        for shopper in (owner, stranger):
            await shopper.json("POST", "/add-to-cart", {"product_id": "p020", "quantity": 1})
        status, error = await stranger.json("POST", "/apply-coupon", {"code": coupon.code})
        assert (status, error["error"]) == (404, "unknown_coupon")

        status, cart = await owner.json("POST", "/apply-coupon", {"code": coupon.code})
        assert status == 200 and cart["coupon_discount_cents"] > 0
        body = {"shipping": {"name": "A B", "email": "a@b.org", "address": "1 Road", "city": "C",
                             "zip": "12345", "country": "FR"},
                "payment": {"method": "card"}, "idempotency_key": "coupon-order-1"}  # fmt: skip
        status, order = await owner.json("POST", "/process-order", body)
        assert status == 201 and order["coupon"] == coupon.code

        await owner.json("POST", "/add-to-cart", {"product_id": "p021", "quantity": 1})
        status, error = await owner.json("POST", "/apply-coupon", {"code": coupon.code})
        assert (status, error["error"]) == (422, "coupon_used_up")


async def test_recommendations_follow_the_persona_and_skip_the_cart(app: Any) -> None:
    catalog = app.services.catalog
    categories = [c["slug"] for c in await catalog.categories()]

    explorer = await new_shopper(app)
    await become(app, explorer, "explorer", categories[:3])
    _, recs = await explorer.json("GET", "/recommendations")
    assert recs["persona"] == "explorer" and len(recs["products"]) == 4
    assert not {p["category"] for p in recs["products"]} & set(categories[:3])
    assert len({p["category"] for p in recs["products"]}) == 4

    hunter = await new_shopper(app)
    await become(app, hunter, "bargain_hunter", ["kitchen"])
    first = (await hunter.json("GET", "/recommendations"))[1]["products"]
    assert all(p["category"] == "kitchen" and p["discount_percent"] for p in first)
    discounts = [p["discount_percent"] for p in first]
    assert discounts == sorted(discounts, reverse=True)
    await hunter.json("POST", "/add-to-cart", {"product_id": first[0]["product_id"], "quantity": 1})
    second = (await hunter.json("GET", "/recommendations"))[1]["products"]
    assert first[0]["product_id"] not in {p["product_id"] for p in second}

    hurried = await new_shopper(app)
    await become(app, hurried, "hurried", ["audio"])
    products = (await hurried.json("GET", "/recommendations"))[1]["products"]
    assert {p["category"] for p in products} == {"audio"}
    popularity = [(await catalog.get(p["product_id"])).popularity for p in products]
    assert popularity == sorted(popularity, reverse=True)


async def test_opt_out_removes_adaptations_and_persists(make_settings: Any) -> None:
    from server.app import create_app

    app = create_app(make_settings(experiments={"force_arm": "treatment"}))
    async with app.quart.test_app():
        shopper = await new_shopper(app)
        await become(app, shopper, "hurried")
        assert (await shopper.json("GET", "/recommendations"))[1]["adaptations"] == [
            "express-checkout", "sticky-cart",
        ]  # fmt: skip
        status, reply = await shopper.json("POST", "/api/personalization", {"opt_out": True})
        assert status == 200 and reply["adaptations"] == []
        assert (await shopper.json("GET", "/recommendations"))[1]["adaptations"] == []
        status, error = await shopper.json("POST", "/api/personalization", {"opt_out": {"$ne": 1}})
        assert (status, error["error"]) == (400, "invalid_field")


async def test_control_visitors_get_no_adaptation(make_settings: Any) -> None:
    from server.app import create_app

    app = create_app(make_settings(experiments={"force_arm": "control"}))
    async with app.quart.test_app():
        shopper = await new_shopper(app)
        await become(app, shopper, "bargain_hunter")
        _, recs = await shopper.json("GET", "/recommendations")
        assert recs["persona"] == "bargain_hunter" and recs["adaptations"] == []
        assert await app.services.coupons.personal_for(shopper.vid) is None
