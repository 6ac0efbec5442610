"""The event vocabulary is defined once in Python and mirrored once in client/src/schema.js."""

from __future__ import annotations

import json
import re
from typing import Any

from personas_engine.vocabulary import PERSONAS, UNKNOWN
from server.domain import events
from server.domain.heatmap import viewport_class
from server.pipeline.batch_schema import (
    _BATCH_FIELDS,
    EVENT_FIELDS,
    REJECTION_CODES,
    RETRYABLE_CODES,
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
                 "VISIBILITY_STATES"):  # fmt: skip
        assert tuple(js[name]) == getattr(events, name), name
    assert tuple(js["PERSONAS"]) == PERSONAS and js["UNKNOWN_PERSONA"] == UNKNOWN
    assert tuple(js["ACK_ERRORS"]) == REJECTION_CODES
    assert tuple(js["RETRYABLE_ERRORS"]) == RETRYABLE_CODES
    assert js["BATCH_FIELDS"] == list(_BATCH_FIELDS)


def test_limits_and_patterns_agree() -> None:
    js = js_constants()
    for name in ("MAX_EVENTS_PER_BATCH", "MAX_BATCH_BYTES", "MAX_SEQ", "MAX_OFFSET_MS",
                 "MAX_COORDINATE", "MAX_HOVER_MS"):  # fmt: skip
        assert js[name] == getattr(events, name), name
    for name in ("ID_PATTERN", "PRODUCT_ID_PATTERN", "SLUG_PATTERN", "ANCHOR_PATTERN",
                 "PATH_PATTERN"):  # fmt: skip
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
