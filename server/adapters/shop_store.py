"""Catalog, carts, coupons and orders on the MongoStore: thin, indexed point reads only."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cmp_to_key
from pathlib import Path
from typing import Any, cast

import orjson
from pymongo import ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

from server.adapters.mongo_store import MAX_LIST_FILTER, IndexSpec, MongoStore, find_in, list_chunks
from server.domain.cart import CartTotals
from server.domain.catalog import PAGE_SIZE, Product, discounted_price, sort_spec
from server.domain.coupons import Coupon, as_utc, check_coupon, normalise_code
from server.domain.errors import NotFound

PRODUCTS = "products"
CATEGORIES = "categories"
CARTS = "carts"
COUPONS = "coupons"
ORDERS = "orders"
EXPOSURES = "exposures"
# One per visitor: the first moment it qualified for an adaptation, in either arm.
EXPERIMENT_TRIGGERS = "experiment_triggers"

SHOP_INDEXES = (
    IndexSpec(PRODUCTS, [("slug", 1)], unique=True),
    IndexSpec(PRODUCTS, [("category", 1), ("effective_price_cents", 1)]),
    IndexSpec(PRODUCTS, [("discount_percent", -1)]),
    IndexSpec(PRODUCTS, [("popularity", -1)]),
    IndexSpec(PRODUCTS, [("created_at", -1)]),
    IndexSpec(ORDERS, [("vid", 1), ("idempotency_key", 1)], unique=True),
    IndexSpec(ORDERS, [("vid", 1), ("created_at", -1)]),
    IndexSpec(COUPONS, [("issued_to", 1)], sparse=True),
)
EXPOSURE_INDEXES = (
    IndexSpec(EXPOSURES, [("sid", 1), ("at", 1)]),
    IndexSpec(EXPOSURES, [("vid", 1)]),
    IndexSpec(EXPOSURES, [("adaptation", 1), ("arm", 1)]),
)
TRIGGER_INDEXES = (IndexSpec(EXPERIMENT_TRIGGERS, [("persona", 1), ("arm", 1)]),)


def _is_duplicate_key(error: Exception) -> bool:
    if isinstance(error, DuplicateKeyError):
        return True
    if isinstance(error, BulkWriteError):
        return any(item.get("code") == 11000 for item in error.details.get("writeErrors", []))
    return False


async def insert_document(collection: Any, document: dict[str, Any]) -> None:
    """Insert one document with insert_many: mongoeco's insert_one scans the collection."""
    try:
        await collection.insert_many([document], ordered=True)
    except BulkWriteError as error:
        if _is_duplicate_key(error):
            raise DuplicateKeyError("duplicate key", 11000, error.details) from error
        raise


async def insert_ignoring_duplicates(collection: Any, documents: list[dict[str, Any]]) -> None:
    """Insert what is missing; another process seeding at the same time is not an error."""
    try:
        await collection.insert_many(documents, ordered=False)
    except BulkWriteError as error:
        if not all(item.get("code") == 11000 for item in error.details.get("writeErrors", [])):
            raise


def _sort_rank(value: Any) -> int:
    """MongoDB's order between types, for the scalars documents are sorted by here."""
    if value is None:
        return 0  # a missing field sorts as null
    if isinstance(value, bool):
        return 4
    if isinstance(value, int | float):
        return 1
    if isinstance(value, str):
        return 2
    if isinstance(value, datetime):
        return 5
    return 3


def _compare_values(left: Any, right: Any) -> int:
    rank_left, rank_right = _sort_rank(left), _sort_rank(right)
    if rank_left != rank_right:
        return -1 if rank_left < rank_right else 1
    if isinstance(left, datetime):  # the embedded engine may hand back naive UTC datetimes
        left, right = as_utc(left), as_utc(right)
    try:
        return -1 if left < right else 1 if left > right else 0
    except TypeError:
        return 0


def compare_by_spec(
    left: Mapping[str, Any], right: Mapping[str, Any], spec: list[tuple[str, int]]
) -> int:
    """Compare two documents the way `sort(spec)` orders them (for top-level fields)."""
    for key, direction in spec:
        order = _compare_values(left.get(key), right.get(key))
        if order:
            return order * direction
    return 0


@dataclass(frozen=True)
class CatalogPage:
    products: list[Product]
    total: int
    page: int
    pages: int


class CatalogStore:
    def __init__(self, store: MongoStore) -> None:
        self._products = store[PRODUCTS]
        self._categories = store[CATEGORIES]
        self._category_cache: list[dict[str, Any]] = []

    async def seed(self, catalog_path: Path) -> int:
        """Insert the catalog's products and categories that are not stored yet (idempotent)."""
        data = orjson.loads(catalog_path.read_bytes())
        known = {doc["_id"] async for doc in self._products.find({}, {"_id": 1})}
        new_products = [
            {
                "_id": item["id"],
                **{key: value for key, value in item.items() if key != "id"},
                "effective_price_cents": discounted_price(
                    item["price_cents"], item.get("discount_percent")
                ),
            }
            for item in data["products"]
            if item["id"] not in known
        ]
        if new_products:
            await insert_ignoring_duplicates(self._products, new_products)
        known_categories = {doc["_id"] async for doc in self._categories.find({}, {"_id": 1})}
        new_categories = [
            {"_id": item["slug"], **item}
            for item in data["categories"]
            if item["slug"] not in known_categories
        ]
        if new_categories:
            await insert_ignoring_duplicates(self._categories, new_categories)
        return len(new_products)

    async def categories(self) -> list[dict[str, Any]]:
        """The category list, read once: it only changes with a new seed file."""
        if not self._category_cache:
            self._category_cache = await self._categories.find({}).sort("name", 1).to_list()
        return self._category_cache

    async def get(self, product_id: str) -> Product:
        doc = await self._products.find_one({"_id": product_id})
        if doc is None:
            raise NotFound("unknown_product", f"no product {product_id}")
        return Product.from_document(doc)

    async def get_many(self, product_ids: Iterable[str]) -> dict[str, Product]:
        ids = list(product_ids)
        if not ids:
            return {}
        docs = await find_in(self._products, "_id", ids)
        return {doc["_id"]: Product.from_document(doc) for doc in docs}

    async def search(
        self,
        *,
        category: str | None,
        sort: str,
        query: str | None,
        on_sale: bool,
        page: int,
        page_size: int = PAGE_SIZE,
    ) -> CatalogPage:
        """List one page of the catalog; the search text is escaped, never a pattern."""
        filters: dict[str, Any] = {}
        if category:
            filters["category"] = category
        if on_sale:
            filters["discount_percent"] = {"$gt": 0}
        if query:
            pattern = re.escape(query)
            filters["$or"] = [
                {"name": {"$regex": pattern, "$options": "i"}},
                {"tags": {"$regex": pattern, "$options": "i"}},
            ]
        total = await self._products.count_documents(filters)
        pages = max(1, -(-total // page_size))
        page = min(page, pages)
        docs = (
            await self._products.find(filters)
            .sort(sort_spec(sort))
            .skip((page - 1) * page_size)
            .limit(page_size)
            .to_list()
        )
        return CatalogPage([Product.from_document(doc) for doc in docs], total, page, pages)

    async def top_in_categories(
        self, categories: list[str], sort: str, *, exclude: set[str], limit: int,
        one_per_category: bool = False,
    ) -> list[Product]:  # fmt: skip
        """The first products of some categories by a sort, skipping excluded ids."""
        docs = await self._first_in_categories(categories, sort, sorted(exclude), 60)
        picked: list[Product] = []
        used: set[str] = set()
        for doc in docs:
            product = Product.from_document(doc)
            if product.stock <= 0 or (one_per_category and product.category in used):
                continue
            picked.append(product)
            used.add(product.category)
            if len(picked) == limit:
                break
        return picked

    async def _first_in_categories(
        self, categories: list[str], sort: str, exclude: list[str], limit: int
    ) -> list[dict[str, Any]]:
        """`find({category: {$in}, _id: {$nin}}).sort(sort_spec(sort)).limit(limit)`, chunked.

        Each chunk of categories gives its own first `limit`; merged and sorted again here
        (sort_spec ends with _id: a total order) they give the unchunked query's first ones.
        An exclusion list too long for one filter is applied here instead, each chunk then
        reading as many more documents as it could drop.
        """
        query: dict[str, Any] = {}
        if exclude and len(exclude) <= MAX_LIST_FILTER:
            query["_id"] = {"$nin": exclude}
        if sort == "discount":
            query["discount_percent"] = {"$gt": 0}
        dropped = set(exclude) if "_id" not in query else set()
        spec = sort_spec(sort)
        docs: list[dict[str, Any]] = []
        chunks = list_chunks(categories)
        for chunk in chunks:
            cursor = self._products.find({"category": {"$in": chunk}, **query}).sort(spec)
            found = await cursor.limit(limit + len(dropped)).to_list()
            docs.extend(doc for doc in found if doc["_id"] not in dropped)
        if len(chunks) > 1:
            docs.sort(key=cmp_to_key(lambda a, b: compare_by_spec(a, b, spec)))
        return docs[:limit]

    async def featured(self, limit: int = 8) -> list[Product]:
        docs = await self._products.find({}).sort("popularity", -1).limit(limit).to_list()
        return [Product.from_document(doc) for doc in docs]

    async def take_stock(self, product_id: str, quantity: int) -> bool:
        """Atomically remove `quantity` from stock if that much is left."""
        doc = await self._products.find_one_and_update(
            {"_id": product_id, "stock": {"$gte": quantity}},
            {"$inc": {"stock": -quantity, "popularity": quantity}},
            return_document=ReturnDocument.AFTER,
        )
        return doc is not None

    async def give_back_stock(self, product_id: str, quantity: int) -> None:
        await self._products.update_one(
            {"_id": product_id}, {"$inc": {"stock": quantity, "popularity": -quantity}}
        )


class CartStore:
    def __init__(self, store: MongoStore) -> None:
        self._carts = store[CARTS]

    async def load(self, vid: str) -> tuple[dict[str, int], str | None]:
        doc = await self._carts.find_one({"_id": vid})
        if doc is None:
            return {}, None
        return dict(doc.get("items", {})), doc.get("coupon")

    async def save(self, vid: str, items: Mapping[str, int], coupon: str | None) -> None:
        await self._carts.update_one(
            {"_id": vid},
            {"$set": {"items": dict(items), "coupon": coupon, "updated_at": datetime.now(UTC)}},
            upsert=True,
        )

    async def clear(self, vid: str) -> None:
        await self._carts.delete_many({"_id": vid})


class CouponStore:
    def __init__(self, store: MongoStore) -> None:
        self._coupons = store[COUPONS]

    async def find(self, code: str) -> Coupon | None:
        doc = await self._coupons.find_one({"_id": normalise_code(code)})
        return Coupon.from_document(doc) if doc else None

    async def validate(self, code: str, vid: str, subtotal_cents: int) -> Coupon:
        return check_coupon(await self.find(code), vid, datetime.now(UTC), subtotal_cents)

    async def seed_public(self) -> None:
        """Make sure the shop's public coupon exists (idempotent)."""
        if await self._coupons.find_one({"_id": "WELCOME10"}) is None:
            now = datetime.now(UTC)
            await insert_ignoring_duplicates(
                self._coupons,
                [
                    {
                        "_id": "WELCOME10",
                        "percent_off": 10,
                        "min_subtotal_cents": 2000,
                        "valid_from": now - timedelta(days=1),
                        "valid_until": now + timedelta(days=3650),
                        "max_uses": None,
                        "uses": 0,
                        "issued_to": None,
                    }
                ],
            )

    async def issue_personal(self, vid: str, percent_off: int, days: int = 7) -> Coupon:
        """Issue a single-use coupon that only `vid` can redeem."""
        now = datetime.now(UTC)
        doc = {
            "_id": "DEAL-" + secrets.token_hex(4).upper(),
            "percent_off": percent_off,
            "min_subtotal_cents": 0,
            "valid_from": now - timedelta(minutes=1),
            "valid_until": now + timedelta(days=days),
            "max_uses": 1,
            "uses": 0,
            "issued_to": vid,
        }
        await insert_document(self._coupons, doc)
        return Coupon.from_document(doc)

    async def personal_for(self, vid: str) -> Coupon | None:
        """The visitor's personal coupon that can still be used, if any (indexed read)."""
        now = datetime.now(UTC)
        for doc in await self._coupons.find({"issued_to": vid}).to_list():
            coupon = Coupon.from_document(doc)
            if coupon.valid_until > now and (
                coupon.max_uses is None or coupon.uses < coupon.max_uses
            ):
                return coupon
        return None

    async def redeem(self, coupon: Coupon) -> bool:
        """Count one use atomically; False when the last use was taken meanwhile."""
        condition: dict[str, Any] = {"_id": coupon.code}
        if coupon.max_uses is not None:
            condition["uses"] = {"$lt": coupon.max_uses}
        doc = await self._coupons.find_one_and_update(condition, {"$inc": {"uses": 1}})
        return doc is not None

    async def release(self, coupon: Coupon) -> None:
        await self._coupons.update_one({"_id": coupon.code}, {"$inc": {"uses": -1}})


class OrderStore:
    def __init__(self, store: MongoStore) -> None:
        self._orders = store[ORDERS]

    async def find_by_key(self, vid: str, idempotency_key: str) -> dict[str, Any] | None:
        return cast(
            dict[str, Any] | None,
            await self._orders.find_one({"vid": vid, "idempotency_key": idempotency_key}),
        )

    async def get_for(self, order_id: str, vid: str) -> dict[str, Any]:
        doc = cast(
            dict[str, Any] | None, await self._orders.find_one({"_id": order_id, "vid": vid})
        )
        if doc is None:
            # Someone else's order is indistinguishable from a missing one.
            raise NotFound("unknown_order", "no such order")
        return doc

    async def last_shipping(self, vid: str) -> dict[str, Any] | None:
        docs = await self._orders.find({"vid": vid}).sort("created_at", -1).limit(1).to_list()
        return docs[0].get("shipping") if docs else None

    async def insert(self, order: dict[str, Any]) -> bool:
        """Insert an order; False when this visitor's idempotency key already has one."""
        try:
            await insert_document(self._orders, order)
        except DuplicateKeyError:
            return False
        return True


def order_document(
    *,
    vid: str,
    idempotency_key: str,
    totals: CartTotals,
    shipping: Mapping[str, str],
    payment_method: str,
    arm: str,
    persona: str,
    session_id: str,
) -> dict[str, Any]:
    """Turn priced cart totals into the stored order."""
    return {
        "_id": "o" + secrets.token_hex(8),
        "vid": vid,
        "idempotency_key": idempotency_key,
        "created_at": datetime.now(UTC),
        "lines": [
            {
                "product_id": line.product.id,
                "name": line.product.name,
                "quantity": line.quantity,
                "unit_price_cents": line.unit_price_cents,
                "list_price_cents": line.product.price_cents,
                "line_total_cents": line.line_total_cents,
            }
            for line in totals.lines
        ],
        "subtotal_cents": totals.subtotal_cents,
        "product_discount_cents": totals.product_discount_cents,
        "coupon": totals.coupon.code if totals.coupon else None,
        "coupon_discount_cents": totals.coupon_discount_cents,
        "total_cents": totals.total_cents,
        "shipping": dict(shipping),
        "payment_method": payment_method,
        "arm": arm,
        "persona": persona,
        "session_id": session_id,
    }
