"""The tracker's event vocabulary, defined once (mirrored in client/src/schema.js)."""

from __future__ import annotations

import re

SCHEMA_VERSION = 1
EVENT_KINDS = (
    "page",
    "move",
    "click",
    "scroll",
    "vis",
    "hover",
    "cart",
    "search",
    "sort",
    "filter",
)
SORTS = ("price_asc", "price_desc", "discount", "popular", "newest")
HOVER_TAGS = ("price", "discount", "product", "tutorial")
CART_OPS = ("add", "update", "remove", "checkout", "coupon", "order")
FILTERS = ("on-sale", "category")
DEVICE_CLASSES = ("mobile", "tablet", "desktop")
VISIBILITY_STATES = ("visible", "hidden")
# PointerEvent.pointerType of a click (the click event's `pt`).
POINTER_TYPES = ("mouse", "touch", "pen")

MAX_EVENTS_PER_BATCH = 500
MAX_BATCH_BYTES = 262_144
MAX_SEQ = 1_000_000
MAX_OFFSET_MS = 86_400_000
MAX_COORDINATE = 100_000
MAX_HOVER_MS = 600_000

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
PATH_PATTERN = re.compile(r"^/[A-Za-z0-9_./-]{0,199}$")
ANCHOR_PATTERN = re.compile(r"^[A-Za-z0-9_\-#.\[\]=\"':>() ]{1,200}$")
PRODUCT_ID_PATTERN = re.compile(r"^p\d{3}$")
SLUG_PATTERN = re.compile(r"^[a-z0-9-]{1,40}$")
