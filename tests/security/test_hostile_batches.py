"""The batch validator under random and hostile input: a stable code or a clean batch, nothing else."""

from __future__ import annotations

import math
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from server.domain import events as schema
from server.pipeline.batch_schema import (
    _BATCH_FIELDS,
    EVENT_FIELDS,
    REJECTION_CODES,
    BatchRejected,
    Limits,
    validate_batch,
)
from tests.security.hostile import CASES, SUITE, field_values, json_values, operator_objects

VID = "visitorHostile0001"
ids = st.from_regex(schema.ID_PATTERN, fullmatch=True)
coords = st.integers(0, schema.MAX_COORDINATE)
fractions = st.floats(0, 1, allow_nan=False)
anchors = st.from_regex(schema.ANCHOR_PATTERN, fullmatch=True)
products = st.from_regex(schema.PRODUCT_ID_PATTERN, fullmatch=True)

VALID_EVENTS = {
    "move": st.fixed_dictionaries({"x": coords, "y": coords}),
    "click": st.fixed_dictionaries(
        {"x": coords, "y": coords, "a": anchors, "rx": fractions, "ry": fractions},
        optional={"pid": products},
    ),
    "scroll": st.fixed_dictionaries({"y": coords, "d": fractions}),
    "hover": st.fixed_dictionaries(
        {
            "a": anchors,
            "tag": st.sampled_from(schema.HOVER_TAGS),
            "ms": st.integers(0, schema.MAX_HOVER_MS),
        }
    ),
    "cart": st.fixed_dictionaries(
        {"op": st.sampled_from(schema.CART_OPS)}, optional={"q": st.integers(0, 99)}
    ),
    "search": st.fixed_dictionaries({"n": st.integers(0, 200)}),
    "sort": st.fixed_dictionaries({"v": st.sampled_from(schema.SORTS)}),
}


def valid_event() -> st.SearchStrategy[dict[str, Any]]:
    return st.sampled_from(sorted(VALID_EVENTS)).flatmap(
        lambda kind: st.tuples(VALID_EVENTS[kind], st.integers(0, schema.MAX_OFFSET_MS)).map(
            lambda pair: {"k": kind, "t": pair[1], **pair[0]}
        )
    )


valid_batches = st.fixed_dictionaries(
    {
        "v": st.just(1), "vid": st.just(VID), "sid": ids, "pvid": ids,
        "seq": st.integers(0, schema.MAX_SEQ),
        "t0": st.integers(1_000_000_000_000, 10_000_000_000_000),
        "path": st.from_regex(schema.PATH_PATTERN, fullmatch=True),
        "events": st.lists(valid_event(), min_size=1, max_size=20),
    }
)  # fmt: skip


@st.composite
def hostile_batches(draw: st.DrawFn) -> Any:
    """A valid batch with one thing broken, or no batch at all."""
    how = draw(st.sampled_from(["field", "event-field", "extra", "event-extra", "random",
                                "operator", "events"]))  # fmt: skip
    if how == "random":
        return draw(json_values)
    if how == "operator":
        return draw(operator_objects)
    batch = draw(valid_batches)
    if how == "field":
        batch[draw(st.sampled_from(sorted(_BATCH_FIELDS)))] = draw(field_values)
    elif how == "extra":
        batch[draw(st.sampled_from(["__proto__", "$where", "admin", "V"]))] = draw(json_values)
    elif how == "events":
        batch["events"] = draw(st.lists(json_values, max_size=5))
    else:
        index = draw(st.integers(0, len(batch["events"]) - 1))
        event = dict(batch["events"][index])
        if how == "event-field":
            event[draw(st.sampled_from(sorted(event)))] = draw(field_values)
        else:
            event[draw(st.sampled_from(["value", "text", "$gt", "__proto__"]))] = "typed text"
        batch["events"][index] = event
    return batch


@settings(SUITE, max_examples=1000)
@given(raw=hostile_batches())
def test_hostile_batches_get_a_stable_code_or_a_clean_copy(raw: Any) -> None:
    CASES["batch validator (hostile)"] += 1
    try:
        clean = validate_batch(raw, VID, Limits())
    except BatchRejected as rejection:
        assert rejection.code in REJECTION_CODES
        return
    # Accepted by chance (a mutation that kept the field valid): then it is fully clean.
    assert set(clean) == set(_BATCH_FIELDS)
    for event in clean["events"]:
        required, optional = EVENT_FIELDS[event["k"]]
        assert set(event) <= {"k", "t", *required, *optional}
        assert all(not isinstance(v, float) or math.isfinite(v) for v in event.values())
    orjson.dumps(clean)  # storable: no NaN, no surrogates, no odd types


@settings(SUITE, max_examples=300)
@given(batch=valid_batches)
def test_valid_batches_pass_unchanged(batch: dict[str, Any]) -> None:
    CASES["batch validator (valid)"] += 1
    assert validate_batch(batch, VID, Limits()) == batch


@settings(SUITE, max_examples=200)
@given(batch=valid_batches, other=ids)
def test_a_batch_naming_another_visitor_is_forbidden(batch: dict[str, Any], other: str) -> None:
    CASES["batch validator (other visitor)"] += 1
    if other == VID:
        return
    try:
        validate_batch({**batch, "vid": other}, VID, Limits())
    except BatchRejected as rejection:
        assert rejection.code == "forbidden_visitor"
    else:
        raise AssertionError("accepted a batch for another visitor")
