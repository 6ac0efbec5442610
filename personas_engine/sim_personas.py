"""How each persona behaves in the simulator: trait ranges, landing pages and episodes.

A visit is a landing page followed by episodes. Before each episode the acting persona is
drawn from the visit's mixture weights, so a 70/30 bargain hunter/explorer visit mostly hunts
deals and sometimes wanders. Traits (speeds, reading time, depth...) are blended the same way.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import fields

from personas_engine import sim_layout as layout
from personas_engine.sim_visit import Traits, VisitSim

Episode = Callable[[VisitSim], None]

# Ranges per persona; each visitor draws a point inside (log-uniform) and then some noise.
TRAIT_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "explorer": {
        "read_s": (4.0, 18.0),
        "depth": (0.8, 1.0),
        "scroll_speed": (350, 900),
        "pointer_speed": (250, 650),
        "curvature": (0.18, 0.45),
        "hesitate_s": (0.6, 2.2),
        "hover_s": (0.4, 1.3),
        "think_s": (0.8, 2.5),
        "episodes": (5, 10),
    },
    "hurried": {
        "read_s": (0.8, 4.0),
        "depth": (0.05, 0.4),
        "scroll_speed": (1_400, 3_500),
        "pointer_speed": (800, 2_000),
        "curvature": (0.02, 0.12),
        "hesitate_s": (0.05, 0.4),
        "hover_s": (0.15, 0.45),
        "think_s": (0.15, 0.8),
        "episodes": (2, 4),
    },
    "bargain_hunter": {
        "read_s": (2.5, 9.0),
        "depth": (0.3, 0.75),
        "scroll_speed": (700, 1_600),
        "pointer_speed": (450, 1_000),
        "curvature": (0.08, 0.25),
        "hesitate_s": (0.3, 1.3),
        "hover_s": (1.0, 2.6),
        "think_s": (0.5, 1.8),
        "episodes": (4, 9),
    },
}


def sample_traits(rng: random.Random, weights: Mapping[str, float], variation: float) -> Traits:
    """Draw one visitor's traits, blending each persona's draw by the mixture weights."""
    values: dict[str, float] = {}
    for f in fields(Traits):
        logs = 0.0
        for persona, weight in weights.items():
            low, high = TRAIT_RANGES[persona][f.name]
            draw = math.exp(rng.uniform(math.log(low), math.log(high)))
            logs += weight * math.log(draw * rng.lognormvariate(0.0, variation))
        values[f.name] = math.exp(logs)
    values["depth"] = min(1.0, values["depth"])
    return Traits(**values)


def land(sim: VisitSim, persona: str) -> None:
    """Open the visit's first page as the dominant persona would arrive."""
    roll = sim.rng.random()
    deals = [p.id for p in sim.catalog if p.discount > 0] or [p.id for p in sim.catalog]
    # Links from ads, mails and the home page land on listings already sorted or filtered;
    # a few explorers and hurried shoppers arrive through the deals link too.
    if persona == "hurried":
        kind = (
            "product" if roll < 0.5 else "home" if roll < 0.8
            else "sale" if roll < 0.84 else "sorted" if roll < 0.92 else "catalog"
        )  # fmt: skip
    elif persona == "explorer":
        kind = (
            "product" if roll < 0.1 else "catalog" if roll < 0.3 else "category" if roll < 0.45
            else "sorted" if roll < 0.57 else "sale" if roll < 0.61 else "home"
        )  # fmt: skip
    else:
        kind = (
            "deal" if roll < 0.05 else "sale" if roll < 0.35 else "cheap" if roll < 0.45
            else "catalog" if roll < 0.7 else "home"
        )  # fmt: skip
    if kind in ("product", "deal"):
        pid = sim.rng.choice(deals if kind == "deal" else [p.id for p in sim.catalog])
        sim.navigate(f"/product/{pid}", "product", pid=pid)
        sim.viewed.append(pid)
    elif kind in ("catalog", "sale", "sorted", "category", "cheap"):
        if kind == "sale":  # the Deals link: /catalog?on_sale=1&sort=discount
            sim.on_sale, sim.sort = True, "discount"
        elif kind == "cheap":  # a price-first listing: /catalog?sort=price_asc
            sim.sort = "price_asc"
        elif kind == "sorted":  # "View all" and newsletters: popular or newest first
            sim.sort = sim.rng.choice(("popular", "newest"))
        elif kind == "category":
            sim.category = sim.rng.choice(sim.categories)
        sim.navigate(sim.catalog_path(), "catalog")
    else:
        sim.navigate("/", "home")
    sim.pause(0.5)


# -- explorer --------------------------------------------------------------------------------


def explorer_read_product(sim: VisitSim) -> None:
    """Open a product from a category not seen yet and read it to the bottom."""
    seen = {sim.by_id[pid].category for pid in sim.viewed}
    fresh = [p.id for p in sim.catalog if p.category not in seen and p.id not in sim.viewed]
    pool = fresh or [p.id for p in sim.catalog if p.id not in sim.viewed] or sim.viewed
    visible = [pid for pid in sim.grid if pid in pool] if sim.page.kind != "product" else []
    pid = sim.rng.choice(visible if visible and sim.rng.random() < 0.7 else pool)
    if sim.page.kind == "catalog" and pid in sim.grid and not sim.by_url:
        sim.hover(
            f'[data-product-id="{pid}"]',
            "product",
            sim.grid_box(pid),
            sim.traits.hover_s * 1000,
            pid=pid,
        )
    sim.open_product(pid)
    read_product(sim, sim.traits.read_s, sim.traits.depth)
    parts = layout.product_parts(sim.device)
    if sim.rng.random() < 0.3:
        sim.hover(
            f'[data-product-id="{pid}"]>img',
            "product",
            parts["image"],
            sim.traits.hover_s * 1000,
            pid=pid,
        )
    if sim.rng.random() < 0.2:
        sim.hover("#buying-guide", "tutorial", parts["guide"], sim.traits.hover_s * 1000)


def read_product(sim: VisitSim, read_s: float, depth: float) -> None:
    """Read a product page, scrolling in a few stops down to `depth`."""
    page = sim.page
    total_ms = sim.jitter(read_s * 1000, 0.35)
    target = max(0.0, depth * page.dh - sim.device.vh)
    stops = sim.rng.randint(1, 4) if target > 0 else 0
    if target > 0 and sim.device.pointer == "touch":
        # A phone shows a few lines at a time: reading a page means a swipe every screenful.
        stops = max(1, round(target / (sim.device.vh * sim.rng.uniform(0.5, 0.9))))
    for i in range(1, stops + 1):
        page.read(total_ms / (stops + 1))
        sim.scroll_to(target * i / stops)
    page.read(total_ms / (stops + 1))


def explorer_browse_category(sim: VisitSim) -> None:
    """Pick a category not browsed yet and look over its cards."""
    sim.goto_catalog()
    fresh = [c for c in sim.categories if c != sim.category] or sim.categories
    slug = sim.rng.choice(fresh)
    index = sim.categories.index(slug)
    sim.click(f'[data-category="{slug}"]', layout.category_link(sim.device, index))
    sim.page.emit("filter", f="category", v=slug)
    sim.category = slug
    sim.navigate(sim.catalog_path(), "catalog")
    sim.scroll_to(sim.rng.uniform(0.2, 0.7) * sim.page.dh)
    for pid in sim.rng.sample(sim.grid, k=min(len(sim.grid), sim.rng.randint(1, 4))):
        sim.hover(
            f'[data-product-id="{pid}"]',
            "product",
            sim.grid_box(pid),
            sim.traits.hover_s * 1000,
            pid=pid,
        )
    sim.pause()


def explorer_revisit(sim: VisitSim) -> None:
    """Go back to a product seen earlier to look at it again."""
    others = [pid for pid in sim.viewed if pid != sim.page.pid] or sim.viewed
    if not others:
        explorer_read_product(sim)
        return
    pid = sim.rng.choice(others)
    sim.navigate(f"/product/{pid}", "product", pid=pid)  # the back button: no click
    sim.viewed.append(pid)
    read_product(sim, sim.traits.read_s * 0.5, sim.traits.depth * 0.7)


def explorer_tutorials(sim: VisitSim) -> None:
    """Open the buying guides and read some of them."""
    sim.follow_header(layout.HEADER_TUTORIALS, "/tutorials", "tutorials")
    for index in range(sim.rng.randint(1, 3)):
        sim.hover(
            f"#guide-{index + 1}",
            "tutorial",
            layout.tutorial_card(sim.device, index),
            sim.traits.hover_s * 1000,
        )
        sim.page.read(sim.jitter(sim.traits.read_s * 600))
    sim.scroll_to(sim.rng.uniform(0.5, 1.0) * sim.page.dh)


def explorer_step(sim: VisitSim) -> Episode:
    """Choose an explorer's next episode."""
    roll = sim.rng.random()
    if roll < 0.12 and sim.page.kind != "tutorials" and not _visited(sim, "tutorials"):
        return explorer_tutorials
    if roll < 0.3:
        return explorer_browse_category
    if roll < 0.4 and len(sim.viewed) >= 2:
        return explorer_revisit
    if roll < 0.43 and sim.page.kind == "product":
        return lambda s: s.add_to_cart()
    if roll < 0.47:
        return lambda s: s.search()
    return explorer_read_product


# -- hurried ---------------------------------------------------------------------------------


def hurried_find_product(sim: VisitSim) -> None:
    """Get to a product as fast as possible: search, or the first card in sight."""
    if sim.page.kind == "product":
        return
    if sim.by_url:
        pid = sim.rng.choice(sim.catalog).id
    else:
        if sim.page.kind not in ("catalog", "home") or not sim.grid or sim.rng.random() < 0.45:
            sim.search()
        pid = sim.grid[min(len(sim.grid) - 1, int(sim.rng.expovariate(0.8)))]
    sim.open_product(pid)


def hurried_quick_add(sim: VisitSim) -> None:
    """Glance at the product and add it to the cart straight away."""
    hurried_find_product(sim)
    read_product(sim, sim.traits.read_s, sim.traits.depth)
    sim.add_to_cart()
    sim.pause(0.5)


def hurried_checkout(sim: VisitSim) -> None:
    """Go to the cart and through checkout without looking around."""
    sim.checkout(place_order=sim.rng.random() < 0.85, typing=0.6)


def hurried_step(sim: VisitSim) -> Episode:
    """Choose a hurried shopper's next episode."""
    if not sim.cart or sim.rng.random() < 0.1:
        return hurried_quick_add
    return hurried_checkout


# -- bargain hunter --------------------------------------------------------------------------


def bargain_sort(sim: VisitSim) -> None:
    """Sort the catalog by price or discount."""
    sim.goto_catalog()
    choices = [v for v in ("price_asc", "discount", "price_desc") if v != sim.sort]
    value = sim.rng.choices(choices, weights=[3, 2, 1][: len(choices)])[0]
    sim.click('[data-action="sort"]', layout.sort_select(sim.device), act="sort")
    sim.page.wait(sim.rng.uniform(300, 1_200))  # the options are read
    sim.page.emit("sort", v=value)
    sim.sort = value
    sim.navigate(sim.catalog_path(), "catalog")
    sim.pause(0.5)


def bargain_on_sale(sim: VisitSim) -> None:
    """Keep only the items on sale."""
    sim.goto_catalog()
    sim.click('[data-filter="on-sale"]', layout.on_sale_filter(sim.device))
    sim.page.emit("filter", f="on-sale")
    sim.on_sale = True
    sim.navigate(sim.catalog_path(), "catalog")
    sim.pause(0.5)


def bargain_deals_link(sim: VisitSim) -> None:
    """Follow the header's Deals link: the sale, biggest discount first."""
    if not sim.by_url:
        sim.click(".site-nav__deals", layout.header(sim.device, layout.HEADER_DEALS), hesitate=0.5)
    sim.on_sale, sim.sort, sim.category = True, "discount", ""
    sim.navigate(sim.catalog_path(), "catalog")
    sim.pause(0.5)


def bargain_scan_deals(sim: VisitSim) -> None:
    """Run down the grid resting on discount badges and prices, then back up to compare."""
    sim.goto_catalog()
    deals = [pid for pid in sim.grid if sim.by_id[pid].discount > 0][:12]
    if not deals:
        return
    scanned = sorted(
        sim.rng.sample(deals, k=min(len(deals), sim.rng.randint(2, 5))), key=sim.grid.index
    )
    if len(scanned) >= 3 and sim.rng.random() < 0.5:
        scanned.append(sim.rng.choice(scanned[:-2]))  # back up to a deal seen before
    for pid in scanned:
        box = sim.grid_box(pid)
        percent = sim.by_id[pid].discount
        sim.hover(
            f'[data-discount="{percent}"]',
            "discount",
            layout.card_discount(box),
            sim.traits.hover_s * 1000,
            pid=pid,
        )
        if sim.rng.random() < 0.6:
            price = sim.by_id[pid].price_cents * (100 - percent) / 10_000
            sim.hover(
                f'[data-price="{price:.2f}"]',
                "price",
                layout.card_price(box),
                sim.traits.hover_s * 600,
                pid=pid,
            )
    sim.pause()


def bargain_inspect_deal(sim: VisitSim) -> None:
    """Open a discounted product, check its price and badge, and go back to compare."""
    deals = [p for p in sim.catalog if p.discount > 0] or sim.catalog
    seen = [p for p in deals if p.id in sim.viewed]
    if seen and sim.rng.random() < 0.3:
        product = sim.rng.choice(seen)  # comparing with one seen before
    else:
        visible = [p for p in deals if p.id in sim.grid]
        pool = visible if visible and sim.page.kind == "catalog" else deals
        product = max(sim.rng.sample(pool, k=min(3, len(pool))), key=lambda p: p.discount)
    sim.open_product(product.id)
    parts = layout.product_parts(sim.device)
    price = product.price_cents * (100 - product.discount) / 10_000
    sim.hover(
        f'[data-price="{price:.2f}"]',
        "price",
        parts["price"],
        sim.traits.hover_s * 800,
        pid=product.id,
    )
    if product.discount:
        sim.hover(
            f'[data-discount="{product.discount}"]',
            "discount",
            parts["discount"],
            sim.traits.hover_s * 1000,
            pid=product.id,
        )
    read_product(sim, sim.traits.read_s, sim.traits.depth)


def bargain_add_deal(sim: VisitSim) -> None:
    """Add the deal on screen (or a fresh one) to the cart."""
    if sim.page.kind != "product" or not sim.by_id[sim.page.pid].discount:
        bargain_inspect_deal(sim)
    sim.add_to_cart()
    sim.pause()


def bargain_coupon(sim: VisitSim) -> None:
    """Try coupon codes in the cart, then maybe check out."""
    sim.go_cart()
    parts = layout.cart_parts(sim.device)
    for _ in range(1 if sim.rng.random() < 0.7 else 2):
        sim.click('[data-field="coupon"]', parts["coupon"])
        sim.page.wait(sim.jitter(2_000, 0.4))  # typing a code
        sim.click('[data-action="apply-coupon"]', parts["apply"], act="apply-coupon")
        sim.page.wait(sim.rng.randint(150, 500))
        sim.page.emit("cart", op="coupon")
        sim.pause()
    sim.couponed = True
    if sim.rng.random() < 0.4:
        sim.checkout(place_order=sim.rng.random() < 0.7)


def bargain_step(sim: VisitSim) -> Episode:
    """Choose a bargain hunter's next episode."""
    roll = sim.rng.random()
    if not sim.sort.startswith("price") and sim.sort != "discount" and roll < 0.75:
        return bargain_sort
    if not sim.on_sale and roll < 0.55:
        return bargain_on_sale if roll < 0.35 else bargain_deals_link
    if sim.cart and not sim.couponed and roll < 0.4:
        return bargain_coupon
    if roll < 0.45:
        return bargain_scan_deals
    if roll < 0.85 or not sim.viewed:
        return bargain_inspect_deal
    return bargain_add_deal


STEPS: dict[str, Callable[[VisitSim], Episode]] = {
    "explorer": explorer_step,
    "hurried": hurried_step,
    "bargain_hunter": bargain_step,
}


def _visited(sim: VisitSim, kind: str) -> bool:
    return any(page.kind == kind for page in sim.pages)
