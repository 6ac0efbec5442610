"""Turn the features that drove a prediction into short plain-language reasons (en, fr)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Final

from personas_engine.feature_state import NOT_MEASURED, NOT_YET_S

Phrase = Callable[[Mapping[str, float], str], str | None]


def _num(value: float, lang: str) -> str:
    text = f"{value:.0f}" if abs(value) >= 10 or value == int(value) else f"{value:.1f}"
    return text.replace(".", ",") if lang == "fr" else text


def _pct(value: float, lang: str) -> str:
    return f"{value * 100:.0f}{' %' if lang == 'fr' else '%'}"


def _times(n: float, lang: str) -> str:
    if lang == "fr":
        return "une fois" if n == 1 else "deux fois" if n == 2 else f"{n:.0f} fois"
    return "once" if n == 1 else "twice" if n == 2 else f"{n:.0f} times"


def _plural(n: float, one: str, many: str) -> str:
    return f"{n:.0f} {one if n == 1 else many}"


def _count(en: str, fr: str, name: str) -> Phrase:
    # en/fr templates with {n} for the count and {s} for an "s" plural ending.
    def phrase(f: Mapping[str, float], lang: str) -> str | None:
        n = f.get(name, 0.0)
        if n <= 0:
            return None
        return (fr if lang == "fr" else en).format(n=f"{n:.0f}", s="" if n == 1 else "s")

    return phrase


def _sorted_by(en: str, fr: str, name: str) -> Phrase:
    def phrase(f: Mapping[str, float], lang: str) -> str | None:
        n = f.get(name, 0.0)
        if n <= 0:
            return None
        return f"{fr if lang == 'fr' else en} {_times(n, lang)}"

    return phrase


def _measured(en: str, fr: str, name: str, fmt: Callable[[float, str], str]) -> Phrase:
    def phrase(f: Mapping[str, float], lang: str) -> str | None:
        value = f.get(name, NOT_MEASURED)
        if value == NOT_MEASURED:
            return None
        return (fr if lang == "fr" else en).format(v=fmt(value, lang))

    return phrase


def _products(f: Mapping[str, float], lang: str) -> str | None:
    n, c = f.get("products_viewed", 0.0), f.get("distinct_categories", 0.0)
    if n <= 0:
        return None
    if lang == "fr":
        cats = _plural(c, "catégorie", "catégories")
        return f"a consulté {_plural(n, 'produit', 'produits')} dans {cats}"
    return f"viewed {_plural(n, 'product', 'products')} in {_plural(c, 'category', 'categories')}"


def _discount_hovers(f: Mapping[str, float], lang: str) -> str | None:
    n, s = f.get("discount_hovers", 0.0), f.get("discount_hover_s", 0.0)
    if n <= 0:
        return None
    if lang == "fr":
        badges = _plural(n, "badge de remise", "badges de remise")
        return f"a survolé {badges} ({_num(s, lang)} s au total)"
    return f"hovered {_plural(n, 'discount badge', 'discount badges')} ({_num(s, lang)} s in total)"


def _first_add(f: Mapping[str, float], lang: str) -> str | None:
    s = f.get("time_to_first_add_s", NOT_YET_S)
    if s < NOT_YET_S:
        if lang == "fr":
            return f"a ajouté au panier {_num(s, lang)} s après son arrivée"
        return f"added to cart {_num(s, lang)} s after arriving"
    elapsed = f.get("visit_duration_s", 0.0)
    if elapsed < 10:
        return None
    if lang == "fr":
        return f"n'a rien ajouté au panier en {_num(elapsed, lang)} s"
    return f"has added nothing to the cart in {_num(elapsed, lang)} s"


def _to_checkout(f: Mapping[str, float], lang: str) -> str | None:
    s = f.get("cart_to_checkout_s", NOT_YET_S)
    if s >= NOT_YET_S:
        return None
    if lang == "fr":
        return f"est passé à la commande {_num(s, lang)} s après l'ajout au panier"
    return f"went to checkout {_num(s, lang)} s after adding to cart"


def _first_product(f: Mapping[str, float], lang: str) -> str | None:
    s = f.get("time_to_first_product_s", NOT_YET_S)
    if s >= NOT_YET_S:
        return None
    if s < 1:
        return "est arrivé directement sur un produit" if lang == "fr" else "landed on a product"
    if lang == "fr":
        return f"a ouvert un produit {_num(s, lang)} s après son arrivée"
    return f"opened a product {_num(s, lang)} s after arriving"


def _straightness(f: Mapping[str, float], lang: str) -> str | None:
    v = f.get("path_straightness", NOT_MEASURED)
    if v == NOT_MEASURED:
        return None
    straight = v >= 0.9
    if lang == "fr":
        kind = "droites" if straight else "sinueuses"
        return f"a déplacé le pointeur en lignes {kind} ({v:.2f})".replace(".", ",")
    return f"moved the pointer in {'straight' if straight else 'winding'} lines ({v:.2f})"


PHRASES: Final[dict[str, Phrase]] = {
    "products_viewed": _products,
    "product_views": _products,
    "distinct_categories": _products,
    "back_and_forth": _count(
        "went back to {n} product{s} already seen",
        "est revenu sur {n} produit{s} déjà vu{s}",
        "back_and_forth",
    ),
    "mean_dwell_per_product_s": _measured(
        "spent {v} s per product on average",
        "a passé {v} s par produit en moyenne",
        "mean_dwell_per_product_s",
        _num,
    ),
    "max_scroll_depth_mean": _measured(
        "scrolled {v} of the way down each page on average",
        "a fait défiler {v} de chaque page en moyenne",
        "max_scroll_depth_mean",
        _pct,
    ),
    "product_scroll_depth_mean": _measured(
        "scrolled {v} of the way down each product page",
        "a fait défiler {v} de chaque fiche produit",
        "product_scroll_depth_mean",
        _pct,
    ),
    "scroll_speed_px_s": _measured(
        "scrolled at {v} px/s", "a fait défiler à {v} px/s", "scroll_speed_px_s", _num
    ),
    "pointer_speed_px_s": _measured(
        "moved the pointer at {v} px/s",
        "a déplacé le pointeur à {v} px/s",
        "pointer_speed_px_s",
        _num,
    ),
    "path_straightness": _straightness,
    "idle_ratio": _measured(
        "stayed still {v} of the time", "est resté immobile {v} du temps", "idle_ratio", _pct
    ),
    "hesitation_ratio": _measured(
        "paused before {v} of clicks",
        "a marqué une pause avant {v} des clics",
        "hesitation_ratio",
        _pct,
    ),
    "price_hovers": _count("hovered {n} price{s}", "a survolé {n} prix", "price_hovers"),
    "discount_hovers": _discount_hovers,
    "discount_hover_s": _discount_hovers,
    "product_hovers": _count(
        "lingered on {n} product card{s}",
        "s'est attardé sur {n} fiche{s} produit",
        "product_hovers",
    ),
    "tutorial_hovers": _count(
        "looked at {n} buying guide{s}", "a regardé {n} guide{s} d'achat", "tutorial_hovers"
    ),
    "price_sorts": _sorted_by("sorted by price", "a trié par prix", "price_sorts"),
    "discount_sorts": _sorted_by("sorted by discount", "a trié par remise", "discount_sorts"),
    "other_sorts": _sorted_by(
        "sorted by popularity or novelty", "a trié par popularité ou nouveauté", "other_sorts"
    ),
    "on_sale_filters": _sorted_by(
        "filtered on items on sale", "a filtré les articles en promotion", "on_sale_filters"
    ),
    "category_filters": _sorted_by(
        "filtered the catalog by category",
        "a filtré le catalogue par catégorie",
        "category_filters",
    ),
    "coupon_interactions": _sorted_by(
        "tried a coupon code", "a essayé un code promo", "coupon_interactions"
    ),
    "searches": _sorted_by("searched", "a fait une recherche", "searches"),
    "tutorial_views": _sorted_by(
        "opened the buying guides", "a ouvert les guides d'achat", "tutorial_views"
    ),
    "catalog_views": _count(
        "viewed {n} catalog page{s}", "a vu {n} page{s} du catalogue", "catalog_views"
    ),
    "add_to_cart_count": _count(
        "added {n} item{s} to the cart", "a ajouté {n} article{s} au panier", "add_to_cart_count"
    ),
    "time_to_first_add_s": _first_add,
    "cart_to_checkout_s": _to_checkout,
    "time_to_first_product_s": _first_product,
    "checkout_reached": _count("reached checkout", "a atteint la commande", "checkout_reached"),
    "clicks": _count("clicked {n} time{s}", "a cliqué {n} fois", "clicks"),
    "pages_per_minute": _measured(
        "went through {v} pages a minute",
        "a parcouru {v} pages par minute",
        "pages_per_minute",
        _num,
    ),
    "visit_duration_s": _measured(
        "has been browsing for {v} s", "navigue depuis {v} s", "visit_duration_s", _num
    ),
}


# Context, not behaviour: these can tip the model but make poor reasons on their own.
CONTEXT: Final = frozenset({"visit_duration_s", "events_seen", "touch_device"})


def explain(
    features: Mapping[str, float], drivers: Sequence[str], *, limit: int = 3, lang: str = "en"
) -> list[str]:
    """Return up to `limit` distinct reasons for the driving features, strongest first."""
    reasons: list[str] = []
    behaviour = [name for name in drivers if name not in CONTEXT]
    for name in (*behaviour, "products_viewed", "visit_duration_s"):
        phrase = PHRASES.get(name)
        text = phrase(features, lang) if phrase is not None else None
        if text is not None and text not in reasons:
            reasons.append(text)
        if len(reasons) >= limit:
            break
    return reasons
