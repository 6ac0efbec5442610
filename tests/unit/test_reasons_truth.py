"""True reasons only: every reason a visit gets is a fact of that visit's raw events.

For simulated visits (both mixtures, desktop and touch) every phrase is asked for, and each
reason is checked against the batches with counters written here, independently of
personas_engine/features.py: the value the reason rests on, the numbers its text shows, and
its wording (guides only for guide page views, "sorted by" only for the sort control, taps on
touch screens, clicks and pointers on desktops).
"""

from __future__ import annotations

import itertools
import math
import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from personas_engine.catalog import load_catalog
from personas_engine.features import features_of
from personas_engine.reasons import PHRASES, Fact, explain, reason_facts
from personas_engine.simulate import EVAL_MIXTURE, TRAIN_MIXTURE, Mixture, simulate_visits

CATALOG = load_catalog()
EVERY_PHRASE = list(PHRASES)
ALL = len(PHRASES) + 2  # no limit: every reason the visit can give
NOT_MEASURED = -1.0
NOT_YET = 600.0
MAX_DWELL = 300_000
IDLE_GAP, MOVE_GAP, SCROLL_GAP, HESITATION = 2_000, 500, 2_000, 1_000
REVERSAL, MAX_GAP = 150.0, 60_000
DEAL_SORTS = ("discount", "price_asc")
# Shown as a percentage in the text.
RATIOS = {
    "idle_ratio",
    "hesitation_ratio",
    "max_scroll_depth_mean",
    "product_scroll_depth_mean",
    "discount_viewed_share",
}
HOVER_BASED = {
    "price_hovers",
    "discount_hovers",
    "discount_hover_s",
    "product_hovers",
    "tutorial_hovers",
    "pointer_speed_px_s",
    "path_straightness",
    "hesitation_ratio",
}
TOUCH_WORDS = re.compile(r"\btap|\bswip|touché l'écran|appuis|du doigt|glisser", re.I)
DESKTOP_WORDS = re.compile(
    r"click|pointer|hover|scrolled|cliqu|clics|pointeur|survol|défiler", re.I
)
GUIDE_WORDS = re.compile(r"guide", re.I)
SORTED_BY = re.compile(r"^(sorted by|a trié)", re.I)


# -- an independent reading of the raw events --------------------------------------------------


@dataclass
class Page:
    """One page view: its `page` event and its events in order."""

    pvid: str
    t0: int
    path: str
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def head(self) -> dict[str, Any]:
        return next((e for e in self.events if e.get("k") == "page"), {})

    @property
    def bare(self) -> str:
        return urlsplit(str(self.head.get("path") or self.path)).path.rstrip("/") or "/"

    @property
    def kind(self) -> str:
        bare = self.bare
        if bare.startswith("/product/"):
            return "product"
        for kind in ("catalog", "cart", "checkout", "tutorials", "order"):
            if bare == f"/{kind}" or bare.startswith(f"/{kind}/"):
                return kind
        return "home" if bare == "/" else "other"

    @property
    def can_hover(self) -> bool:
        head = self.head
        return head["hov"] == 1 if "hov" in head else head.get("dev") == "desktop"

    @property
    def pid(self) -> str:
        return str(self.head.get("pid") or self.bare.rsplit("/", 1)[-1])

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("k") == kind]


class Raw:
    """The visit read from its batches: each (pvid, seq) once, pages and events in time order."""

    def __init__(self, batches: Iterable[Mapping[str, Any]]) -> None:
        seen: set[tuple[str, int]] = set()
        by_page: dict[str, list[Mapping[str, Any]]] = {}
        latest_t0 = -1
        self.out_of_order = False  # a batch of a page view arrived after a later page's
        for batch in batches:
            key = (str(batch["pvid"]), int(batch["seq"]))
            if key not in seen:
                seen.add(key)
                by_page.setdefault(key[0], []).append(batch)
                self.out_of_order |= int(batch["t0"]) < latest_t0
                latest_t0 = max(latest_t0, int(batch["t0"]))
        pages = []
        for pvid, group in by_page.items():
            group.sort(key=lambda b: int(b["seq"]))
            page = Page(pvid, int(group[0]["t0"]), str(group[0].get("path", "")))
            for batch in group:
                page.events.extend(dict(e) for e in batch["events"])
            if page.head:
                pages.append(page)
        self.pages = sorted(pages, key=lambda p: p.t0)
        # Every event with its page, in time order.
        self.timeline = sorted(
            (
                (p.t0 + int(e.get("t", 0)), i, e, p)
                for p in self.pages
                for i, e in enumerate(p.events)
            ),
            key=lambda item: (item[0], item[3].t0, item[1]),
        )
        self.touch = bool(self.pages) and not any(p.can_hover for p in self.pages)
        self.values = self._values()

    def events(self, kind: str) -> list[tuple[int, dict[str, Any], Page]]:
        return [(at, e, p) for at, _, e, p in self.timeline if e.get("k") == kind]

    def _values(self) -> dict[str, float]:
        v: dict[str, float] = {}
        stamps = [at for at, *_ in self.timeline]
        first = min(stamps) if stamps else 0
        duration = (max(stamps) - first) / 1000 if stamps else 0.0
        products = [p for p in self.pages if p.kind == "product"]
        catalogs = [p for p in self.pages if p.kind == "catalog"]
        v["visit_duration_s"] = duration
        v["pages_per_minute"] = len(self.pages) / (max(duration, 10.0) / 60)
        v["product_views"] = float(len(products))
        v["products_viewed"] = float(len({p.pid for p in products}))
        v["back_and_forth"] = float(len(products) - len({p.pid for p in products}))
        discounted = [int(p.head["disc"]) for p in products if p.head.get("disc")]
        v["discount_viewed_share"] = len(discounted) / len(products) if products else NOT_MEASURED
        v["mean_viewed_discount"] = (
            sum(discounted) / len(discounted) if discounted else NOT_MEASURED
        )
        v["distinct_categories"] = float(
            len({str(p.head.get("cat")) for p in products if p.head.get("cat")})
        )
        v["tutorial_views"] = float(sum(p.bare.startswith("/tutorials") for p in self.pages))
        v["catalog_views"] = float(len(catalogs))
        v["on_sale_views"] = float(sum(p.head.get("sale") == 1 for p in catalogs))
        v["deal_sorted_views"] = float(sum(p.head.get("sort") in DEAL_SORTS for p in catalogs))
        v["back_navigations"] = float(
            sum(
                1
                for i in range(2, len(self.pages))
                if self.pages[i].bare == self.pages[i - 2].bare != self.pages[i - 1].bare
            )
        )
        self._actions(v, first)
        self._sorts(v)
        self._pages(v)
        self._pointer(v)
        if self.touch:
            v.update(dict.fromkeys(HOVER_BASED, NOT_MEASURED))
        return v

    def _actions(self, v: dict[str, float], first: int) -> None:
        clicks = self.events("click")
        carts = self.events("cart")
        v["clicks"] = float(len(clicks))
        gaps = [  # between the taps of one page view (a navigation starts a new count)
            min(b - a, MAX_GAP)
            for page in self.pages
            for a, b in itertools.pairwise(
                sorted(int(e.get("t", 0)) for e in page.events if e.get("k") == "click")
            )
        ]
        v["tap_gap_s"] = sum(gaps) / len(gaps) / 1000 if gaps else NOT_MEASURED
        adds = [at for at, e, _ in carts if e.get("op") == "add"]
        v["add_to_cart_count"] = float(len(adds))
        checkouts = [at for at, e, _ in carts if e.get("op") == "checkout"]
        checkouts += [p.t0 + int(p.head.get("t", 0)) for p in self.pages if p.kind == "checkout"]
        products = [p.t0 + int(p.head.get("t", 0)) for p in self.pages if p.kind == "product"]
        v["checkout_reached"] = 1.0 if checkouts else 0.0
        v["time_to_first_add_s"] = _since(first, min(adds, default=None))
        v["time_to_first_product_s"] = _since(first, min(products, default=None))
        v["cart_to_checkout_s"] = _since(min(adds, default=first), min(checkouts, default=None))
        v["searches"] = float(len(self.events("search")))
        v["coupon_interactions"] = float(
            sum(
                "coupon" in str(e.get("a", "")) and e.get("act") != "apply-coupon"
                for _, e, _ in clicks
            )
            + sum(e.get("op") == "coupon" for _, e, _ in carts)
        )
        filters = self.events("filter")
        v["on_sale_filters"] = float(sum(e.get("f") == "on-sale" for _, e, _ in filters))
        hovers = [e for _, e, p in self.events("hover") if p.can_hover]
        for tag in ("price", "discount", "product", "tutorial"):
            v[f"{tag}_hovers"] = float(sum(e.get("tag") == tag for e in hovers))
        v["discount_hover_s"] = (
            sum(float(e.get("ms", 0)) for e in hovers if e.get("tag") == "discount") / 1000
        )

    def _sorts(self, v: dict[str, float]) -> None:
        # The sort control counts when it changes the sort in place (a page opened at a sort
        # sets it); the category filter likewise.
        # The sort in place is the page view's own: the one it was opened at, then as chosen.
        sorts = {p.pvid: str(p.head.get("sort") or "") for p in self.pages}
        category = ""
        counts = dict.fromkeys(
            ("price_sorts", "discount_sorts", "other_sorts", "category_filters"), 0.0
        )
        for _, _, e, p in self.timeline:
            kind = e.get("k")
            sort = sorts[p.pvid]
            if kind == "sort":
                value = str(e.get("v", ""))
                if value and value != sort:
                    name = (
                        "price"
                        if value.startswith("price")
                        else "discount"
                        if value == "discount"
                        else "other"
                    )
                    counts[f"{name}_sorts"] += 1
                sorts[p.pvid] = value
            elif kind == "filter" and e.get("f") == "category":
                value = str(e.get("v", ""))
                if value and value != category:
                    counts["category_filters"] += 1
                category = value
        v.update(counts)

    def _pages(self, v: dict[str, float]) -> None:
        page_ms = product_ms = deal_ms = idle = 0.0
        depths: list[float] = []
        product_depths: list[float] = []
        scroll_px = scroll_ms = 0.0
        reversals = hesitant = 0
        for i, page in enumerate(self.pages):
            cap = page.t0 + MAX_DWELL
            end = max([page.t0] + [min(page.t0 + int(e.get("t", 0)), cap) for e in page.events])
            last_act = -1
            for e in page.events:
                if e.get("k") != "move":
                    t = int(e.get("t", 0))
                    quiet = t - last_act if last_act >= 0 else t
                    idle += quiet if quiet > IDLE_GAP else 0
                    last_act = max(last_act, t)
            if i + 1 < len(self.pages):
                until = min(self.pages[i + 1].t0, cap)
                silence = until - (page.t0 + max(last_act, 0))
                idle += silence if silence > IDLE_GAP else 0
                end = max(end, until)
            page_ms += end - page.t0
            head = page.head
            vh, dh = float(head.get("vh", 0) or 0), float(head.get("dh", 0) or 0)
            depth = min(1.0, vh / dh) if dh > 0 else 0.0
            scrolls = page.of("scroll")
            for e in scrolls:
                depth = max(depth, min(1.0, max(0.0, float(e.get("d", 0)))))
            depths.append(depth)
            if page.kind == "product":
                product_ms += end - page.t0
                product_depths.append(depth)
            if page.kind == "catalog" and (head.get("sale") == 1 or head.get("sort") in DEAL_SORTS):
                deal_ms += end - page.t0  # a listing of deals, as it was opened
            for a, b in itertools.pairwise(scrolls):
                dt = int(b.get("t", 0)) - int(a.get("t", 0))
                if 0 < dt <= SCROLL_GAP:
                    scroll_px += abs(float(b["y"]) - float(a["y"]))
                    scroll_ms += dt
            reversals += _reversals([float(e.get("y", 0)) for e in scrolls])
            last_t = -1
            for e in page.events:
                t = int(e.get("t", 0))
                gap = t - last_t if last_t >= 0 else t
                hesitant += e.get("k") == "click" and gap >= HESITATION
                last_t = max(last_t, t)
        clicks = v["clicks"]
        v["idle_ratio"] = min(1.0, idle / page_ms) if page_ms > 0 else 0.0
        v["deal_listing_s"] = deal_ms / 1000
        v["mean_dwell_per_product_s"] = (
            product_ms / 1000 / len(product_depths) if product_depths else NOT_MEASURED
        )
        v["max_scroll_depth_mean"] = sum(depths) / len(depths) if depths else 0.0
        v["product_scroll_depth_mean"] = (
            sum(product_depths) / len(product_depths) if product_depths else NOT_MEASURED
        )
        v["scroll_speed_px_s"] = scroll_px * 1000 / scroll_ms if scroll_ms > 0 else NOT_MEASURED
        v["scroll_reversals"] = float(reversals)
        v["hesitation_ratio"] = hesitant / clicks if clicks else NOT_MEASURED

    def _pointer(self, v: dict[str, float]) -> None:
        px = ms = disp = length = 0.0
        for page in self.pages:
            if not page.can_hover:
                continue
            segments: list[list[tuple[float, float]]] = []
            last_t = -1
            for e in page.of("move"):
                t, point = int(e.get("t", 0)), (float(e.get("x", 0)), float(e.get("y", 0)))
                if last_t >= 0 and 0 < t - last_t <= MOVE_GAP:
                    px += math.dist(segments[-1][-1], point)
                    ms += t - last_t
                    segments[-1].append(point)
                else:
                    segments.append([point])
                last_t = t
            for seg in segments:
                seg_len = sum(math.dist(a, b) for a, b in itertools.pairwise(seg))
                if seg_len > 0:
                    disp += math.dist(seg[0], seg[-1])
                    length += seg_len
        v["pointer_speed_px_s"] = px * 1000 / ms if ms > 0 else NOT_MEASURED
        v["path_straightness"] = disp / length if length > 0 else NOT_MEASURED


def _since(start: int, at: int | None) -> float:
    return NOT_YET if at is None else min(NOT_YET, max(0.0, (at - start) / 1000))


def _reversals(ys: list[float]) -> int:
    # Legs of one direction; an upward leg reaching REVERSAL px right after a downward leg of
    # at least REVERSAL px is one reversal.
    legs: list[float] = []  # signed lengths: + down, - up
    count = 0
    for a, b in itertools.pairwise(ys):
        delta = b - a
        if delta == 0:
            continue
        if legs and (legs[-1] > 0) == (delta > 0):
            before = legs[-1]
            legs[-1] += delta
        else:
            before = 0.0
            legs.append(delta)
        rising = legs[-1] < 0 and -before < REVERSAL <= -legs[-1]
        if rising and len(legs) >= 2 and legs[-2] >= REVERSAL:
            count += 1
    return count


# -- the checks ---------------------------------------------------------------------------------

NUMBER = re.compile(r"une fois|deux fois|once|twice|\d+(?:[.,]\d+)?")
WORD_NUMBERS = {"once": 1.0, "une fois": 1.0, "twice": 2.0, "deux fois": 2.0}


def numbers_in(text: str) -> list[tuple[float, float]]:
    """Return each number in a text with how far its display may be from the real value."""
    found = []
    for token in NUMBER.findall(text):
        if token in WORD_NUMBERS:
            found.append((WORD_NUMBERS[token], 0.0))
            continue
        token = token.replace(",", ".")
        decimals = len(token.split(".")[1]) if "." in token else 0
        found.append((float(token), 0.5 * 10**-decimals + 1e-9))
    return found


def shown(fact_pairs: list[tuple[str, float]]) -> list[tuple[str, float]]:
    """The (feature, value) pairs whose number the text must show, in order."""
    silent = {
        ("checkout_reached", 1.0),
        ("add_to_cart_count", 0.0),
        ("time_to_first_product_s", 0.0),
    }
    return [(name, value) for name, value in fact_pairs if (name, value) not in silent]


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)


def check_fact(fact: Fact, features: Mapping[str, float], raw: Raw) -> None:
    pairs = [(fact.feature, fact.value), *fact.also]
    where = f"{fact.text!r} ({fact.feature})" + (" [batches out of order]" * raw.out_of_order)
    for name, value in pairs:
        assert close(features[name], value), f"{where}: {name} is {features[name]}, not {value}"
        assert close(raw.values[name], value), (
            f"{where}: the events give {name} = {raw.values[name]}"
        )
    # The numbers the text shows are the fact's, in order, and nothing else.
    stated = shown(pairs)
    numbers = numbers_in(fact.text)
    assert len(numbers) == len(stated), f"{where}: shows {numbers}, states {stated}"
    for (number, slack), (name, value) in zip(numbers, stated, strict=True):
        value = value * 100 if name in RATIOS else value
        assert abs(number - value) <= slack, f"{where}: shows {number}, the fact is {value}"
    # Wording.
    text = fact.text
    if raw.touch:
        assert not DESKTOP_WORDS.search(text), f"{where}: pointer wording on a touch visit"
        assert fact.feature not in HOVER_BASED, f"{where}: hover feature on a touch visit"
    else:
        assert not TOUCH_WORDS.search(text), f"{where}: touch wording on a desktop visit"
    if fact.feature == "clicks":
        assert ("tap" in text or "touché" in text) == raw.touch, where
    if GUIDE_WORDS.search(text):
        # A guide is read on /tutorials; a pointer over a guide link is said as just that.
        assert fact.feature in ("tutorial_views", "tutorial_hovers"), where
        if fact.feature == "tutorial_views":
            assert raw.values["tutorial_views"] >= 1, where
        else:
            assert re.search(r"pointer|pointeur", text) and re.search(r"link|lien", text), where
            assert not re.search(r"looked|opened|read|viewed|regardé|ouvert|lu\b", text), where
    if SORTED_BY.search(text):
        assert fact.feature in ("price_sorts", "discount_sorts", "other_sorts"), where
        assert raw.events("sort"), f"{where}: no sort event"
    if re.search(r"on-sale listing|liste des promotions", text):
        assert fact.feature == "on_sale_views", where
        assert any(p.head.get("sale") == 1 for p in raw.pages if p.kind == "catalog"), where
    if re.search(r"landed on a product|directement sur un produit", text):
        assert raw.pages and raw.pages[0].kind == "product", (
            f"{where}: first page {raw.pages[0].path}"
        )
    if re.search(r"reached checkout|atteint la commande", text):
        assert raw.values["checkout_reached"] == 1.0, where
    if re.search(r"^(added to|a ajouté)", text):
        assert raw.events("cart") and raw.values["add_to_cart_count"] >= 1, where
    if re.search(r"added nothing|rien ajouté", text):
        assert raw.values["add_to_cart_count"] == 0, where
    if re.search(r"after adding to cart|après l'ajout", text):
        assert raw.values["add_to_cart_count"] >= 1, where


def check_visit(batches: list[dict[str, Any]], lang: str) -> list[Fact]:
    features = features_of(batches)
    raw = Raw(batches)
    assert (features["touch_device"] == 1.0) == raw.touch
    facts = reason_facts(features, EVERY_PHRASE, limit=ALL, lang=lang)
    assert explain(features, EVERY_PHRASE, limit=ALL, lang=lang) == [f.text for f in facts]
    for fact in facts:
        check_fact(fact, features, raw)
    return facts


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    mixture=st.sampled_from([TRAIN_MIXTURE, EVAL_MIXTURE]),
    lang=st.sampled_from(["en", "fr"]),
)
def test_every_reason_of_a_simulated_visit_is_a_fact_of_its_events(
    seed: int, mixture: Mixture, lang: str
) -> None:
    # Both mixtures put phones, tablets and desktops in; each visit is read as what it is.
    for visit in simulate_visits(3, seed, mixture, catalog=CATALOG):  # one of each persona
        check_visit(visit.batches, lang)


@pytest.mark.parametrize("mixture", [TRAIN_MIXTURE, EVAL_MIXTURE], ids=["train", "eval"])
def test_reasons_hold_over_the_simulated_population(mixture: Mixture) -> None:
    # The mixtures as they are (their own share of phones), over many seeded visits.
    said: dict[bool, set[str]] = {True: set(), False: set()}
    for visit in simulate_visits(240, 20_515, mixture, catalog=CATALOG):
        lang = random.Random(visit.batches[0]["pvid"]).choice(["en", "fr"])
        facts = check_visit(visit.batches, lang)
        said[Raw(visit.batches).touch].update(f.feature for f in facts)
    # Both device classes were seen and gave the everyday reasons.
    common = {"clicks", "products_viewed", "scroll_speed_px_s", "idle_ratio", "visit_duration_s"}
    assert common <= said[True] and common <= said[False]
    assert {"product_hovers", "pointer_speed_px_s"} <= said[False]
    assert not said[True] & HOVER_BASED


# -- hand-written visits ------------------------------------------------------------------------


def page_batch(
    pvid: str, t0: int, path: str, events: list[dict[str, Any]], seq: int = 0
) -> dict[str, Any]:
    return {
        "v": 1,
        "vid": "v1",
        "sid": "s1",
        "pvid": pvid,
        "seq": seq,
        "t0": t0,
        "path": path,
        "events": events,
    }


def head(path: str, *, touch: bool, **extra: Any) -> dict[str, Any]:
    dev = (
        {"dev": "mobile", "hov": 0, "vw": 390, "vh": 844}
        if touch
        else {"dev": "desktop", "hov": 1, "vw": 1440, "vh": 900}
    )
    return {"k": "page", "t": 20, "path": path, "dh": 3000, **dev, **extra}


T0 = 1_760_000_000_000


def reasons_of(batches: list[dict[str, Any]], lang: str = "en") -> list[str]:
    check_visit(batches, lang)
    return explain(features_of(batches), EVERY_PHRASE, limit=ALL, lang=lang)


def test_a_pointer_passing_over_guide_links_is_no_guide_looked_at() -> None:
    events = [
        head("/product/p001", touch=False, pid="p001", cat="shoes"),
        {"k": "move", "t": 400, "x": 100, "y": 900},
        {"k": "move", "t": 450, "x": 160, "y": 940},
        {"k": "hover", "t": 800, "a": "#buying-guide", "tag": "tutorial", "ms": 300},
        {"k": "move", "t": 1_200, "x": 300, "y": 980},
        {"k": "hover", "t": 1_600, "a": "#guide-link-2", "tag": "tutorial", "ms": 250},
    ]
    reasons = reasons_of([page_batch("pv1", T0, "/product/p001", events)])
    assert "rested the pointer on buying-guide links twice" in reasons
    assert not [r for r in reasons if re.search(r"looked at|opened the buying guides", r)]
    french = reasons_of([page_batch("pv1", T0, "/product/p001", events)], "fr")
    assert "a laissé le pointeur sur des liens de guides d'achat deux fois" in french


def test_a_guides_page_view_is_a_guide_view() -> None:
    batches = [
        page_batch("pv1", T0, "/", [head("/", touch=False)]),
        page_batch("pv2", T0 + 3_000, "/tutorials", [head("/tutorials", touch=False)]),
    ]
    assert "opened the buying guides page once" in reasons_of(batches)


def touch_or_desktop_visit(touch: bool) -> list[dict[str, Any]]:
    events = [
        head("/catalog", touch=touch),
        {"k": "scroll", "t": 600, "y": 400, "d": 0.43},
        {"k": "scroll", "t": 800, "y": 800, "d": 0.56},
        {"k": "scroll", "t": 1_000, "y": 500, "d": 0.56},
        {"k": "scroll", "t": 1_200, "y": 300, "d": 0.56},
        {
            "k": "click",
            "t": 4_000,
            "x": 120,
            "y": 700,
            "a": "#nav-catalog",
            "pt": "touch" if touch else "mouse",
        },
        # After a tap the browser fires compatibility mouse events: not a pointer, no lingering.
        {"k": "move", "t": 4_010, "x": 120, "y": 700},
        {"k": "hover", "t": 4_300, "a": '[data-product-id="p001"]', "tag": "product", "ms": 280},
        {
            "k": "click",
            "t": 6_000,
            "x": 200,
            "y": 900,
            "a": '[data-product-id="p002"]',
            "pid": "p002",
        },
    ]
    product = [
        head("/product/p002", touch=touch, pid="p002", cat="bags"),
        {
            "k": "click",
            "t": 2_500,
            "x": 180,
            "y": 600,
            "a": '[data-action="add-to-cart"]',
            "act": "add-to-cart",
        },
        {"k": "cart", "t": 2_800, "op": "add", "pid": "p002", "q": 1},
    ]
    return [
        page_batch("pv1", T0, "/catalog", events[:5]),
        page_batch("pv1", T0, "/catalog", events[5:], seq=1),
        page_batch("pv2", T0 + 6_500, "/product/p002", product),
    ]


def test_a_touch_visit_is_told_in_taps_and_swipes() -> None:
    reasons = reasons_of(touch_or_desktop_visit(touch=True))
    assert "tapped 3 times" in reasons
    assert "waited 2 s between taps on average" in reasons  # on the catalog page view
    assert any(r.startswith("swiped at ") and r.endswith(" px/s") for r in reasons)
    assert any(r.startswith("did not tap or swipe for ") for r in reasons)
    if "scroll_reversals" in features_of(touch_or_desktop_visit(touch=True)):
        assert "swiped back up once" in reasons  # 400 px down, then 500 px up
    assert not [r for r in reasons if DESKTOP_WORDS.search(r)]
    assert not [r for r in reasons if "product" in r and "hover" in r]
    french = reasons_of(touch_or_desktop_visit(touch=True), "fr")
    assert "a touché l'écran 3 fois" in french
    assert not [r for r in french if DESKTOP_WORDS.search(r)]


def test_a_desktop_visit_keeps_pointer_and_click_wording() -> None:
    reasons = reasons_of(touch_or_desktop_visit(touch=False))
    assert "clicked 3 times" in reasons
    assert "hovered over products once" in reasons
    assert any(r.startswith("scrolled at ") for r in reasons)
    assert not [r for r in reasons if TOUCH_WORDS.search(r)]
    assert "a cliqué 3 fois" in reasons_of(touch_or_desktop_visit(touch=False), "fr")


def test_a_sorted_or_on_sale_landing_is_not_the_sort_control() -> None:
    batches = [
        page_batch("pv1", T0, "/catalog", [head("/catalog", touch=True, sort="discount", sale=1)]),
        page_batch("pv2", T0 + 5_000, "/catalog", [head("/catalog", touch=True, sort="price_asc")]),
    ]
    features = features_of(batches)
    reasons = reasons_of(batches)
    assert not [r for r in reasons if SORTED_BY.search(r)]
    if "on_sale_views" in features:
        assert "opened the on-sale listing once" in reasons
    if "deal_sorted_views" in features:
        assert "opened 2 catalog pages sorted by lowest price or biggest discount" in reasons
    # Then the shopper uses the control: that, and only that, is "sorted by".
    batches.append(
        page_batch(
            "pv2", T0 + 5_000, "/catalog",
            [{"k": "sort", "t": 2_000, "v": "price_asc"}, {"k": "sort", "t": 4_000, "v": "discount"}],
            seq=1,
        )
    )  # fmt: skip
    reasons = reasons_of(batches)
    assert "sorted by discount once" in reasons
    if "deal_sorted_views" in features:
        assert not [r for r in reasons if r.startswith("sorted by price")]  # already sorted so


def test_discounted_products_are_product_pages_that_showed_their_badge() -> None:
    def product(n: int, pid: str, **extra: Any) -> dict[str, Any]:
        return page_batch(
            f"pv{n}", T0 + n * 8_000, f"/product/{pid}",
            [head(f"/product/{pid}", touch=True, pid=pid, cat="kitchen", **extra)],
        )  # fmt: skip

    # The on-sale listing alone opened no discounted product.
    listing = [page_batch("pv0", T0, "/catalog", [head("/catalog", touch=True, sale=1)])]
    assert not [r for r in reasons_of(listing) if "showed a discount" in r]
    visit = [*listing, product(1, "p001", disc=30), product(2, "p002"), product(3, "p003", disc=20)]
    text = "67% of the product pages opened showed a discount (25% off on average)"
    assert text in reasons_of(visit)
    assert (
        "67 % des fiches produit ouvertes affichaient une remise (25 % en moyenne)"
        in reasons_of(visit, "fr")
    )
    # Full-price products only: nothing about deals (0% is not a reason to hunt them).
    assert not [r for r in reasons_of([*listing, product(1, "p002")]) if "showed a" in r]


def test_a_visit_that_began_elsewhere_did_not_land_on_a_product() -> None:
    batches = [
        page_batch("pv1", T0, "/", [head("/", touch=False)]),
        page_batch(
            "pv2", T0 + 700, "/product/p001", [head("/product/p001", touch=False, pid="p001")]
        ),
    ]
    reasons = reasons_of(batches)
    assert "landed on a product" not in reasons
    assert "opened a product 0.7 s after arriving" in reasons
    landed = reasons_of(
        [page_batch("pv1", T0, "/product/p001", [head("/product/p001", touch=False, pid="p001")])]
    )
    assert "landed on a product" in landed


def test_checkout_time_says_what_it_is_measured_from() -> None:
    checkout = [head("/checkout", touch=False)]
    no_add = [
        page_batch("pv1", T0, "/", [head("/", touch=False)]),
        page_batch("pv2", T0 + 4_000, "/checkout", checkout),
    ]
    assert "went to checkout 4 s after arriving" in reasons_of(no_add)
    visit = touch_or_desktop_visit(touch=False)
    visit.append(page_batch("pv3", T0 + 12_000, "/checkout", checkout))
    assert any(r.endswith("s after adding to cart") for r in reasons_of(visit))


def test_reason_facts_name_their_feature_and_value() -> None:
    features = features_of(touch_or_desktop_visit(touch=True))
    facts = reason_facts(features, ["clicks", "add_to_cart_count", "price_hovers"], limit=3)
    assert [(f.feature, f.value) for f in facts[:2]] == [
        ("clicks", 3.0),
        ("add_to_cart_count", 1.0),
    ]
    assert all(f.feature != "price_hovers" for f in facts)  # not measured on a touch screen
    assert explain(features, ["clicks"], limit=1) == ["tapped 3 times"]
    assert explain(features, ["clicks"], limit=0) == []


def test_every_phrase_has_an_independent_counter_and_absent_features_say_nothing() -> None:
    assert set(PHRASES) <= set(Raw([]).values)
    # A feature the visit does not have (an older feature vector) gives no reason.
    assert explain({}, EVERY_PHRASE, limit=ALL) == []
    assert explain({"touch_device": 1.0}, EVERY_PHRASE, limit=ALL, lang="fr") == []


def test_a_late_batch_changes_no_reason() -> None:
    # The network can deliver a page's last batch after the next page's first one; the
    # visit is the same, and so must its reasons be (silences, gaps and dwell included).
    first = page_batch("pv1", T0, "/product/p001", [head("/product/p001", touch=True, pid="p001")])
    late = page_batch(
        "pv1",
        T0,
        "/product/p001",
        [{"k": "click", "t": 5_000, "x": 9, "y": 9, "a": "#nav-cart"}],
        seq=1,
    )
    cart = page_batch(
        "pv2", T0 + 6_000, "/cart",
        [head("/cart", touch=True), {"k": "click", "t": 1_500, "x": 9, "y": 9, "a": "#go"}],
    )  # fmt: skip
    in_order = reasons_of([first, late, cart])
    assert "did not tap or swipe for 66% of the time" in in_order  # 4.98 s of 7.5 s
    assert reasons_of([first, cart, late]) == in_order
