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
    "outcome",  # what followed a click (frustration facts: docs/tracker.md)
    "zone",  # a data-zone element at least half in view for 1 s (once per page view)
)
SORTS = ("price_asc", "price_desc", "discount", "popular", "newest")
HOVER_TAGS = ("price", "discount", "product", "tutorial")
CART_OPS = ("add", "update", "remove", "checkout", "coupon", "order")
FILTERS = ("on-sale", "category")
DEVICE_CLASSES = ("mobile", "tablet", "desktop")
VISIBILITY_STATES = ("visible", "hidden")
# PointerEvent.pointerType of a click (the click event's `pt`).
POINTER_TYPES = ("mouse", "touch", "pen")
# An uncaught error's kind in an `outcome` event (`ek`): the error's name when it is one of
# JavaScript's own, "DOMException", "rejection" (a promise rejected with a non-Error), else
# "other". Never a message.
ERROR_KINDS = (
    "Error",
    "TypeError",
    "ReferenceError",
    "SyntaxError",
    "RangeError",
    "URIError",
    "EvalError",
    "AggregateError",
    "DOMException",
    "rejection",
    "other",
)

MAX_EVENTS_PER_BATCH = 500
MAX_BATCH_BYTES = 262_144
MAX_SEQ = 1_000_000
MAX_OFFSET_MS = 86_400_000
MAX_COORDINATE = 100_000
MAX_HOVER_MS = 600_000
# How long the tracker watches what follows a click (an `outcome`'s dm/nv/em are 0..this):
# a server threshold on dead or error clicks can be no longer.
OUTCOME_WINDOW_MS = 2000

ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
PATH_PATTERN = re.compile(r"^/[A-Za-z0-9_./-]{0,199}$")
ANCHOR_PATTERN = re.compile(r"^[A-Za-z0-9_\-#.\[\]=\"':>() ]{1,200}$")
PRODUCT_ID_PATTERN = re.compile(r"^p\d{3}$")
SLUG_PATTERN = re.compile(r"^[a-z0-9-]{1,40}$")
# The origin of the script behind an error (an `outcome`'s `eo`): never a path or a message.
SCRIPT_ORIGIN_PATTERN = re.compile(
    r"^(self|inline|unknown|https?://[a-z0-9.-]{1,100}(:[0-9]{1,5})?)$"
)
