"""The shared batch validator: every rejection reason, and what it lets through."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from server.pipeline.batch_schema import BatchRejected, Limits, validate_batch

FIXTURES = Path(__file__).parent.parent / "fixtures" / "streams"
VID = "visitorAAAA0000"


def fixture_batches(name: str = "product_visit.json") -> list[dict[str, Any]]:
    return json.loads((FIXTURES / name).read_text())["batches"]


def good_batch() -> dict[str, Any]:
    return copy.deepcopy(fixture_batches()[0])


def rejection(batch: Any, vid: str = VID, limits: Limits | None = None) -> str:
    with pytest.raises(BatchRejected) as caught:
        validate_batch(batch, vid, limits or Limits())
    return caught.value.code


def test_fixture_batches_are_valid_and_copied() -> None:
    for batch in fixture_batches():
        clean = validate_batch(batch, VID)
        assert clean == batch
        assert clean is not batch


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda b: b.update(v=2), "invalid_batch"),
        (lambda b: b.update(vid={"$ne": None}), "invalid_batch"),
        (lambda b: b.update(sid="short"), "invalid_batch"),
        (lambda b: b.update(pvid="has space in it"), "invalid_batch"),
        (lambda b: b.update(seq=-1), "invalid_batch"),
        (lambda b: b.update(seq=1.5), "invalid_batch"),
        (lambda b: b.update(seq=True), "invalid_batch"),
        (lambda b: b.update(t0=10**308), "invalid_batch"),
        (lambda b: b.update(path="/catalog?q=secret"), "invalid_batch"),
        (lambda b: b.update(extra=1), "invalid_batch"),
        (lambda b: b.update(events=[]), "invalid_batch"),
        (lambda b: b.update(events="nope"), "invalid_batch"),
        (lambda b: b.update(vid="someoneElse00001"), "forbidden_visitor"),
        (lambda b: b["events"].append({"k": "keypress", "t": 1}), "unknown_kind"),
        (lambda b: b["events"].append({"k": {"$gt": ""}, "t": 1}), "unknown_kind"),
        (lambda b: b["events"].append("move"), "invalid_event"),
        (lambda b: b["events"].append({"k": "move", "t": 1, "x": 1}), "invalid_event"),
        (lambda b: b["events"].append({"k": "move", "t": 1, "x": 1, "y": float("nan")}), "invalid_event"),
        (lambda b: b["events"].append({"k": "move", "t": 1, "x": 1e308, "y": 1}), "invalid_event"),
        (lambda b: b["events"].append({"k": "move", "t": -5, "x": 1, "y": 1}), "invalid_event"),
        (lambda b: b["events"].append({"k": "move", "t": 1, "x": 1, "y": 1, "value": "x"}), "invalid_event"),
        (lambda b: b["events"].append({"k": "scroll", "t": 1, "y": 1, "d": 1.5}), "invalid_event"),
        (lambda b: b["events"].append({"k": "sort", "t": 1, "v": "$where"}), "invalid_event"),
        (lambda b: b["events"].append({"k": "search", "t": 1, "n": 3, "q": "secret"}), "invalid_event"),
        (lambda b: b["events"].append({"k": "click", "t": 1, "x": 1, "y": 1, "a": "<script>", "rx": 0, "ry": 0}), "invalid_event"),
        (lambda b: b["events"].append({"k": "hover", "t": 1, "a": "#x", "tag": "price", "ms": 10**9}), "invalid_event"),
    ],
)  # fmt: skip
def test_each_rejection_reason(mutate: Any, code: str) -> None:
    batch = good_batch()
    mutate(batch)
    assert rejection(batch) == code


def test_too_many_events() -> None:
    batch = good_batch()
    batch["events"] = [{"k": "move", "t": i, "x": 1, "y": 1} for i in range(501)]
    assert rejection(batch) == "too_many_events"
    batch["events"] = batch["events"][:500]
    assert len(validate_batch(batch, VID)["events"]) == 500


def test_not_an_object() -> None:
    assert rejection([good_batch()]) == "invalid_batch"
    assert rejection(None) == "invalid_batch"


def test_deep_nesting_is_rejected_without_recursion() -> None:
    nested: Any = 1
    for _ in range(1000):
        nested = {"x": nested}
    batch = good_batch()
    batch["events"].append({"k": "move", "t": 1, "x": nested, "y": 1})
    assert rejection(batch) == "invalid_event"
