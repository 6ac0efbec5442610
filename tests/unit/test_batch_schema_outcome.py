"""Frustration facts in the batch validator (issue 14): click `ia`/`nf` and the `outcome`
event (docs/events.md, docs/tracker.md "Frustration facts")."""

from __future__ import annotations

from typing import Any

import pytest

from server.domain import events
from server.pipeline.batch_schema import BatchRejected, validate_batch

VID = "visitor_12345678"
CLICK = {"k": "click", "t": 500, "x": 120, "y": 340, "a": "#blurb", "rx": 0.2, "ry": 0.25}
OUTCOME = {"k": "outcome", "t": 2500, "ct": 500, "a": "#blurb", "x": 120, "y": 340,
           "rx": 0.2, "ry": 0.25, "ia": 0}  # fmt: skip


def _batch(*events_: dict[str, Any]) -> dict[str, Any]:
    return {"v": 1, "vid": VID, "sid": "session_1234", "pvid": "pv_123456789", "seq": 0,
            "t0": 1_700_000_000_000, "path": "/product/p012", "events": list(events_)}  # fmt: skip


def _rejected(event: dict[str, Any]) -> str:
    with pytest.raises(BatchRejected) as caught:
        validate_batch(_batch(event), VID)
    return caught.value.code


def test_the_window_kinds_and_origin_pattern() -> None:
    assert events.OUTCOME_WINDOW_MS == 2000
    assert "outcome" in events.EVENT_KINDS
    assert events.ERROR_KINDS[-2:] == ("rejection", "other")
    for origin in ("self", "inline", "unknown", "https://cdn.example.com", "http://127.0.0.1:5000"):
        assert events.SCRIPT_ORIGIN_PATTERN.fullmatch(origin), origin


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"dm": 0},
        {"nv": 2000},
        {"dm": 12, "nv": 800},
        {"em": 40, "ek": "TypeError", "eo": "self"},
        {"em": 1999, "ek": "rejection", "eo": "unknown"},
        {"em": 3, "ek": "other", "eo": "inline"},
        {"em": 3, "ek": "Error", "eo": "https://cdn.example.com"},
        {"em": 3, "ek": "DOMException", "eo": "http://widgets.example.org:8443"},
        {"em": 3},  # the time alone: kind and origin stay optional
        {"ia": 1, "em": 0, "ek": "AggregateError", "eo": "self", "dm": 5},
    ],
)
def test_outcomes_the_tracker_sends_are_accepted_and_kept(fields: dict[str, Any]) -> None:
    event = {**OUTCOME, **fields}
    clean = validate_batch(_batch({**CLICK, "ia": 0}, event), VID)
    assert clean["events"][1] == event


def test_every_error_kind_is_accepted() -> None:
    outcomes = [{**OUTCOME, "em": 1, "ek": kind, "eo": "self"} for kind in events.ERROR_KINDS]
    clean = validate_batch(_batch(*outcomes), VID)
    assert [e["ek"] for e in clean["events"]] == list(events.ERROR_KINDS)


def test_click_ia_and_nf_are_optional_flags() -> None:
    clicks = [CLICK, {**CLICK, "ia": 0}, {**CLICK, "ia": 1}, {**CLICK, "ia": 1, "nf": 1}]
    clean = validate_batch(_batch(*clicks), VID)
    assert clean["events"] == clicks


@pytest.mark.parametrize(
    "event",
    [
        {**CLICK, "ia": 2},
        {**CLICK, "ia": True},
        {**CLICK, "ia": "1"},
        {**CLICK, "nf": 2},
        {**CLICK, "nf": "off"},
        {**CLICK, "dm": 3},  # outcome fields are not click fields
        {**CLICK, "ct": 5},
        {**OUTCOME, "eo": "https://x.com/path"},
        {**OUTCOME, "em": 3, "eo": "https://x.com/path"},
        {**OUTCOME, "em": 3, "eo": "https://x.com/"},
        {**OUTCOME, "em": 3, "eo": "https://x.com?q=1"},
        {**OUTCOME, "em": 3, "eo": "https://user:pw@x.com"},
        {**OUTCOME, "em": 3, "eo": "ftp://x.com"},
        {**OUTCOME, "em": 3, "eo": "SELF"},
        {**OUTCOME, "em": 3, "eo": "https://X.com"},
        {**OUTCOME, "em": 3, "eo": "self\n"},
        {**OUTCOME, "em": 3, "eo": "https://" + "a" * 101},
        {**OUTCOME, "em": 3, "eo": "https://x.com:123456"},
        {**OUTCOME, "em": 3, "eo": 1},
        {**OUTCOME, "em": 3, "ek": "TypeError: Cannot read properties of undefined (reading 'q')"},
        {**OUTCOME, "em": 3, "ek": "Uncaught TypeError"},
        {**OUTCOME, "em": 3, "ek": "typeerror"},
        {**OUTCOME, "em": 3, "ek": "PaymentError"},
        {**OUTCOME, "em": 3, "ek": ""},
        {**OUTCOME, "ek": "TypeError", "eo": "self"},  # a kind and origin without the time
        {**OUTCOME, "ek": "TypeError"},
        {**OUTCOME, "eo": "self"},
        {**OUTCOME, "dm": 2001},
        {**OUTCOME, "dm": -1},
        {**OUTCOME, "nv": 2001},
        {**OUTCOME, "nv": 1.5},
        {**OUTCOME, "em": 2001, "ek": "Error", "eo": "self"},
        {**OUTCOME, "em": "10"},
        {**OUTCOME, "em": True},
        {**OUTCOME, "ct": -1},
        {**OUTCOME, "ct": 86_400_001},
        {**OUTCOME, "ia": 2},
        {**OUTCOME, "a": "a/b"},
        {**OUTCOME, "x": 100_001},
        {**OUTCOME, "rx": 1.5},
        {**OUTCOME, "msg": "Cannot read properties of undefined"},  # unknown fields
        {**OUTCOME, "em": 3, "stack": "at checkout (shop.js:1:2)"},
        {**OUTCOME, "filename": "https://cdn.example.com/x.js"},
        {**OUTCOME, "pt": "mouse"},
        {**OUTCOME, "nf": 1},
    ],
)
def test_bad_outcomes_and_click_flags_are_rejected(event: dict[str, Any]) -> None:
    assert _rejected(event) == "invalid_event"


@pytest.mark.parametrize("missing", ["ct", "a", "x", "y", "rx", "ry", "ia"])
def test_an_outcome_needs_its_click_fields(missing: str) -> None:
    event = {k: v for k, v in OUTCOME.items() if k != missing}
    assert _rejected(event) == "invalid_event"
