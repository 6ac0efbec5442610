"""Fold tracker batches into a small per-visit state and read behavioural features from it.

Pure: no I/O. The server keeps one `FeatureState` per visit (as `to_dict()` JSON in Redis),
folds each batch in as it arrives and asks for `feature_vector()` when it re-predicts.
Folding costs time proportional to the batch; reading the features costs time proportional
to the number of page views kept (at most `MAX_TRACKED_PAGES`), never to the event history.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Final, NamedTuple
from urllib.parse import urlsplit

from personas_engine.feature_state import (
    DEFAULT_MIN_EVIDENCE,
    HESITATION_MS,
    HOVER_FEATURES,
    IDLE_GAP_MS,
    MAX_DWELL_MS,
    MAX_TAP_GAP_MS,
    MAX_TRACKED_PAGES,
    MOVE_GAP_MS,
    NOT_MEASURED,
    NOT_YET_S,
    REVERSAL_PX,
    SCROLL_GAP_MS,
    SCROLL_STOP_MS,
    FeatureState,
    PageState,
    page_kind,
)

EVIDENCE_TIME_CAP_S: Final = 60.0
# Touch-friendly timing evidence (a phone shows no pointer path, but it shows these early):
PAUSE_CAP_MS: Final = 10_000  # a longer wait before a tap, or pause, counts as this long
PAUSE_MIN_MS: Final = 1_000  # a silence between two actions this long is a pause
FLING_GAP_MS: Final = 300  # scroll samples this close belong to one moving swipe or wheel turn
# Events that record what the page did, not what the shopper did: what followed a click
# (frustration facts), a zone coming into view, the server's record of an order. They say
# nothing of how a shopper shops, and must not break a silence or end a scroll stop.
NOT_SHOPPER_ACTIONS: Final = frozenset({"outcome", "zone", "order"})

__all__ = [
    "DEFAULT_MIN_EVIDENCE",
    "FEATURE_NAMES",
    "HOVER_FEATURES",
    "NOT_MEASURED",
    "NOT_YET_S",
    "FeatureState",
    "PageState",
    "evidence",
    "feature_vector",
    "features_of",
    "fold_batch",
    "fold_batches",
    "page_kind",
]

FEATURE_NAMES: Final = (
    "products_viewed",
    "product_views",
    "discount_viewed_share",
    "mean_viewed_discount",
    "distinct_categories",
    "back_and_forth",
    "mean_dwell_per_product_s",
    "max_scroll_depth_mean",
    "product_scroll_depth_mean",
    "scroll_speed_px_s",
    "fling_speed_px_s",
    "pointer_speed_px_s",
    "path_straightness",
    "idle_ratio",
    "hesitation_ratio",
    "price_hovers",
    "discount_hovers",
    "discount_hover_s",
    "product_hovers",
    "tutorial_hovers",
    "price_sorts",
    "discount_sorts",
    "other_sorts",
    "on_sale_filters",
    "on_sale_views",
    "deal_sorted_views",
    "deal_listing_s",
    "category_views",
    "category_filters",
    "coupon_interactions",
    "searches",
    "tutorial_views",
    "catalog_views",
    "add_to_cart_count",
    "time_to_first_add_s",
    "cart_to_checkout_s",
    "time_to_first_product_s",
    "checkout_reached",
    "clicks",
    "tap_gap_s",
    "pre_tap_s",
    "pause_s",
    "scroll_up_share",
    "scroll_stops",
    "mean_page_dwell_s",
    "scroll_reversals",
    "back_navigations",
    "pages_per_minute",
    "visit_duration_s",
    "events_seen",
    "touch_device",
)

_HOVER_COUNTERS: Final = {
    "price": "price_hovers",
    "discount": "discount_hovers",
    "product": "product_hovers",
    "tutorial": "tutorial_hovers",
}
# A catalog opened at one of these sorts lists the cheapest or most discounted items first.
_DEAL_SORTS: Final = ("discount", "price_asc")
_PAGE_COUNTERS: Final = {
    "catalog": "catalog_views",
    "cart": "cart_views",
    "checkout": "checkout_views",
    "tutorials": "tutorial_views",
}


class _At(NamedTuple):
    """When and where an event happened, as its handler needs it."""

    t: int  # ms since the page view's t0
    abs: int  # epoch ms
    gap: int  # ms since the previous event of the same page view
    path: str  # the batch's path


def fold_batch(state: FeatureState, batch: Mapping[str, Any]) -> FeatureState:
    """Fold one tracker batch into the state in place (a repeated (pvid, seq) is ignored)."""
    if all(event.get("k") in NOT_SHOPPER_ACTIONS for event in batch["events"]):
        return state  # e.g. the server's order record: no page view, nothing the shopper did
    pvid = str(batch["pvid"])
    seq = int(batch["seq"])
    t0 = int(batch["t0"])
    page = state.pages.get(pvid)
    if page is None:
        page = PageState(kind=page_kind(str(batch.get("path", ""))), start=t0, end=t0)
        state.pages[pvid] = page
        _start_page(state, pvid, page)
    elif seq <= page.last_seq:
        return state  # batches of a page view arrive in order: this one was already folded
    page.last_seq = seq
    for event in batch["events"]:
        _fold_event(state, page, t0, event, str(batch.get("path", "")))
    return state


def fold_batches(state: FeatureState, batches: Iterable[Mapping[str, Any]]) -> FeatureState:
    """Fold several batches in arrival order."""
    for batch in batches:
        fold_batch(state, batch)
    return state


# Batches of one page view arrive in order, but page views do not: an unload beacon can land
# after the next page's first batch. So whatever depends on the order of page views (when a
# page ended, the silence before the next one, going back) is worked out when features are
# read, from the page views sorted by start, never from the order their batches arrived in.


def _start_page(state: FeatureState, pvid: str, page: PageState) -> None:
    previous = state.pages.get(state.current)
    if previous is None or previous.start <= page.start:
        state.current = pvid
    if len(state.pages) > MAX_TRACKED_PAGES:
        _evict_oldest(state)


def _note_stop(state: FeatureState, page: PageState, quiet_ms: float) -> None:
    # Scrolling, then nothing for a while: the shopper stopped to look at what is on screen.
    # It is what lingering looks like on a phone, and it reads the same with a mouse.
    if page.last_kind == "scroll" and quiet_ms >= SCROLL_STOP_MS:
        state.add("scroll_stops")
        page.last_kind = ""


def _evict_oldest(state: FeatureState) -> None:
    # Long visits keep the features of their oldest page views as retired totals.
    pvid = min((p for p in state.pages if p != state.current), key=lambda p: state.pages[p].start)
    page = state.pages.pop(pvid)
    later = sorted((p for p in state.pages.values() if p.seen), key=lambda p: p.start)
    for name, value in _page_totals(page, later[0] if later else None).items():
        state.add("retired_" + name, value)
    if page.seen and len(later) >= 2 and _went_back(page, later[0], later[1]):
        state.add("retired_back_navigations")


def _fold_event(
    state: FeatureState, page: PageState, t0: int, event: Mapping[str, Any], path: str
) -> None:
    kind = str(event.get("k", ""))
    if kind in NOT_SHOPPER_ACTIONS:
        return
    t = int(event.get("t", 0))
    abs_t = t0 + t
    state.add("events_seen")
    state.first_abs = abs_t if state.first_abs < 0 else min(state.first_abs, abs_t)
    state.last_abs = max(state.last_abs, abs_t)
    gap = t - page.last_t if page.last_t >= 0 else t
    if kind != "move":
        # Silence is measured between actions, not pointer drift, so a resting mouse and a
        # phone nobody touches both count as still, and "idle" means the same on each.
        quiet = t - page.last_act if page.last_act >= 0 else t
        if quiet > IDLE_GAP_MS:
            state.add("idle_ms", quiet)
        _note_stop(state, page, quiet)
        if quiet >= PAUSE_MIN_MS and page.last_act >= 0:  # a pause between two actions
            state.add("pause_ms", min(quiet, PAUSE_CAP_MS))
            state.add("pauses")
        page.last_act = max(page.last_act, t)
        page.last_kind = kind
    page.last_t = max(page.last_t, t)
    page.end = max(page.end, min(abs_t, page.start + MAX_DWELL_MS))
    handler = _HANDLERS.get(kind)
    if handler is not None:
        handler(state, page, event, _At(t, abs_t, gap, path))


def _on_page(state: FeatureState, page: PageState, ev: Mapping[str, Any], at: _At) -> None:
    if page.seen:
        return
    page.seen = True
    path = str(ev.get("path") or at.path)
    page.kind = page_kind(path)
    state.add("page_views")
    state.add("evidence")
    hov = ev.get("hov")
    page.hover = hov == 1 if hov is not None else str(ev.get("dev", "")) == "desktop"
    if page.hover:
        state.add("hover_pages")
    else:
        state.touch = True
    page.bare = urlsplit(path).path.rstrip("/") or "/"
    vh, dh = float(ev.get("vh", 0) or 0), float(ev.get("dh", 0) or 0)
    if dh > 0:
        # What the first screen shows is already seen; only deeper scrolling is evidence.
        page.depth = min(1.0, vh / dh)
        page.milestones = int(page.depth * 4)
    if page.kind == "product":
        pid = str(ev.get("pid") or urlsplit(path).path.rstrip("/").rsplit("/", 1)[-1])
        page.pid = pid
        state.add("product_views")
        discount = _percent(ev.get("disc"))  # the product's own badge, read by the tracker
        if discount:
            state.add("discounted_product_views")
            state.add("viewed_discount_sum", discount)
        if pid in state.viewed:
            state.add("back_and_forth")
        else:
            state.viewed.append(pid)
        cat = str(ev.get("cat") or "")
        if cat and cat not in state.categories:
            state.categories.append(cat)
        state.first_product = _earliest(state.first_product, at.abs)
    elif page.kind == "checkout":
        state.first_checkout = _earliest(state.first_checkout, at.abs)
    elif page.kind == "catalog":
        _open_catalog(state, page, ev)
    counter = _PAGE_COUNTERS.get(page.kind)
    if counter is not None:
        state.add(counter)


def _went_back(first: PageState, second: PageState, third: PageState) -> bool:
    # A, B, A: the shopper went back (the back button, or a link to where they were).
    return first.bare == third.bare != second.bare


def _open_catalog(state: FeatureState, page: PageState, ev: Mapping[str, Any]) -> None:
    # The listing's own state is evidence even when a link chose it (the Deals link lands on
    # the sale sorted by discount); it is kept apart from using the controls.
    sort = str(ev.get("sort") or "")
    on_sale, deal_sorted = ev.get("sale") == 1, sort in _DEAL_SORTS
    if on_sale:
        state.add("on_sale_views")
    if deal_sorted:
        state.add("deal_sorted_views")
    if on_sale or deal_sorted:
        state.add("evidence")  # one listing is one piece of evidence, however it is a deal
    page.sort = sort  # choosing it again with the control is no change
    page.deal = on_sale or deal_sorted
    if ev.get("cat"):
        # A listing narrowed to one category (a category link, or one chosen with the filter):
        # the shopper is looking over a kind of product, whatever brought them there.
        state.add("category_views")


def _set_sort(state: FeatureState, page: PageState, value: str) -> None:
    # Choosing the sort already in place is no change (the select fires nothing either). The
    # sort in place is the page view's own, so a late batch compares with the right one.
    if value and value != page.sort:
        if value.startswith("price"):
            state.add("price_sorts")
        elif value == "discount":
            state.add("discount_sorts")
        else:
            state.add("other_sorts")
    page.sort = value


def _set_category(state: FeatureState, slug: str) -> None:
    if slug and slug != state.category:
        state.add("category_filters")
    state.category = slug


def _on_move(state: FeatureState, page: PageState, ev: Mapping[str, Any], at: _At) -> None:
    if not page.hover:
        return  # a finger or an emulated mouse on a touch screen draws no pointer path
    x, y = float(ev.get("x", 0)), float(ev.get("y", 0))
    if page.mt >= 0 and 0 < at.t - page.mt <= MOVE_GAP_MS:
        step = math.hypot(x - page.mx, y - page.my)
        state.add("move_px", step)
        state.add("move_ms", at.t - page.mt)
        page.slen += step
    else:
        _close_segment(state, page)
        page.sx, page.sy, page.slen = x, y, 0.0
    page.mx, page.my, page.mt = x, y, at.t


def _close_segment(state: FeatureState, page: PageState) -> None:
    if page.slen > 0:
        state.add("seg_disp", math.hypot(page.mx - page.sx, page.my - page.sy))
        state.add("seg_len", page.slen)
    page.slen = 0.0


def _on_scroll(state: FeatureState, page: PageState, ev: Mapping[str, Any], at: _At) -> None:
    y = float(ev.get("y", 0))
    if page.sct >= 0 and 0 < at.t - page.sct <= SCROLL_GAP_MS:
        state.add("scroll_px", abs(y - page.scy))
        if y < page.scy:
            state.add("scroll_up_px", page.scy - y)
        state.add("scroll_ms", at.t - page.sct)
        if at.t - page.sct <= FLING_GAP_MS:  # the speed of the swipe itself, without pauses
            state.add("fling_px", abs(y - page.scy))
            state.add("fling_ms", at.t - page.sct)
    _follow_scroll(state, page, y - page.scy if page.sct >= 0 else 0.0)
    page.scy, page.sct = y, at.t
    depth = min(1.0, max(0.0, float(ev.get("d", 0))))
    if depth > page.depth:
        page.depth = depth
        quartiles = int(depth * 4)
        if quartiles > page.milestones:
            state.add("evidence", quartiles - page.milestones)
            page.milestones = quartiles


def _follow_scroll(state: FeatureState, page: PageState, delta: float) -> None:
    # Legs of one direction; a reversal is a down leg then an up leg, each >= REVERSAL_PX.
    if delta == 0:
        return
    direction = 1 if delta > 0 else -1
    if direction != page.sdir:
        page.sdown = page.sleg if page.sdir == 1 else 0.0
        page.sdir, page.sleg = direction, 0.0
    page.sleg += abs(delta)
    if direction == -1 and page.sdown >= REVERSAL_PX and page.sleg >= REVERSAL_PX:
        state.add("scroll_reversals")
        page.sdown = 0.0  # once per leg


def _on_click(state: FeatureState, page: PageState, ev: Mapping[str, Any], at: _At) -> None:
    state.add("clicks")
    state.add("evidence")
    if page.last_click >= 0:  # within the page view, whose events arrive in order
        state.add("click_gap_ms", min(at.t - page.last_click, MAX_TAP_GAP_MS))
        state.add("click_gaps")
    page.last_click = at.t
    if at.gap >= HESITATION_MS:
        state.add("hesitant_clicks")
    # How long the shopper looked before tapping: since the page opened or the last event.
    state.add("pre_tap_ms", min(at.gap, PAUSE_CAP_MS))
    state.add("pre_taps")
    anchor = str(ev.get("a", ""))
    # Applying a coupon also yields a `cart` coupon event; count the field and other coupon UI.
    if "coupon" in anchor and ev.get("act") != "apply-coupon":
        state.add("coupon_interactions")


def _on_hover(state: FeatureState, page: PageState, ev: Mapping[str, Any], at: _At) -> None:
    if not page.hover:
        return  # the compatibility mouse events after a tap are not lingering
    counter = _HOVER_COUNTERS.get(str(ev.get("tag", "")))
    if counter is None:
        return
    state.add(counter)
    state.add("evidence")
    if counter == "discount_hovers":
        state.add("discount_hover_ms", float(ev.get("ms", 0)))


def _on_cart(state: FeatureState, page: PageState, ev: Mapping[str, Any], at: _At) -> None:
    op = str(ev.get("op", ""))
    state.add("evidence")
    if op == "add":
        state.add("add_to_cart_count")
        state.first_add = _earliest(state.first_add, at.abs)
    elif op == "checkout":
        state.first_checkout = _earliest(state.first_checkout, at.abs)
    elif op == "coupon":
        state.add("coupon_interactions")


def _on_search(state: FeatureState, page: PageState, ev: Mapping[str, Any], at: _At) -> None:
    state.add("searches")
    state.add("evidence")


def _on_sort(state: FeatureState, page: PageState, ev: Mapping[str, Any], at: _At) -> None:
    state.add("evidence")
    _set_sort(state, page, str(ev.get("v", "")))


def _on_filter(state: FeatureState, page: PageState, ev: Mapping[str, Any], at: _At) -> None:
    state.add("evidence")
    if ev.get("f") == "on-sale":
        state.add("on_sale_filters")  # switching it off is still looking for deals
    elif ev.get("f") == "category":
        _set_category(state, str(ev.get("v", "")))


_HANDLERS: Final = {
    "page": _on_page,
    "move": _on_move,
    "scroll": _on_scroll,
    "click": _on_click,
    "hover": _on_hover,
    "cart": _on_cart,
    "search": _on_search,
    "sort": _on_sort,
    "filter": _on_filter,
}


def _earliest(current: int, candidate: int) -> int:
    return candidate if current < 0 else min(current, candidate)


_PAGE_TOTALS: Final = (
    "page_ms",
    "trailing_idle_ms",
    "trailing_stops",
    "depth_sum",
    "depth_n",
    "seg_disp",
    "seg_len",
    "product_ms",
    "product_depth_sum",
    "deal_listing_ms",
)


def _page_totals(page: PageState, following: PageState | None) -> dict[str, float]:
    """Return one page view's totals, given the page view that started after it (if any)."""
    if not page.seen:
        return {}
    end, trailing = page.end, 0
    if following is not None:  # it lasted until the next page view started (reading time)
        end = min(max(end, following.start), page.start + MAX_DWELL_MS)
        # The silence from its last action to leaving it: still, or a stop to look. On the
        # page still open, that silence has not ended yet and counts once it does.
        trailing = end - (page.start + max(page.last_act, 0))
    disp = math.hypot(page.mx - page.sx, page.my - page.sy) if page.slen > 0 else 0.0
    totals = {
        "page_ms": float(end - page.start),
        "trailing_idle_ms": float(trailing) if trailing > IDLE_GAP_MS else 0.0,
        "trailing_stops": 1.0 if page.last_kind == "scroll" and trailing >= SCROLL_STOP_MS else 0.0,
        "depth_sum": page.depth,
        "depth_n": 1.0,
        "seg_disp": disp,
        "seg_len": page.slen,
    }
    if page.deal:
        totals["deal_listing_ms"] = float(end - page.start)
    if page.kind == "product":
        totals["product_ms"] = float(end - page.start)
        totals["product_depth_sum"] = page.depth
    return totals


def evidence(state: FeatureState) -> float:
    """Return how much behaviour the visit has shown: meaningful actions plus time spent."""
    # Time is evidence too: 20 s spent reading one page says "not hurried" with no click at
    # all. One point per 5 s of visit, at most 12, so time alone never outweighs actions.
    elapsed_s = (state.last_abs - state.first_abs) / 1000 if state.first_abs >= 0 else 0.0
    return state.count("evidence") + min(max(elapsed_s, 0.0), EVIDENCE_TIME_CAP_S) / 5.0


def feature_vector(state: FeatureState) -> dict[str, float]:
    """Return the named behavioural features of the visit so far."""
    totals: dict[str, float] = {}
    pages = sorted((p for p in state.pages.values() if p.seen), key=lambda p: p.start)
    for i, page in enumerate(pages):
        following = pages[i + 1] if i + 1 < len(pages) else None
        for name, value in _page_totals(page, following).items():
            totals[name] = totals.get(name, 0.0) + value
    back = sum(_went_back(*pages[i : i + 3]) for i in range(len(pages) - 2))
    for name in _PAGE_TOTALS:
        totals[name] = totals.get(name, 0.0) + state.count("retired_" + name)
    c = state.count
    product_views = c("product_views")
    elapsed_s = max(0.0, (state.last_abs - state.first_abs) / 1000) if state.first_abs >= 0 else 0.0
    seg_len = totals["seg_len"] + c("seg_len")
    clicks = c("clicks")
    touch = c("page_views") > 0 and c("hover_pages") == 0
    features = {name: c(name) for name in FEATURE_NAMES}
    features.update(
        products_viewed=float(len(state.viewed)),
        distinct_categories=float(len(state.categories)),
        mean_dwell_per_product_s=_ratio(totals["product_ms"] / 1000, product_views),
        deal_listing_s=totals["deal_listing_ms"] / 1000,
        mean_page_dwell_s=_ratio(totals["page_ms"] / 1000, totals["depth_n"]),
        max_scroll_depth_mean=_ratio(totals["depth_sum"], totals["depth_n"], 0.0),
        product_scroll_depth_mean=_ratio(totals["product_depth_sum"], product_views),
        scroll_speed_px_s=_ratio(c("scroll_px") * 1000, c("scroll_ms")),
        fling_speed_px_s=_ratio(c("fling_px") * 1000, c("fling_ms")),
        pointer_speed_px_s=_ratio(c("move_px") * 1000, c("move_ms")),
        path_straightness=_ratio(totals["seg_disp"] + c("seg_disp"), seg_len),
        idle_ratio=min(
            1.0, _ratio(c("idle_ms") + totals["trailing_idle_ms"], totals["page_ms"], 0.0)
        ),
        scroll_stops=c("scroll_stops") + totals["trailing_stops"],
        back_navigations=back + c("retired_back_navigations"),
        hesitation_ratio=_ratio(c("hesitant_clicks"), clicks),
        discount_hover_s=c("discount_hover_ms") / 1000,
        time_to_first_add_s=_since(state.first_abs, state.first_add),
        cart_to_checkout_s=_since(
            state.first_add if state.first_add >= 0 else state.first_abs, state.first_checkout
        ),
        time_to_first_product_s=_since(state.first_abs, state.first_product),
        checkout_reached=1.0 if state.first_checkout >= 0 else 0.0,
        pages_per_minute=c("page_views") / (max(elapsed_s, 10.0) / 60),
        visit_duration_s=elapsed_s,
        tap_gap_s=_ratio(c("click_gap_ms") / 1000, c("click_gaps")),
        pre_tap_s=_ratio(c("pre_tap_ms") / 1000, c("pre_taps")),
        pause_s=_ratio(c("pause_ms") / 1000, c("pauses")),
        scroll_up_share=_ratio(c("scroll_up_px"), c("scroll_px")),
        discount_viewed_share=_ratio(c("discounted_product_views"), product_views),
        mean_viewed_discount=_ratio(c("viewed_discount_sum"), c("discounted_product_views")),
        touch_device=1.0 if touch else 0.0,
    )
    if touch:
        features.update(dict.fromkeys(HOVER_FEATURES, NOT_MEASURED))
    return features


def _percent(value: Any) -> int:
    # A `page` `disc` as the validator accepts it (an int 1..100); anything else is no badge.
    valid = isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 100
    return value if valid else 0


def _ratio(numerator: float, denominator: float, empty: float = NOT_MEASURED) -> float:
    return numerator / denominator if denominator > 0 else empty


def _since(start_abs: int, event_abs: int) -> float:
    if start_abs < 0 or event_abs < 0:
        return NOT_YET_S
    return min(NOT_YET_S, max(0.0, (event_abs - start_abs) / 1000))


def features_of(batches: Iterable[Mapping[str, Any]]) -> dict[str, float]:
    """Return the features of a whole visit given as batches in arrival order."""
    return feature_vector(fold_batches(FeatureState(), batches))
