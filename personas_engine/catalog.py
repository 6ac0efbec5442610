"""The catalog the simulator browses: the seed catalog if present, else a built-in one."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
SEED_CATALOG = REPO_ROOT / "server" / "seed" / "catalog.json"

_BUILTIN_CATEGORIES = ("shoes", "bags", "watches", "jackets", "lamps", "books")


@dataclass(frozen=True)
class Product:
    """What the simulator needs to know about one product."""

    id: str
    category: str
    discount: int  # percent, 0 when not on sale
    price_cents: int


def builtin_catalog() -> list[Product]:
    """Return a deterministic catalog of 48 products in 6 categories, about 40% on sale."""
    products = []
    for i in range(48):
        category = _BUILTIN_CATEGORIES[i % len(_BUILTIN_CATEGORIES)]
        discount = (10, 20, 30, 40, 50)[i % 5] if i % 5 in (0, 2) else 0
        products.append(Product(f"p{i + 1:03d}", category, discount, 1_500 + (i * 7_919) % 20_000))
    return products


def products_from(items: Iterable[Mapping[str, Any]]) -> list[Product]:
    """Normalise catalog dicts (id, category, discount_percent, price_cents) into products."""
    products = []
    for item in items:
        products.append(
            Product(
                id=str(item["id"]),
                category=str(item["category"]),
                discount=int(item.get("discount_percent") or 0),
                price_cents=int(item.get("price_cents") or 2_000),
            )
        )
    if not products:
        raise ValueError("the catalog has no products")
    return products


def load_catalog(path: Path | None = None) -> list[Product]:
    """Load the seed catalog (server/seed/catalog.json) or fall back to the built-in one."""
    path = SEED_CATALOG if path is None else path
    if not path.exists():
        return builtin_catalog()
    data = json.loads(path.read_text(encoding="utf-8"))
    items = data["products"] if isinstance(data, dict) else data
    return products_from(items)
