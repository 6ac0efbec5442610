"""The simulator: reproducible, labelled, and every batch is one the tracker could have sent."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import pytest

from personas_engine.simulate import (
    EVAL_MIXTURE,
    TRAIN_MIXTURE,
    Mixture,
    SimulatedVisit,
    main,
    simulate_visits,
)
from personas_engine.vocabulary import PERSONAS

# The rules of docs/events.md, restated here independently of the server's validator.
ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
PATH = re.compile(r"^/[A-Za-z0-9_./-]{0,199}$")
ANCHOR = re.compile(r"^[A-Za-z0-9_\-#.\[\]=\"':>() ]{1,200}$")
PRODUCT = re.compile(r"^p\d{3}$")
SLUG = re.compile(r"^[a-z0-9-]{1,40}$")
KINDS: dict[str, tuple[set[str], set[str]]] = {
    "page": (
        {"path", "title", "ref", "vw", "vh", "dh", "dev"},
        {"pid", "cat", "sort", "sale", "hov", "disc"},
    ),
    "move": ({"x", "y"}, set()),
    "click": ({"x", "y", "a", "rx", "ry"}, {"act", "pid", "pt"}),
    "scroll": ({"y", "d"}, set()),
    "vis": ({"s", "act_ms"}, set()),
    "hover": ({"a", "tag", "ms"}, {"pid"}),
    "cart": ({"op"}, {"pid", "q"}),
    "search": ({"n"}, set()),
    "sort": ({"v"}, set()),
    "filter": ({"f"}, {"v"}),
}
CHOICES = {
    ("page", "dev"): {"mobile", "tablet", "desktop"},
    ("vis", "s"): {"visible", "hidden"},
    ("hover", "tag"): {"price", "discount", "product", "tutorial"},
    ("cart", "op"): {"add", "update", "remove", "checkout", "coupon", "order"},
    ("sort", "v"): {"price_asc", "price_desc", "discount", "popular", "newest"},
    ("filter", "f"): {"on-sale", "category"},
}


def check_event(event: dict[str, Any]) -> None:
    kind = event["k"]
    assert kind in KINDS, kind
    required, optional = KINDS[kind]
    assert required <= set(event) <= required | optional | {"k", "t"}, event
    assert isinstance(event["t"], int) and 0 <= event["t"] <= 86_400_000
    for name in ("x", "y"):
        if name in event:
            assert isinstance(event[name], int) and 0 <= event[name] <= 100_000
    for name in ("rx", "ry", "d"):
        if name in event:
            assert 0 <= event[name] <= 1
    for (k, name), options in CHOICES.items():
        if kind == k:
            assert event[name] in options, event
    if "a" in event:
        assert ANCHOR.fullmatch(event["a"]), event["a"]
    if "pid" in event:
        assert PRODUCT.fullmatch(event["pid"])
    if kind == "page":
        assert PATH.fullmatch(event["path"]) and (
            event["ref"] == "" or PATH.fullmatch(event["ref"])
        )
        assert "cat" not in event or SLUG.fullmatch(event["cat"])
        assert event.get("sort", "popular") in CHOICES[("sort", "v")], event
        assert event.get("sale", 1) == 1 and event.get("hov", 0) in (0, 1), event
    if kind == "click":
        assert event.get("pt", "mouse") in ("mouse", "touch", "pen"), event
    if kind == "click" and "act" in event:
        assert SLUG.fullmatch(event["act"])
    if kind == "hover":
        assert event["ms"] >= 100


def check_batch(batch: dict[str, Any]) -> None:
    assert set(batch) == {"v", "vid", "sid", "pvid", "seq", "t0", "path", "events"}
    assert batch["v"] == 1
    for name in ("vid", "sid", "pvid"):
        assert ID.fullmatch(batch[name]), name
    assert 0 <= batch["seq"] <= 1_000_000
    assert PATH.fullmatch(batch["path"])
    assert 1 <= len(batch["events"]) <= 50  # the tracker flushes at 50 (the schema allows 500)
    assert len(json.dumps(batch)) <= 256 * 1024
    for event in batch["events"]:
        check_event(event)


@pytest.fixture(scope="module")
def visits() -> list[SimulatedVisit]:
    return simulate_visits(60, 7) + simulate_visits(60, 8, EVAL_MIXTURE)


def test_same_seed_same_visits_and_other_seed_other_visits() -> None:
    first = simulate_visits(6, 42)
    again = simulate_visits(6, 42)
    assert [v.batches for v in first] == [v.batches for v in again]
    assert [v.label for v in first] == [v.label for v in again]
    assert [v.batches for v in simulate_visits(6, 43)] != [v.batches for v in first]


def test_every_batch_follows_the_schema(visits: list[SimulatedVisit]) -> None:
    for visit in visits:
        for batch in visit.batches:
            check_batch(batch)


def test_every_batch_passes_the_servers_validator(visits: list[SimulatedVisit]) -> None:
    schema = pytest.importorskip("server.pipeline.batch_schema")
    for visit in visits:
        for batch in visit.batches:
            schema.validate_batch(batch, batch["vid"])


def test_sampling_rates_and_order_within_each_page_view(visits: list[SimulatedVisit]) -> None:
    for visit in visits:
        seen: set[tuple[str, int]] = set()
        last_seq: dict[str, int] = {}
        last_t: dict[tuple[str, str], int] = {}
        for batch in visit.batches:
            key = (batch["pvid"], batch["seq"])
            if key in seen:
                continue  # a simulated resend
            seen.add(key)
            assert batch["seq"] == last_seq.get(batch["pvid"], -1) + 1
            last_seq[batch["pvid"]] = batch["seq"]
            assert batch["events"][0]["k"] == "page" or batch["seq"] > 0
            for event in batch["events"]:
                for kind, min_gap in (("move", 50), ("scroll", 200)):  # <= 20 Hz, <= 5 Hz
                    if event["k"] == kind:
                        previous = last_t.get((batch["pvid"], kind))
                        assert previous is None or event["t"] - previous >= min_gap
                        last_t[(batch["pvid"], kind)] = event["t"]


def test_one_visitor_and_one_session_per_visit(visits: list[SimulatedVisit]) -> None:
    for visit in visits:
        assert len({b["vid"] for b in visit.batches}) == 1
        assert len({b["sid"] for b in visit.batches}) == 1
    assert len({v.batches[0]["vid"] for v in visits}) == len(visits)


def test_labels_are_balanced_and_dominant(visits: list[SimulatedVisit]) -> None:
    counts = Counter(v.label for v in visits)
    assert set(counts) == set(PERSONAS)
    assert max(counts.values()) - min(counts.values()) <= 1
    for visit in visits:
        assert visit.weights[visit.label] == max(visit.weights.values()) >= 0.5
        assert sum(visit.weights.values()) == pytest.approx(1.0)


def test_visits_show_their_personas_signature_actions() -> None:
    clear = simulate_visits(90, 5, Mixture(pure_fraction=1.0, noise=0.0))
    kinds: dict[str, Counter[str]] = {p: Counter() for p in PERSONAS}
    for visit in clear:
        for batch in visit.batches:
            for event in batch["events"]:
                kinds[visit.label][
                    event["k"] + ":" + str(event.get("op", event.get("tag", "")))
                ] += 1
    assert kinds["bargain_hunter"]["sort:"] > kinds["explorer"]["sort:"]
    assert kinds["bargain_hunter"]["hover:discount"] > 5 * (kinds["explorer"]["hover:discount"] + 1)
    assert kinds["hurried"]["cart:checkout"] > kinds["explorer"]["cart:checkout"]
    assert kinds["explorer"]["page:"] > kinds["hurried"]["page:"]


def test_a_given_catalog_is_used() -> None:
    catalog = [
        {"id": "p901", "category": "teapots", "discount_percent": 30, "price_cents": 2_500},
        {"id": "p902", "category": "mugs", "discount_percent": None, "price_cents": 1_200},
    ]
    products = {
        event["pid"]
        for visit in simulate_visits(9, 1, catalog=catalog)
        for batch in visit.batches
        for event in batch["events"]
        if "pid" in event
    }
    assert products and products <= {"p901", "p902"}


def test_mixture_parameters_are_checked() -> None:
    assert EVAL_MIXTURE != TRAIN_MIXTURE
    with pytest.raises(ValueError):
        Mixture(dominant_min=0.4)
    with pytest.raises(ValueError):
        Mixture(noise=1.5)


def test_cli_prints_ndjson_batches(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["--n", "2", "--seed", "1"]) == 0
    lines = capsysbinary.readouterr().out.splitlines()
    assert lines
    for line in lines:
        check_batch(json.loads(line))
    assert main(["--n", "1", "--seed", "1", "--labels"]) == 0
    first = json.loads(capsysbinary.readouterr().out.splitlines()[0])
    assert first["label"] in PERSONAS and "batch" in first


@pytest.mark.parametrize("mixture", [TRAIN_MIXTURE, EVAL_MIXTURE], ids=["train", "eval"])
def test_the_population_looks_like_shop_traffic(mixture: Mixture) -> None:
    visits = simulate_visits(600, 11, mixture)
    phones = [v for v in visits if v.device == "mobile"]
    assert len(phones) >= len(visits) / 2  # most shop traffic is on phones
    for visit in (v for v in visits if v.pointer == "touch"):
        kinds = Counter(e["k"] for b in visit.batches for e in b["events"])
        assert kinds["move"] == 0 and kinds["hover"] == 0, kinds  # a finger draws no path
        pages = [e for b in visit.batches for e in b["events"] if e["k"] == "page"]
        assert all(page["hov"] == 0 for page in pages)
        assert all(e.get("pt") == "touch" for b in visit.batches for e in b["events"]
                   if e["k"] == "click")  # fmt: skip
    assert sum(kinds["scroll"] > 0 for kinds in (
        Counter(e["k"] for b in v.batches for e in b["events"]) for v in phones
    )) > 0.9 * len(phones)  # fmt: skip

    def landing(visit: SimulatedVisit) -> dict[str, Any]:
        first = min(visit.batches, key=lambda b: b["t0"])
        return next(e for e in first["events"] if e["k"] == "page")

    landings = Counter(
        (visit.label, "sale" if landing(visit).get("sale") else landing(visit).get("sort", ""))
        for visit in visits
        if landing(visit)["path"] == "/catalog"
    )
    assert landings[("bargain_hunter", "sale")] > 0  # the Deals link
    assert landings[("bargain_hunter", "price_asc")] > 0
    assert landings[("explorer", "sale")] > 0  # not only bargain hunters follow it
    assert sum(n for (label, sort), n in landings.items() if sort in ("popular", "newest")) > 0
    shifted = [v for v in visits if v.extra.get("shift")]
    assert shifted and all(len(v.weights) == 2 for v in shifted)  # journeys that change
