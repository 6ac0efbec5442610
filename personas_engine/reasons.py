"""Turn the features that drove a prediction into short plain-language reasons (en, fr).

Every reason is a `Fact`: the feature it rests on, that feature's value in the visit, and the
text. A text says only what the feature measures (see personas_engine/features.py): a pointer
resting on a guide link is "rested the pointer on buying-guide links", never "looked at
guides"; a catalog opened at a sorted URL is not "sorted by". On a touch visit the texts name
touch behaviour (tapped, swiped) and hover-based features, not measured there, say nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from personas_engine.feature_state import HOVER_FEATURES as HOVER_BASED
from personas_engine.feature_state import NOT_MEASURED, NOT_YET_S


@dataclass(frozen=True)
class Fact:
    """One reason: the feature it states, its value in the visit, and the text shown."""

    feature: str
    value: float
    text: str
    # Other features the text also rests on, e.g. the categories of "viewed 3 products in 2
    # categories" or the total time of "hovered over discount badges 3 times (4 s in total)".
    also: tuple[tuple[str, float], ...] = ()


Rule = Callable[[Mapping[str, float], str], Fact | None]
Phrase = Callable[[Mapping[str, float], str], str | None]

# Measured only by a pointer that can hover: "not measured" on a touch visit, never phrased.
HOVER_FEATURES: Final = frozenset(HOVER_BASED)


@dataclass(frozen=True)
class Words:
    """A template in each language, with touch variants where the gesture matters."""

    en: str
    fr: str
    en_touch: str | None = None
    fr_touch: str | None = None

    def pick(self, f: Mapping[str, float], lang: str) -> str:
        """Return the template for this language and device."""
        if is_touch(f):
            touch = self.fr_touch if lang == "fr" else self.en_touch
            if touch is not None:
                return touch
        return self.fr if lang == "fr" else self.en


def is_touch(f: Mapping[str, float]) -> bool:
    """Tell whether the visit was on a touch screen (no page could hover)."""
    return f.get("touch_device", 0.0) == 1.0


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


def _measurable(f: Mapping[str, float], name: str) -> bool:
    return not (name in HOVER_FEATURES and is_touch(f))


def _count(name: str, words: Words) -> Rule:
    # Templates take {n} (the count), {s} (an "s" plural ending) and {times} ("once", ...).
    def rule(f: Mapping[str, float], lang: str) -> Fact | None:
        n = f.get(name, 0.0)
        if n <= 0 or not _measurable(f, name):
            return None
        text = words.pick(f, lang).format(
            n=f"{n:.0f}", s="" if n == 1 else "s", times=_times(n, lang)
        )
        return Fact(name, n, text)

    return rule


def _measured(
    name: str, words: Words, fmt: Callable[[float, str], str] = _num, *, zero: bool = True
) -> Rule:
    # `zero=False`: a 0 means nothing was measured (a depth with no page height), say nothing.
    def rule(f: Mapping[str, float], lang: str) -> Fact | None:
        value = f.get(name, NOT_MEASURED)
        if value == NOT_MEASURED or value < 0 or not _measurable(f, name):
            return None
        if value == 0 and not zero:
            return None
        return Fact(name, value, words.pick(f, lang).format(v=fmt(value, lang)))

    return rule


def _products(f: Mapping[str, float], lang: str) -> Fact | None:
    n, c = f.get("products_viewed", 0.0), f.get("distinct_categories", 0.0)
    if n <= 0:
        return None
    if c <= 0:
        text = (
            f"a consulté {_plural(n, 'produit', 'produits')}"
            if lang == "fr"
            else f"viewed {_plural(n, 'product', 'products')}"
        )
        return Fact("products_viewed", n, text)
    if lang == "fr":
        cats = _plural(c, "catégorie", "catégories")
        text = f"a consulté {_plural(n, 'produit', 'produits')} dans {cats}"
    else:
        cats = _plural(c, "category", "categories")
        text = f"viewed {_plural(n, 'product', 'products')} in {cats}"
    return Fact("products_viewed", n, text, (("distinct_categories", c),))


def _back_and_forth(f: Mapping[str, float], lang: str) -> Fact | None:
    # Product page views of a product already seen in this visit (so A, B, A, A counts 2).
    n = f.get("back_and_forth", 0.0)
    if n <= 0:
        return None
    if lang == "fr":
        what = "un produit déjà vu" if n == 1 else "des produits déjà vus"
        text = f"est revenu {_times(n, lang)} sur {what}"
    else:
        what = "a product already seen" if n == 1 else "products already seen"
        text = f"went back {_times(n, lang)} to {what}"
    return Fact("back_and_forth", n, text)


def _discount_hovers(f: Mapping[str, float], lang: str) -> Fact | None:
    n, s = f.get("discount_hovers", 0.0), f.get("discount_hover_s", 0.0)
    if n <= 0 or is_touch(f):
        return None
    if lang == "fr":
        text = f"a survolé des badges de remise {_times(n, lang)} ({_num(s, lang)} s au total)"
    else:
        text = f"hovered over discount badges {_times(n, lang)} ({_num(s, lang)} s in total)"
    return Fact("discount_hovers", n, text, (("discount_hover_s", s),))


def _discounted_products(f: Mapping[str, float], lang: str) -> Fact | None:
    # Product page views whose page showed the product's own discount badge (`page` `disc`).
    share = f.get("discount_viewed_share", NOT_MEASURED)
    mean = f.get("mean_viewed_discount", NOT_MEASURED)
    if share <= 0 or mean < 0:
        return None  # no product page, or none discounted: nothing to say about deals
    if lang == "fr":
        text = (
            f"{_pct(share, lang)} des fiches produit ouvertes affichaient une remise "
            f"({_num(mean, lang)} % en moyenne)"
        )
    else:
        text = (
            f"{_pct(share, lang)} of the product pages opened showed a discount "
            f"({_num(mean, lang)}% off on average)"
        )
    return Fact("discount_viewed_share", share, text, (("mean_viewed_discount", mean),))


def _first_add(f: Mapping[str, float], lang: str) -> Fact | None:
    s = f.get("time_to_first_add_s", NOT_YET_S)
    adds = f.get("add_to_cart_count", 1.0 if s < NOT_YET_S else 0.0)
    if adds > 0:
        if s >= NOT_YET_S:
            return None  # added, but later than the scale reaches: no number to state
        text = (
            f"a ajouté au panier {_num(s, lang)} s après son arrivée"
            if lang == "fr"
            else f"added to cart {_num(s, lang)} s after arriving"
        )
        return Fact("time_to_first_add_s", s, text)
    elapsed = f.get("visit_duration_s", 0.0)
    if s < NOT_YET_S or elapsed < 10:
        return None
    text = (
        f"n'a rien ajouté au panier en {_num(elapsed, lang)} s"
        if lang == "fr"
        else f"has added nothing to the cart in {_num(elapsed, lang)} s"
    )
    return Fact("add_to_cart_count", 0.0, text, (("visit_duration_s", elapsed),))


def _to_checkout(f: Mapping[str, float], lang: str) -> Fact | None:
    # Measured from the first add to cart, or from the arrival when nothing was added.
    s = f.get("cart_to_checkout_s", NOT_YET_S)
    if s >= NOT_YET_S or s < 0 or "add_to_cart_count" not in f:
        return None
    if f["add_to_cart_count"] > 0:
        if s == 0:
            return None  # checkout came before the first add (the feature stops at 0)
        text = (
            f"est passé à la commande {_num(s, lang)} s après l'ajout au panier"
            if lang == "fr"
            else f"went to checkout {_num(s, lang)} s after adding to cart"
        )
    else:
        text = (
            f"est passé à la commande {_num(s, lang)} s après son arrivée"
            if lang == "fr"
            else f"went to checkout {_num(s, lang)} s after arriving"
        )
    return Fact("cart_to_checkout_s", s, text)


def _first_product(f: Mapping[str, float], lang: str) -> Fact | None:
    s = f.get("time_to_first_product_s", NOT_YET_S)
    if s >= NOT_YET_S or s < 0:
        return None
    if s == 0:
        # The visit's first event is a product page view: the visit began on a product.
        text = "est arrivé directement sur un produit" if lang == "fr" else "landed on a product"
    elif lang == "fr":
        text = f"a ouvert un produit {_num(s, lang)} s après son arrivée"
    else:
        text = f"opened a product {_num(s, lang)} s after arriving"
    return Fact("time_to_first_product_s", s, text)


def _straightness(f: Mapping[str, float], lang: str) -> Fact | None:
    v = f.get("path_straightness", NOT_MEASURED)
    if v < 0 or is_touch(f):
        return None
    straight = v >= 0.9
    if lang == "fr":
        kind = "droites" if straight else "sinueuses"
        text = f"a déplacé le pointeur en lignes {kind} ({v:.2f})".replace(".", ",")
    else:
        text = f"moved the pointer in {'straight' if straight else 'winding'} lines ({v:.2f})"
    return Fact("path_straightness", v, text)


_RULES: Final[dict[str, Rule]] = {
    "products_viewed": _products,
    "product_views": _products,
    "distinct_categories": _products,
    "back_and_forth": _back_and_forth,
    "discount_viewed_share": _discounted_products,
    "mean_viewed_discount": _discounted_products,
    "mean_dwell_per_product_s": _measured(
        "mean_dwell_per_product_s",
        Words("spent {v} s per product on average", "a passé {v} s par produit en moyenne"),
    ),
    # Depth counts what the first screen shows: "reached", not "scrolled".
    "max_scroll_depth_mean": _measured(
        "max_scroll_depth_mean",
        Words(
            "reached {v} of the way down each page on average",
            "a vu {v} de chaque page en moyenne",
        ),
        _pct,
        zero=False,
    ),
    "product_scroll_depth_mean": _measured(
        "product_scroll_depth_mean",
        Words(
            "reached {v} of the way down each product page on average",
            "a vu {v} de chaque fiche produit en moyenne",
        ),
        _pct,
        zero=False,
    ),
    "scroll_speed_px_s": _measured(
        "scroll_speed_px_s",
        Words(
            "scrolled at {v} px/s",
            "a fait défiler la page à {v} px/s",
            "swiped at {v} px/s",
            "a fait glisser la page à {v} px/s",
        ),
    ),
    "scroll_reversals": _count(
        "scroll_reversals",
        Words(
            "scrolled back up {times}",
            "est remonté dans la page {times}",
            "swiped back up {times}",
            "a fait remonter la page du doigt {times}",
        ),
    ),
    "pointer_speed_px_s": _measured(
        "pointer_speed_px_s",
        Words("moved the pointer at {v} px/s", "a déplacé le pointeur à {v} px/s"),
    ),
    "path_straightness": _straightness,
    # Silences of more than 2 s between actions; a drifting mouse is no action.
    "idle_ratio": _measured(
        "idle_ratio",
        Words(
            "did not click or scroll for {v} of the time",
            "n'a ni cliqué ni fait défiler la page pendant {v} du temps",
            "did not tap or swipe for {v} of the time",
            "n'a ni touché ni fait glisser l'écran pendant {v} du temps",
        ),
        _pct,
    ),
    "hesitation_ratio": _measured(
        "hesitation_ratio",
        Words(
            "paused before {v} of clicks",
            "a marqué une pause avant {v} des clics",
            "paused before {v} of taps",
            "a marqué une pause avant {v} des appuis",
        ),
        _pct,
    ),
    "price_hovers": _count(
        "price_hovers", Words("hovered over prices {times}", "a survolé des prix {times}")
    ),
    "discount_hovers": _discount_hovers,
    "discount_hover_s": _discount_hovers,
    "product_hovers": _count(
        "product_hovers",
        Words("hovered over products {times}", "a survolé des produits {times}"),
    ),
    # The pointer rested on a link or card of a guide: no guide was opened for that.
    "tutorial_hovers": _count(
        "tutorial_hovers",
        Words(
            "rested the pointer on buying-guide links {times}",
            "a laissé le pointeur sur des liens de guides d'achat {times}",
        ),
    ),
    # The sort control, used: a page opened at a sort is `deal_sorted_views`.
    "price_sorts": _count(
        "price_sorts", Words("sorted by price {times}", "a trié par prix {times}")
    ),
    "discount_sorts": _count(
        "discount_sorts", Words("sorted by discount {times}", "a trié par remise {times}")
    ),
    "other_sorts": _count(
        "other_sorts",
        Words(
            "sorted by popularity or novelty {times}",
            "a trié par popularité ou nouveauté {times}",
        ),
    ),
    "on_sale_filters": _count(
        "on_sale_filters",
        Words("used the on-sale filter {times}", "a utilisé le filtre des promotions {times}"),
    ),
    "on_sale_views": _count(
        "on_sale_views",
        Words(
            "opened the on-sale listing {times}",
            "a ouvert la liste des promotions {times}",
        ),
    ),
    "deal_sorted_views": _count(
        "deal_sorted_views",
        Words(
            "opened {n} catalog page{s} sorted by lowest price or biggest discount",
            "a ouvert {n} page{s} du catalogue triée{s} par prix croissant ou par remise",
        ),
    ),
    # Time on catalog pages opened on the sale or at a deal sort, however they were reached.
    "deal_listing_s": _measured(
        "deal_listing_s",
        Words(
            "spent {v} s on listings of deals (on sale, or sorted by lowest price or biggest"
            " discount)",
            "a passé {v} s sur des listes de bonnes affaires (promotions, ou tri par prix"
            " croissant ou par remise)",
        ),
        zero=False,
    ),
    "category_filters": _count(
        "category_filters",
        Words(
            "filtered the catalog by category {times}",
            "a filtré le catalogue par catégorie {times}",
        ),
    ),
    # The coupon field and each code applied: several uses can be one code tried.
    "coupon_interactions": _count(
        "coupon_interactions",
        Words("used the coupon code form {times}", "a utilisé le formulaire de code promo {times}"),
    ),
    "searches": _count("searches", Words("searched {times}", "a fait une recherche {times}")),
    # All the buying guides are one page, /tutorials: these are views of that page.
    "tutorial_views": _count(
        "tutorial_views",
        Words(
            "opened the buying guides page {times}", "a ouvert la page des guides d'achat {times}"
        ),
    ),
    "catalog_views": _count(
        "catalog_views",
        Words("viewed {n} catalog page{s}", "a vu {n} page{s} du catalogue"),
    ),
    "add_to_cart_count": _count(
        "add_to_cart_count",
        Words("added to the cart {times}", "a ajouté au panier {times}"),
    ),
    "time_to_first_add_s": _first_add,
    "cart_to_checkout_s": _to_checkout,
    "time_to_first_product_s": _first_product,
    "checkout_reached": _count(
        "checkout_reached", Words("reached checkout", "a atteint la commande")
    ),
    "clicks": _count(
        "clicks",
        Words(
            "clicked {n} time{s}",
            "a cliqué {n} fois",
            "tapped {n} time{s}",
            "a touché l'écran {n} fois",
        ),
    ),
    "tap_gap_s": _measured(
        "tap_gap_s",
        Words(
            "waited {v} s between clicks on average",
            "a attendu {v} s entre deux clics en moyenne",
            "waited {v} s between taps on average",
            "a attendu {v} s entre deux appuis en moyenne",
        ),
    ),
    "back_navigations": _count(
        "back_navigations",
        Words(
            "went back to the page before {times}",
            "est revenu à la page précédente {times}",
        ),
    ),
    "pages_per_minute": _measured(
        "pages_per_minute",
        Words("went through {v} pages a minute", "a parcouru {v} pages par minute"),
    ),
    "visit_duration_s": _measured(
        "visit_duration_s", Words("has been browsing for {v} s", "navigue depuis {v} s")
    ),
}


def _text_of(rule: Rule) -> Phrase:
    def phrase(f: Mapping[str, float], lang: str) -> str | None:
        fact = rule(f, lang)
        return None if fact is None else fact.text

    return phrase


# The texts alone, by feature (the LLM summary describes a visit with them).
PHRASES: Final[dict[str, Phrase]] = {name: _text_of(rule) for name, rule in _RULES.items()}

# Context, not behaviour: these can tip the model but make poor reasons on their own.
CONTEXT: Final = frozenset({"visit_duration_s", "events_seen", "touch_device"})


def fact_of(features: Mapping[str, float], name: str, lang: str = "en") -> Fact | None:
    """Return the reason one feature gives in this visit, or None when it has nothing to say."""
    rule = _RULES.get(name)
    return rule(features, lang) if rule is not None else None


def reason_facts(
    features: Mapping[str, float], drivers: Sequence[str], *, limit: int = 3, lang: str = "en"
) -> list[Fact]:
    """Return up to `limit` distinct reasons for the driving features, strongest first."""
    facts: list[Fact] = []
    texts: set[str] = set()
    behaviour = [name for name in drivers if name not in CONTEXT]
    for name in (*behaviour, "products_viewed", "visit_duration_s"):
        if len(facts) >= limit:
            break
        fact = fact_of(features, name, lang)
        if fact is not None and fact.text not in texts:
            facts.append(fact)
            texts.add(fact.text)
    return facts


def explain(
    features: Mapping[str, float], drivers: Sequence[str], *, limit: int = 3, lang: str = "en"
) -> list[str]:
    """Return up to `limit` distinct reasons for the driving features, strongest first."""
    return [fact.text for fact in reason_facts(features, drivers, limit=limit, lang=lang)]
