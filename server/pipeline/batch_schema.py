"""Validate one tracker batch: schema, known kinds, ranges, id formats, sizes.

Shared by the /track socket handler and the REST fallback. It returns a normalised
copy built only from fields it checked, so nothing unvalidated reaches storage.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from server.domain import events as schema


class BatchRejected(Exception):
    """A batch the server refuses; `code` goes back in the ack and into the counters."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


REJECTION_CODES: Final = (
    "invalid_json",
    "too_large",
    "invalid_batch",
    "invalid_event",
    "unknown_kind",
    "too_many_events",
    "forbidden_visitor",
    "rate_limited",
    "unavailable",
    "busy",  # the store is behind: retry later (backpressure)
    "no_consent",
)
# Codes after which the client keeps the batch and sends it again (client/src/schema.js).
RETRYABLE_CODES: Final = ("unavailable", "rate_limited", "busy")

Check = Callable[[Any], bool]


def _int_in(low: int, high: int) -> Check:
    return lambda v: type(v) is int and low <= v <= high


def _num_in(low: float, high: float) -> Check:
    return lambda v: type(v) in (int, float) and math.isfinite(v) and low <= v <= high


def _one_of(options: tuple[str, ...]) -> Check:
    return lambda v: type(v) is str and v in options


def _matches(pattern: Any) -> Check:
    return lambda v: type(v) is str and pattern.fullmatch(v) is not None


def _text(max_len: int) -> Check:
    return lambda v: type(v) is str and len(v) <= max_len


_COORD = _int_in(0, schema.MAX_COORDINATE)
_FRACTION = _num_in(0.0, 1.0)
_ANCHOR = _matches(schema.ANCHOR_PATTERN)
_PRODUCT = _matches(schema.PRODUCT_ID_PATTERN)
_FLAG = _int_in(0, 1)
_OUTCOME_MS = _int_in(0, schema.OUTCOME_WINDOW_MS)
_PATH_OR_EMPTY: Check = lambda v: v == "" or _matches(schema.PATH_PATTERN)(v)  # noqa: E731

# kind -> (required fields, optional fields); "k" and "t" are common to all.
EVENT_FIELDS: Final[dict[str, tuple[dict[str, Check], dict[str, Check]]]] = {
    "page": (
        {
            "path": _matches(schema.PATH_PATTERN),
            "title": _text(200),
            "ref": _PATH_OR_EMPTY,
            "vw": _int_in(1, 20_000),
            "vh": _int_in(1, 20_000),
            "dh": _int_in(1, schema.MAX_COORDINATE),
            "dev": _one_of(schema.DEVICE_CLASSES),
        },
        {
            "pid": _PRODUCT,
            "cat": _matches(schema.SLUG_PATTERN),
            "sort": _one_of(schema.SORTS),  # the sort /catalog was opened at (URL query)
            "sale": _int_in(0, 1),  # 1: /catalog was opened with on_sale=1 (only 1 is sent)
            "hov": _int_in(0, 1),  # matchMedia("(hover: hover)"): the device can hover
            "disc": _int_in(1, 100),  # a product page's own discount badge, in percent
        },
    ),
    "move": ({"x": _COORD, "y": _COORD}, {}),
    "click": (
        {"x": _COORD, "y": _COORD, "a": _ANCHOR, "rx": _FRACTION, "ry": _FRACTION},
        {
            "act": _matches(schema.SLUG_PATTERN),
            "pid": _PRODUCT,
            "pt": _one_of(schema.POINTER_TYPES),
            "ia": _FLAG,  # 1: the target or an ancestor is interactive (a link, a button...)
            "nf": _FLAG,  # 1: inside data-vitrine-frustration="off" (only 1 is sent)
            "z": _matches(schema.SLUG_PATTERN),  # the closest data-zone (docs/admin.md "Zones")
        },
    ),
    "scroll": ({"y": _COORD, "d": _FRACTION}, {}),
    "vis": (
        {"s": _one_of(schema.VISIBILITY_STATES), "act_ms": _int_in(0, schema.MAX_OFFSET_MS)},
        {},
    ),
    "hover": (
        {"a": _ANCHOR, "tag": _one_of(schema.HOVER_TAGS), "ms": _int_in(0, schema.MAX_HOVER_MS)},
        {"pid": _PRODUCT},
    ),
    "cart": ({"op": _one_of(schema.CART_OPS)}, {"pid": _PRODUCT, "q": _int_in(0, 99)}),
    "search": ({"n": _int_in(0, 200)}, {}),
    "sort": ({"v": _one_of(schema.SORTS)}, {}),
    "filter": ({"f": _one_of(schema.FILTERS)}, {"v": _matches(schema.SLUG_PATTERN)}),
    "zone": ({"z": _matches(schema.SLUG_PATTERN)}, {}),
    # What followed a click within OUTCOME_WINDOW_MS (docs/tracker.md "Frustration facts").
    "outcome": (
        {
            "ct": _int_in(0, schema.MAX_OFFSET_MS),  # the click's own t
            "a": _ANCHOR,
            "x": _COORD,
            "y": _COORD,
            "rx": _FRACTION,
            "ry": _FRACTION,
            "ia": _FLAG,
        },
        {
            "dm": _OUTCOME_MS,  # ms to the first DOM mutation
            "nv": _OUTCOME_MS,  # ms to the page being hidden or unloaded
            "em": _OUTCOME_MS,  # ms to the first uncaught error
            "ek": _one_of(schema.ERROR_KINDS),
            "eo": _matches(schema.SCRIPT_ORIGIN_PATTERN),
        },
    ),
}
assert set(EVENT_FIELDS) == set(schema.EVENT_KINDS)

_BATCH_FIELDS: Final[dict[str, Check]] = {
    "v": lambda v: v == schema.SCHEMA_VERSION and type(v) is int,
    "vid": _matches(schema.ID_PATTERN),
    "sid": _matches(schema.ID_PATTERN),
    "pvid": _matches(schema.ID_PATTERN),
    "seq": _int_in(0, schema.MAX_SEQ),
    "t0": _int_in(1_000_000_000_000, 10_000_000_000_000),
    "path": _matches(schema.PATH_PATTERN),
    "events": lambda v: type(v) is list,
}


@dataclass(frozen=True)
class Limits:
    max_events: int = schema.MAX_EVENTS_PER_BATCH
    max_bytes: int = schema.MAX_BATCH_BYTES


def _event(raw: Any, index: int) -> dict[str, Any]:
    if type(raw) is not dict:
        raise BatchRejected("invalid_event", f"events[{index}] is not an object")
    kind = raw.get("k")
    if type(kind) is not str or kind not in EVENT_FIELDS:
        raise BatchRejected("unknown_kind", f"events[{index}].k is not a known kind")
    t = raw.get("t")
    if type(t) is not int or not 0 <= t <= schema.MAX_OFFSET_MS:
        raise BatchRejected("invalid_event", f"events[{index}].t out of range")
    required, optional = EVENT_FIELDS[kind]
    clean: dict[str, Any] = {"k": kind, "t": t}
    for name, check in required.items():
        value = raw.get(name)
        if not check(value):
            raise BatchRejected("invalid_event", f"events[{index}].{name} is invalid")
        clean[name] = value
    for name, check in optional.items():
        if name in raw:
            if not check(raw[name]):
                raise BatchRejected("invalid_event", f"events[{index}].{name} is invalid")
            clean[name] = raw[name]
    extra = len(raw) - len(clean)
    if extra:
        raise BatchRejected("invalid_event", f"events[{index}] has unknown fields")
    if kind == "outcome" and "em" not in clean and ("ek" in clean or "eo" in clean):
        raise BatchRejected("invalid_event", f"events[{index}]: ek and eo come only with em")
    return clean


def validate_batch(raw: Any, expected_vid: str, limits: Limits = Limits()) -> dict[str, Any]:
    """Return the normalised batch, or raise BatchRejected with a stable code."""
    if type(raw) is not dict:
        raise BatchRejected("invalid_batch", "a batch is a JSON object")
    for name, check in _BATCH_FIELDS.items():
        if not check(raw.get(name)):
            raise BatchRejected("invalid_batch", f"{name} is missing or invalid")
    if len(raw) != len(_BATCH_FIELDS):
        raise BatchRejected("invalid_batch", "unknown batch fields")
    if raw["vid"] != expected_vid:
        raise BatchRejected("forbidden_visitor", "the batch names another visitor")
    events = raw["events"]
    if not events:
        raise BatchRejected("invalid_batch", "events is empty")
    if len(events) > limits.max_events:
        raise BatchRejected("too_many_events", f"at most {limits.max_events} events")
    clean = {name: raw[name] for name in _BATCH_FIELDS}
    clean["events"] = [_event(item, index) for index, item in enumerate(events)]
    return clean
