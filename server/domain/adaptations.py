"""Adaptations: what the page changes for each persona, defined once (name, persona, pages).

The server decides which apply to a visitor and builds their payloads; one client module
(client/src/adapt.js) renders them by name. Control visitors and visitors who opted out
get none, and in A/A mode nobody does.

A visitor *qualifies* on a page when its shown persona has an adaptation for that kind of
page and it has not opted out: the same rule in both arms, so the moment is logged for
control visitors too ("would have shown"), which a triggered analysis needs
(docs/experiments.md).
"""

from __future__ import annotations

from dataclasses import dataclass

ALL_PAGES = ("home", "catalog", "product", "cart", "checkout", "tutorials", "order", "other")


@dataclass(frozen=True)
class Adaptation:
    name: str
    persona: str
    pages: tuple[str, ...]
    description: str


ADAPTATIONS: tuple[Adaptation, ...] = (
    Adaptation("tutorial", "explorer", ("catalog", "product", "home"),
               "a buying-guide panel leading to /tutorials"),
    Adaptation("discover-more", "explorer", ("catalog", "product", "home"),
               "a strip of categories the shopper has not seen yet"),
    Adaptation("express-checkout", "hurried", ("product", "cart"),
               "a Buy now button leading to a one-page checkout, details prefilled"),
    Adaptation("sticky-cart", "hurried", ALL_PAGES,
               "a sticky cart summary with a checkout link"),
    Adaptation("coupon", "bargain_hunter", ALL_PAGES,
               "a banner with a single-use coupon issued for this visitor"),
    Adaptation("deal-highlight", "bargain_hunter", ("home", "catalog", "product"),
               "discounted items highlighted"),
    Adaptation("sort-discount", "bargain_hunter", ("catalog",),
               "the catalog's default sort becomes biggest discount first"),
)  # fmt: skip
BY_NAME = {adaptation.name: adaptation for adaptation in ADAPTATIONS}
PERSONAL_COUPON_PERCENT = 15


MODES = ("ab", "aa")  # experiments.mode: "aa" adapts nobody and logs as "ab" does


@dataclass(frozen=True)
class Qualification:
    """A visitor qualifying on a page: what it was (`adapted`) or would have been shown."""

    names: tuple[str, ...]
    adapted: bool

    @property
    def counterfactual(self) -> bool:
        return not self.adapted


def adapts(arm: str, mode: str = "ab") -> bool:
    """Say whether a visitor of `arm` is really adapted under the experiment `mode`."""
    return arm == "treatment" and mode == "ab"


def adaptations_for(persona: str, arm: str, opted_out: bool, mode: str) -> list[Adaptation]:
    """Return the adaptations a visitor gets: none for control, opt-outs, unknown or A/A."""
    if not adapts(arm, mode) or opted_out:
        return []
    return [adaptation for adaptation in ADAPTATIONS if adaptation.persona == persona]


def qualification(
    persona: str, kind: str, arm: str, opted_out: bool, mode: str = "ab"
) -> Qualification | None:
    """Return the visitor's qualification on a `kind` of page, None when it does not qualify.

    Whether it qualifies does not depend on the arm or the mode; only `adapted` does.
    """
    if opted_out:
        return None
    names = tuple(a.name for a in ADAPTATIONS if a.persona == persona and kind in a.pages)
    return Qualification(names, adapts(arm, mode)) if names else None


def page_kind(path: str) -> str:
    """Name the kind of shop page a path is, for the pages an adaptation appears on."""
    if path == "/":
        return "home"
    first = path.strip("/").split("/", 1)[0]
    return first if first in ALL_PAGES else "other"
