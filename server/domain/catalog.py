"""Products and prices: integer cents, discounts applied by the server only."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SORTS = ("price_asc", "price_desc", "discount", "popular", "newest")
PAGE_SIZE = 12


@dataclass(frozen=True)
class Product:
    id: str
    slug: str
    name: str
    description: str
    category: str
    price_cents: int
    discount_percent: int | None
    stock: int
    rating: float
    rating_count: int
    popularity: int
    created_at: str
    image: str
    image_alt: str
    tags: tuple[str, ...] = field(default=())

    @property
    def unit_price_cents(self) -> int:
        return discounted_price(self.price_cents, self.discount_percent)

    @property
    def on_sale(self) -> bool:
        return bool(self.discount_percent)

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Product:
        """Build a product from its stored document."""
        return cls(
            id=doc["_id"],
            slug=doc["slug"],
            name=doc["name"],
            description=doc["description"],
            category=doc["category"],
            price_cents=int(doc["price_cents"]),
            discount_percent=doc.get("discount_percent") or None,
            stock=int(doc["stock"]),
            rating=float(doc.get("rating", 0)),
            rating_count=int(doc.get("rating_count", 0)),
            popularity=int(doc.get("popularity", 0)),
            created_at=str(doc.get("created_at", "")),
            image=doc["image"],
            image_alt=doc.get("image_alt", doc["name"]),
            tags=tuple(doc.get("tags", ())),
        )


def discounted_price(price_cents: int, discount_percent: int | None) -> int:
    """Return the unit price after a percentage discount, rounded to the nearest cent."""
    if not discount_percent:
        return price_cents
    return price_cents - (price_cents * discount_percent + 50) // 100


def format_money(cents: int) -> str:
    """Format cents as a plain decimal amount, e.g. 1234 -> "12.34"."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def sort_spec(sort: str) -> list[tuple[str, int]]:
    """Translate a catalog sort name to MongoDB sort keys (ties broken by id)."""
    keys = {
        "price_asc": [("effective_price_cents", 1)],
        "price_desc": [("effective_price_cents", -1)],
        "discount": [("discount_percent", -1)],
        "popular": [("popularity", -1)],
        "newest": [("created_at", -1)],
    }[sort]
    return [*keys, ("_id", 1)]
