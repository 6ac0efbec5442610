"""Every persona maps to its adaptations; control, opt-out and unknown get none."""

from __future__ import annotations

from personas_engine.policy import adaptations_for as engine_adaptations
from personas_engine.vocabulary import PERSONAS
from server.domain.adaptations import ADAPTATIONS, adaptations_for, page_kind


def names(persona: str, arm: str = "treatment", opted_out: bool = False) -> list[str]:
    return [a.name for a in adaptations_for(persona, arm, opted_out)]


def test_each_persona_has_its_adaptations() -> None:
    assert names("explorer") == ["tutorial", "discover-more"]
    assert names("hurried") == ["express-checkout", "sticky-cart"]
    assert names("bargain_hunter") == ["coupon", "deal-highlight", "sort-discount"]
    assert {a.persona for a in ADAPTATIONS} == set(PERSONAS)


def test_the_engine_policy_and_the_server_agree() -> None:
    for persona in PERSONAS:
        assert names(persona) == engine_adaptations(persona)


def test_control_opt_out_and_unknown_get_nothing() -> None:
    assert names("bargain_hunter", arm="control") == []
    assert names("bargain_hunter", opted_out=True) == []
    assert names("unknown") == []


def test_page_kinds() -> None:
    assert [page_kind(p) for p in ("/", "/catalog", "/product/p001", "/cart", "/x/y")] == [
        "home", "catalog", "product", "cart", "other",
    ]  # fmt: skip
