"""The per-visit state that feature folding keeps between batches, in JSON-friendly types."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from typing import Any, Final
from urllib.parse import urlsplit

STATE_VERSION: Final = 2
# Version 1 states (before the touch fields) still load: every field added since has a default.
READABLE_VERSIONS: Final = (1, 2)
# "Not yet / never" for the time-to-X features: later than any real value (those are capped
# here too), so "slower" and "not at all" lie on the same side of the scale for the model.
NOT_YET_S: Final = 600.0
# "Not measured" for ratios and speeds that need samples the visit does not have yet
# (no pointer path on a touch screen, no click, no product page). The model imputes these.
NOT_MEASURED: Final = -1.0
IDLE_GAP_MS: Final = 2_000  # a silence longer than this inside a page view counts as idle
MOVE_GAP_MS: Final = 500  # moves are sampled at <= 20 Hz while moving: a longer gap is a stop
SCROLL_GAP_MS: Final = 2_000
HESITATION_MS: Final = 1_000  # a click after this long without any event is a hesitant click
MAX_DWELL_MS: Final = 300_000  # a page left open longer than this was abandoned, not read
MAX_TRACKED_PAGES: Final = 64
SCROLL_STOP_MS: Final = 1_500  # a pause this long after scrolling is a stop to look
REVERSAL_PX: Final = 150  # each leg of a scroll reversal (down, then back up) is at least this
MAX_TAP_GAP_MS: Final = 60_000  # a longer pause between two clicks counts as this long
DEFAULT_MIN_EVIDENCE: Final = 6.0
# Measured by a pointer that can hover: on a touch visit they are "not measured", never 0.
HOVER_FEATURES: Final = (
    "price_hovers",
    "discount_hovers",
    "discount_hover_s",
    "product_hovers",
    "tutorial_hovers",
    "pointer_speed_px_s",
    "path_straightness",
    "hesitation_ratio",
)


@dataclass
class PageState:
    """What one page view still needs to remember between batches."""

    kind: str
    start: int  # epoch ms (the batch's t0)
    end: int  # epoch ms: last activity, or when the next page view started
    seen: bool = False  # its `page` event was folded
    pid: str = ""
    last_seq: int = -1
    last_t: int = -1  # ms since t0 of the latest event
    last_act: int = -1  # ms since t0 of the latest event that is not a pointer move
    last_kind: str = ""  # its kind
    hover: bool = True  # the page's pointer can hover (False on a touch screen)
    bare: str = ""  # its path without the query
    sort: str = ""  # the catalog sort in place: opened at, then as chosen on this page
    deal: bool = False  # a catalog opened on the sale or at a deal sort (a listing of deals)
    last_click: int = -1  # ms since t0 of the latest click
    depth: float = 0.0
    milestones: int = 0  # depth quartiles already credited as evidence
    mx: float = 0.0
    my: float = 0.0
    mt: int = -1  # last pointer sample (t = -1: none)
    sx: float = 0.0
    sy: float = 0.0
    slen: float = 0.0  # open pointer segment: where it started and its path length
    scy: float = 0.0
    sct: int = -1  # last scroll sample (t = -1: none)
    sdir: int = 0  # direction of the current scroll leg: 1 down, -1 up
    sleg: float = 0.0  # its length so far
    sdown: float = 0.0  # length of the last down leg, while it may still turn into a reversal


@dataclass
class FeatureState:
    """Everything needed to compute a visit's features, in JSON-friendly types."""

    counts: dict[str, float] = field(default_factory=dict)
    first_abs: int = -1
    last_abs: int = -1
    first_add: int = -1
    first_checkout: int = -1
    first_product: int = -1
    viewed: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    category: str = ""  # the catalog's category as last chosen
    current: str = ""  # pvid of the latest page view started
    touch: bool = False  # some page view could not hover (a touch screen)
    pages: dict[str, PageState] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the state as plain JSON types."""
        # A shallow copy per level is enough (all leaves are JSON scalars) and far cheaper
        # than dataclasses.asdict's deep copy: this runs once per batch in the worker.
        data = dict(vars(self))
        data["counts"] = dict(self.counts)
        data["viewed"] = list(self.viewed)
        data["categories"] = list(self.categories)
        data["pages"] = {pvid: dict(vars(page)) for pvid, page in self.pages.items()}
        data["v"] = STATE_VERSION
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureState:
        """Rebuild a state from `to_dict()` output."""
        if data.get("v") not in READABLE_VERSIONS:
            raise ValueError(f"unsupported feature state version {data.get('v')!r}")
        known = {f.name for f in dataclass_fields(cls)} - {"pages"}
        fields = {k: v for k, v in data.items() if k in known}  # older fields are dropped
        state = cls(**fields)
        state.counts = dict(state.counts)
        state.viewed = list(state.viewed)
        state.categories = list(state.categories)
        page_fields = {f.name for f in dataclass_fields(PageState)}
        state.pages = {
            pvid: PageState(**{k: v for k, v in page.items() if k in page_fields})
            for pvid, page in data["pages"].items()
        }
        return state

    def add(self, name: str, amount: float = 1.0) -> None:
        """Increment one raw counter."""
        self.counts[name] = self.counts.get(name, 0.0) + amount

    def count(self, name: str) -> float:
        """Return one raw counter (0 if never incremented)."""
        return self.counts.get(name, 0.0)


def page_kind(path: str) -> str:
    """Classify a storefront path: product, catalog, cart, checkout, tutorials, order, home."""
    bare = urlsplit(path).path.rstrip("/") or "/"
    if bare.startswith("/product/"):
        return "product"
    for kind in ("catalog", "cart", "checkout", "tutorials", "order"):
        if bare == f"/{kind}" or bare.startswith(f"/{kind}/"):
            return kind
    return "home" if bare == "/" else "other"
