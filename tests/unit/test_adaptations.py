"""Every persona maps to its adaptations; control, opt-out, unknown and A/A get none; qualifying
is the same in both arms."""

from __future__ import annotations

from personas_engine.vocabulary import PERSONAS
from server.domain.adaptations import (
    ADAPTATIONS,
    ALL_PAGES,
    MODES,
    Qualification,
    adaptations_for,
    adapts,
    page_kind,
    qualification,
)


def names(persona: str, arm: str = "treatment", opted_out: bool = False) -> list[str]:
    return [a.name for a in adaptations_for(persona, arm, opted_out, "ab")]


def test_each_persona_has_its_adaptations() -> None:
    assert names("explorer") == ["tutorial", "discover-more"]
    assert names("hurried") == ["express-checkout", "sticky-cart"]
    assert names("bargain_hunter") == ["coupon", "deal-highlight", "sort-discount"]
    assert {a.persona for a in ADAPTATIONS} == set(PERSONAS)


def test_each_persona_has_its_adaptations_and_unknown_none() -> None:
    assert names("explorer") == ["tutorial", "discover-more"]
    assert names("hurried") == ["express-checkout", "sticky-cart"]
    assert names("bargain_hunter") == ["coupon", "deal-highlight", "sort-discount"]
    assert names("unknown") == []
    assert {adaptation.persona for adaptation in ADAPTATIONS} == set(PERSONAS)


def test_control_opt_out_and_unknown_get_nothing() -> None:
    assert names("bargain_hunter", arm="control") == []
    assert names("bargain_hunter", opted_out=True) == []
    assert names("unknown") == []


def test_page_kinds() -> None:
    assert [page_kind(p) for p in ("/", "/catalog", "/product/p001", "/cart", "/x/y")] == [
        "home", "catalog", "product", "cart", "other",
    ]  # fmt: skip


def test_a_b_adapts_treatment_only_and_a_a_adapts_nobody() -> None:
    assert adapts("treatment") and adapts("treatment", "ab")
    assert not adapts("control") and not adapts("control", "ab")
    assert not adapts("treatment", "aa") and not adapts("control", "aa")
    assert names("hurried", arm="treatment") == ["express-checkout", "sticky-cart"]
    assert [a.name for a in adaptations_for("hurried", "treatment", False, "aa")] == []


def test_qualifying_is_the_same_in_both_arms_and_modes() -> None:
    cases = [(arm, mode) for arm in ("treatment", "control") for mode in MODES]
    for persona in (*PERSONAS, "unknown"):
        for kind in ALL_PAGES:
            found = [qualification(persona, kind, arm, False, mode) for arm, mode in cases]
            assert len({None if q is None else q.names for q in found}) == 1, (persona, kind)
            adapted = [q.adapted for q in found if q is not None]
            assert adapted in ([], [True, False, False, False]), (persona, kind)


def test_what_qualifies_on_each_kind_of_page() -> None:
    catalog = qualification("bargain_hunter", "catalog", "control", False)
    assert catalog == Qualification(("coupon", "deal-highlight", "sort-discount"), adapted=False)
    assert catalog.counterfactual
    cart = qualification("hurried", "cart", "treatment", False)
    assert cart == Qualification(("express-checkout", "sticky-cart"), adapted=True)
    assert not cart.counterfactual
    assert qualification("hurried", "tutorials", "treatment", False) == Qualification(
        ("sticky-cart",), adapted=True
    )
    aa = qualification("explorer", "home", "treatment", False, "aa")
    assert aa == Qualification(("tutorial", "discover-more"), adapted=False)


def test_no_qualification_without_an_adaptation_for_the_page_or_with_an_opt_out() -> None:
    for kind in ("cart", "checkout", "tutorials", "order", "other"):
        assert qualification("explorer", kind, "treatment", False) is None
    assert qualification("unknown", "home", "treatment", False) is None
    for arm in ("treatment", "control"):
        assert qualification("bargain_hunter", "catalog", arm, True) is None
