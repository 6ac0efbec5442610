"""Frustration signals in the flush plan: counted per page and anchor, carried between rounds."""

from __future__ import annotations

from typing import Any

import orjson

from server.domain.heatmap import anchor_key
from server.pipeline.aggregate import StreamedBatch, plan_aggregates
from server.pipeline.ledger import FRUSTRATION, SESSIONS, merge_ops, round_ops

T0 = 1_760_000_000_000
RT = 1_760_000_000_500  # 2025-10-09


def item(seq: int, events: list[dict[str, Any]], *, entry: str = "", pvid: str = "pv00000001", path: str = "/catalog", t0: int = T0, persona: str = "hurried") -> StreamedBatch:  # fmt: skip
    batch = {"vid": "visitor01", "sid": "session01", "pvid": pvid, "seq": seq, "t0": t0,
             "path": path, "events": events}  # fmt: skip
    return StreamedBatch(entry or f"1-{seq}", batch, RT + seq, "treatment", persona)


def click(t: int) -> dict[str, Any]:
    return {"k": "click", "t": t, "x": 300, "y": 420, "a": "#hero", "rx": 0.25, "ry": 0.75}


PAGE = {"k": "page", "t": 0, "path": "/catalog", "title": "", "ref": "", "vw": 1280,
        "vh": 800, "dh": 2000, "dev": "desktop"}  # fmt: skip


def test_a_rage_click_counts_in_its_page_document_and_its_session() -> None:
    plan = plan_aggregates([item(0, [PAGE, click(100), click(300), click(500)])], {})
    doc_id = "2025-10-09|desktop|hurried|treatment|/catalog"
    doc = plan.frustration[doc_id]
    key = anchor_key("#hero")
    assert doc.inc == {"n.rage": 1, f"a.{key}.rage": 1, f"c.rage.{key}.5:15": 1,
                       "p.rage.23:21": 1}  # fmt: skip
    assert doc.set == {f"anchors.{key}": "#hero"}
    assert doc.on_insert == {"day": "2025-10-09", "vc": "desktop", "persona": "hurried",
                             "arm": "treatment", "path": "/catalog"}  # fmt: skip
    assert plan.sessions["session01"].inc["fx.rage"] == 1


def test_the_detection_state_goes_out_with_the_plan_and_comes_back_next_round() -> None:
    first = plan_aggregates([item(0, [PAGE, click(100), click(300)])], {})
    assert first.frustration == {}
    state = orjson.loads(orjson.dumps(first.carry))  # as Redis keeps it
    second = plan_aggregates([item(1, [click(500)])], {"pv00000001": 1280}, state)
    assert [u.inc["n.rage"] for u in second.frustration.values()] == [1]
    without = plan_aggregates([item(1, [click(500)])], {"pv00000001": 1280})
    assert without.frustration == {}  # the carried state is what found it


def test_the_plan_does_not_change_the_state_it_was_given() -> None:
    state = plan_aggregates([item(0, [PAGE, click(100), click(300)])], {}).carry
    before = orjson.dumps(state)
    plan_aggregates([item(1, [click(500)])], {}, state)
    assert orjson.dumps(state) == before  # a retried round starts from the same state


def test_round_ops_carry_the_state_and_the_signal_counts() -> None:
    items = [item(0, [PAGE, click(100), click(300), click(500)])]
    plan = plan_aggregates(items, {})
    ops = round_ops(plan, items)
    [carry] = ops.carries
    assert (carry.sid, carry.vid, carry.received_ms) == ("session01", "visitor01", RT)
    assert orjson.loads(carry.state) == plan.carry["session01"]
    kinds = {k.kind for k in ops.keys}
    assert FRUSTRATION in kinds and SESSIONS in kinds


def test_a_stored_frustration_document_folds_back_as_counts() -> None:
    stored = {"_id": "x", "day": "2025-10-09", "n": {"rage": 2}, "a": {"k1": {"rage": 2}},
              "anchors": {"k1": "#hero"}, "gen": 3}  # fmt: skip
    ops = dict(((field, op) for op, field, _ in merge_ops(FRUSTRATION, stored)))
    assert ops == {"day": "O", "n.rage": "I", "a.k1.rage": "I", "anchors.k1": "O"}
    session_ops = {f: op for op, f, _ in merge_ops(SESSIONS, {"fx": {"dead": 1}})}
    assert session_ops == {"fx.dead": "I"}


def test_an_error_click_keeps_its_kind_and_origin_only() -> None:
    outcome = {"k": "outcome", "t": 2600, "ct": 600, "a": "#hero", "x": 300, "y": 420,
               "rx": 0.25, "ry": 0.75, "ia": 1, "em": 40, "ek": "TypeError",
               "eo": "https://cdn.example.com"}  # fmt: skip
    plan = plan_aggregates([item(0, [PAGE, outcome])], {})
    [doc] = plan.frustration.values()
    origin = anchor_key("https://cdn.example.com")
    assert doc.inc["n.error"] == 1 and doc.inc["ek.TypeError"] == 1
    assert doc.inc[f"eo.{origin}"] == 1
    assert doc.set[f"origins.{origin}"] == "https://cdn.example.com"
