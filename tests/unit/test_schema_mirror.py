"""The event vocabulary is defined once in Python and mirrored once in client/src/schema.js."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from personas_engine.vocabulary import PERSONAS, UNKNOWN
from server.domain import events
from server.domain.heatmap import viewport_class
from server.pipeline.batch_schema import (
    _BATCH_FIELDS,
    EVENT_FIELDS,
    REJECTION_CODES,
    RETRYABLE_CODES,
    BatchRejected,
    validate_batch,
)
from server.settings import REPO_ROOT

SCHEMA_JS = REPO_ROOT / "client" / "src" / "schema.js"


def js_constants() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for match in re.finditer(r"^export const (\w+) = (.+);$", SCHEMA_JS.read_text(), re.M):
        try:
            found[match.group(1)] = json.loads(match.group(2))
        except json.JSONDecodeError:
            continue  # helper expressions, not data
    return found


def test_vocabularies_agree() -> None:
    js = js_constants()
    assert js["SCHEMA_VERSION"] == events.SCHEMA_VERSION
    for name in ("EVENT_KINDS", "SORTS", "HOVER_TAGS", "CART_OPS", "FILTERS", "DEVICE_CLASSES",
                 "VISIBILITY_STATES", "POINTER_TYPES", "ERROR_KINDS"):  # fmt: skip
        assert tuple(js[name]) == getattr(events, name), name
    assert tuple(js["PERSONAS"]) == PERSONAS and js["UNKNOWN_PERSONA"] == UNKNOWN
    assert tuple(js["ACK_ERRORS"]) == REJECTION_CODES
    assert tuple(js["RETRYABLE_ERRORS"]) == RETRYABLE_CODES
    assert js["BATCH_FIELDS"] == list(_BATCH_FIELDS)


def test_limits_and_patterns_agree() -> None:
    js = js_constants()
    for name in ("MAX_EVENTS_PER_BATCH", "MAX_BATCH_BYTES", "MAX_SEQ", "MAX_OFFSET_MS",
                 "MAX_COORDINATE", "MAX_HOVER_MS", "OUTCOME_WINDOW_MS"):  # fmt: skip
        assert js[name] == getattr(events, name), name
    for name in ("ID_PATTERN", "PRODUCT_ID_PATTERN", "SLUG_PATTERN", "ANCHOR_PATTERN",
                 "PATH_PATTERN", "SCRIPT_ORIGIN_PATTERN"):  # fmt: skip
        assert js[name] == getattr(events, name).pattern, name
    assert viewport_class(js["MOBILE_MAX_WIDTH"]) == "mobile"
    assert viewport_class(js["MOBILE_MAX_WIDTH"] + 1) == "tablet"
    assert viewport_class(js["TABLET_MAX_WIDTH"] + 1) == "desktop"


def test_event_fields_agree() -> None:
    js = js_constants()["EVENT_FIELDS"]
    assert set(js) == set(EVENT_FIELDS)
    for kind, (required, optional) in EVENT_FIELDS.items():
        assert js[kind]["required"] == list(required), kind
        assert js[kind]["optional"] == list(optional), kind


def _batch(*events_: dict[str, Any]) -> dict[str, Any]:
    return {"v": 1, "vid": "visitor_12345678", "sid": "session_1234", "pvid": "pv_123456789",
            "seq": 0, "t0": 1_700_000_000_000, "path": "/catalog", "events": list(events_)}  # fmt: skip


PAGE = {"k": "page", "t": 0, "path": "/catalog", "title": "", "ref": "", "vw": 390, "vh": 844,
        "dh": 3000, "dev": "mobile"}  # fmt: skip
CLICK = {"k": "click", "t": 5, "x": 1, "y": 2, "a": "#main", "rx": 0.5, "ry": 0.5}


def test_the_server_accepts_the_touch_fields_the_tracker_sends() -> None:
    """Page `sort`/`sale`/`hov` and click `pt` (optional; schema v1 unchanged) pass, are kept."""
    page = {**PAGE, "sort": "discount", "sale": 1, "hov": 0, "cat": "shoes"}
    clicks = [{**CLICK, "pt": pt, "t": 5 + i} for i, pt in enumerate(events.POINTER_TYPES)]
    clean = validate_batch(_batch(page, *clicks), "visitor_12345678")
    assert clean["events"][0] == page
    assert [e["pt"] for e in clean["events"][1:]] == ["mouse", "touch", "pen"]
    for fields in ({"sale": 0}, {"hov": 1}, {"sort": "price_asc"}, {"disc": 1}, {"disc": 100}):
        validate_batch(_batch({**PAGE, **fields}), "visitor_12345678")


@pytest.mark.parametrize(
    "event",
    [
        {**PAGE, "sort": "cheapest"},
        {**PAGE, "sale": 2},
        {**PAGE, "sale": True},
        {**PAGE, "sale": "1"},
        {**PAGE, "hov": 0.5},
        {**PAGE, "hov": -1},
        {**PAGE, "pt": "touch"},
        {**PAGE, "disc": 0},
        {**PAGE, "disc": 101},
        {**PAGE, "disc": 30.5},
        {**PAGE, "disc": "30"},
        {**PAGE, "disc": True},
        {**CLICK, "pt": "finger"},
        {**CLICK, "pt": ""},
        {**CLICK, "hov": 0},
        {"k": "move", "t": 0, "x": 1, "y": 1, "pt": "touch"},
    ],
)
def test_the_server_rejects_bad_touch_fields(event: dict[str, Any]) -> None:
    with pytest.raises(BatchRejected) as caught:
        validate_batch(_batch(event), "visitor_12345678")
    assert caught.value.code == "invalid_event"
