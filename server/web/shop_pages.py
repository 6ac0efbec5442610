"""Server-rendered storefront pages (Jinja)."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, abort, render_template, request

from server.container import Services
from server.domain.adaptations import adaptations_for
from server.domain.catalog import SORTS
from server.domain.errors import NotFound
from server.domain.validation import PRODUCT_ID, SLUG
from server.services import checkout as checkout_service
from server.services.personas import current_persona
from server.web.cart_api import cart_payload
from server.web.common import services, visitor
from server.web.personalization_api import page_state
from server.web.privacy_api import request_opted_out

blueprint = Blueprint("shop", __name__)

DEFAULT_SORT = "popular"
MAX_QUERY_LENGTH = 80
MAX_PAGE = 1000


async def shop_page(template: str, **context: Any) -> str:
    """Render a storefront page with the visitor's personalization state.

    Qualifying for an adaptation is logged here, once per storefront page a shopper opens,
    rather than on every template render (error pages included).
    """
    state = await page_state(services(), visitor(), request.path)
    return await render_template(template, page_state=state, **context)


def catalog_params(args: Any) -> dict[str, Any]:
    """Read catalog query parameters leniently: anything odd falls back to the default."""
    category = args.get("category", "")
    sort = args.get("sort", "")
    query = args.get("q", "").strip()[:MAX_QUERY_LENGTH]
    page_text = args.get("page", "1")
    page = int(page_text) if page_text.isdigit() and len(page_text) < 5 else 1
    return {
        "category": category if SLUG.fullmatch(category) else None,
        "sort": sort if sort in SORTS else None,
        "query": query or None,
        "on_sale": args.get("on_sale") == "1",
        "page": min(max(page, 1), MAX_PAGE),
    }


async def default_sort(shop: Services) -> str:
    """Biggest discount first for a bargain hunter in the treatment arm (an adaptation)."""
    current = visitor()
    persona = (await current_persona(shop, current.vid))["persona"]
    opted = await request_opted_out(shop, current.vid)
    adaptations = adaptations_for(persona, current.arm, opted, shop.settings.experiments.mode)
    if any(adaptation.name == "sort-discount" for adaptation in adaptations):
        return "discount"
    return DEFAULT_SORT


@blueprint.get("/")
async def home() -> str:
    shop = services()
    return await shop_page(
        "shop/home.html",
        featured=await shop.catalog.featured(8),
        deals=(
            await shop.catalog.search(
                category=None, sort="discount", query=None, on_sale=True, page=1, page_size=4
            )
        ).products,
        categories=await shop.catalog.categories(),
    )


@blueprint.get("/catalog")
async def catalog() -> str:
    shop = services()
    params = catalog_params(request.args)
    sort = params["sort"] or await default_sort(shop)
    result = await shop.catalog.search(
        category=params["category"],
        sort=sort,
        query=params["query"],
        on_sale=params["on_sale"],
        page=params["page"],
    )
    return await shop_page(
        "shop/catalog.html",
        result=result,
        params=params,
        sort=sort,
        sorts=SORTS,
        categories=await shop.catalog.categories(),
    )


@blueprint.get("/product/<product_id>")
async def product(product_id: str) -> str:
    if not PRODUCT_ID.fullmatch(product_id):
        abort(404)
    shop = services()
    try:
        item = await shop.catalog.get(product_id)
    except NotFound:
        abort(404)
    related = await shop.catalog.search(
        category=item.category, sort="popular", query=None, on_sale=False, page=1, page_size=5
    )
    return await shop_page(
        "shop/product.html",
        product=item,
        related=[p for p in related.products if p.id != item.id][:4],
        categories=await shop.catalog.categories(),
    )


@blueprint.get("/cart")
async def cart() -> str:
    totals, coupon_error = await checkout_service.load_totals(services(), visitor().vid)
    return await shop_page("shop/cart.html", cart=cart_payload(totals, coupon_error))


@blueprint.get("/checkout")
async def checkout() -> str:
    shop = services()
    totals, coupon_error = await checkout_service.load_totals(shop, visitor().vid)
    return await shop_page(
        "shop/checkout.html",
        cart=cart_payload(totals, coupon_error),
        previous_shipping=await shop.orders.last_shipping(visitor().vid),
        express=request.args.get("express") == "1",
    )


@blueprint.get("/order/<order_id>")
async def order(order_id: str) -> str:
    if len(order_id) > 40:
        abort(404)
    try:
        placed = await services().orders.get_for(order_id, visitor().vid)
    except NotFound:
        abort(404)
    return await shop_page("shop/order.html", order=placed)


@blueprint.get("/privacy")
async def privacy() -> str:
    return await shop_page("shop/privacy.html")


@blueprint.get("/tutorials")
async def tutorials() -> str:
    return await shop_page("shop/tutorials.html", categories=await services().catalog.categories())
