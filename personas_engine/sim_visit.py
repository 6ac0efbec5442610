"""A simulated visit: page navigation, the catalog's state and the actions every persona shares."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from personas_engine import sim_layout as layout
from personas_engine.catalog import Product
from personas_engine.sim_page import Box, Device, PageRecorder

_DOC_HEIGHT = {"home": 2_600, "cart": 1_000, "checkout": 1_300, "tutorials": 3_400, "order": 900}


@dataclass(frozen=True)
class Traits:
    """One visitor's style; each persona draws these from its own ranges."""

    read_s: float  # reading time on a product page
    depth: float  # how far down a product page they usually scroll (0..1)
    scroll_speed: float  # px/s
    pointer_speed: float  # px/s
    curvature: float  # how far pointer paths bow away from a straight line
    hesitate_s: float  # pause between pointing at something and clicking it
    hover_s: float  # how long a deliberate hover lasts
    think_s: float  # pause between two actions
    episodes: float  # how many things they do before leaving


class VisitSim:
    """Drive one visit through the storefront, page view by page view."""

    def __init__(
        self,
        rng: random.Random,
        catalog: list[Product],
        device: Device,
        traits: Traits,
        *,
        by_url: bool,
        start_abs: int,
    ) -> None:
        self.rng = rng
        self.catalog = catalog
        self.by_id = {p.id: p for p in catalog}
        self.categories = sorted({p.category for p in catalog})
        self.device = device
        self.traits = traits
        self.by_url = by_url  # a script that types URLs instead of clicking links
        self.start_abs = start_abs
        self.pages: list[PageRecorder] = []
        self.grid: list[str] = []
        self.cart: list[str] = []
        self.viewed: list[str] = []
        self.sort = ""
        self.on_sale = False
        self.category = ""
        self.ordered = False
        self.couponed = False
        self.featured = rng.sample([p.id for p in catalog], k=min(8, len(catalog)))

    @property
    def page(self) -> PageRecorder:
        """Return the current page view."""
        return self.pages[-1]

    # -- timing -----------------------------------------------------------------------------

    def jitter(self, value: float, sigma: float = 0.3) -> float:
        """Return a value with multiplicative noise."""
        return value * self.rng.lognormvariate(0.0, sigma)

    def pause(self, scale: float = 1.0) -> None:
        """Think for a moment between two actions."""
        self.page.read(self.jitter(self.traits.think_s * 1000 * scale))

    def pointer(self) -> dict[str, float]:
        """Return the pointer style arguments for movements."""
        return {
            "speed": self.jitter(self.traits.pointer_speed, 0.15),
            "curvature": self.traits.curvature,
        }

    def click(
        self,
        anchor: str,
        box: Box,
        *,
        act: str | None = None,
        pid: str | None = None,
        hesitate: float = 1.0,
    ) -> None:
        """Click an element with this visitor's pointer style and hesitation."""
        hesitate_ms = self.jitter(self.traits.hesitate_s * 1000 * hesitate, 0.4)
        self.page.click(anchor, box, act=act, pid=pid, hesitate_ms=hesitate_ms, **self.pointer())

    def hover(self, anchor: str, tag: str, box: Box, ms: float, pid: str | None = None) -> None:
        """Hover an element for about `ms` milliseconds."""
        self.page.hover(anchor, tag, box, self.jitter(ms, 0.25), pid=pid, **self.pointer())

    def scroll_to(self, target: float) -> None:
        """Scroll the way this visitor scrolls: smooth by hand, in steps or a jump by script."""
        page, speed = self.page, self.jitter(self.traits.scroll_speed, 0.2)
        if self.device.pointer == "touch":
            self.swipe_to(target, speed)
        elif self.device.pointer == "sparse":
            if self.rng.random() < 0.4:
                page.scroll_to(target, speed=speed, jump=True)
            else:
                page.scroll_in_steps(
                    target,
                    step_px=self.rng.choice((300, 400, 500, 700)),
                    pause_ms=self.rng.uniform(150, 600),
                )
        else:
            page.scroll_to(target, speed=speed)

    def swipe_to(self, target: float, speed: float) -> None:
        """Scroll with a finger: flings faster than the visitor's pace, a pause between them."""
        page = self.page
        for _ in range(40):  # bounded: a fling always moves at least 1 px towards the target
            remaining = target - page.scroll_y
            if abs(remaining) < 1:
                return
            fling = math.copysign(min(abs(remaining), self.rng.uniform(250, 900)), remaining)
            page.scroll_to(page.scroll_y + fling, speed=speed * self.rng.uniform(1.5, 3.0))
            page.wait(self.rng.uniform(150, 700))  # the finger comes back for the next swipe
        page.scroll_to(target, speed=speed)

    # -- navigation -------------------------------------------------------------------------

    def navigate(
        self,
        path: str,
        kind: str,
        *,
        pid: str | None = None,
        ref: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> PageRecorder:
        """Load a new page view."""
        previous = self.pages[-1] if self.pages else None
        if previous is None:
            t0, pointer, ref = self.start_abs, (self.device.vw / 2, self.device.vh / 2), ""
        else:
            t0 = previous.now + self.rng.randint(120, 900)
            pointer = (previous.x, previous.y - previous.scroll_y)
            ref = previous.path.split("?")[0] if ref is None else ref
        fields = dict(extra or {})
        if pid is not None:
            fields.update(pid=pid, cat=self.by_id[pid].category)
            if self.by_id[pid].discount > 0:  # the tracker reads the page's discount badge
                fields["disc"] = self.by_id[pid].discount
        elif kind == "catalog":
            # The tracker reads the listing's state from the URL it was opened at.
            if self.category:
                fields["cat"] = self.category
            if self.sort:
                fields["sort"] = self.sort
            if self.on_sale:
                fields["sale"] = 1
        if kind in ("catalog", "home"):
            self.grid = self.catalog_grid() if kind == "catalog" else list(self.featured)
            top = 320 if kind == "catalog" else 900
            dh = layout.grid_height(self.device, len(self.grid), top)
        elif kind == "product":
            dh = int(self.rng.uniform(1_800, 3_400) * (1.6 if self.device.narrow else 1.0))
        else:
            dh = _DOC_HEIGHT.get(kind, 1_500)
        page = PageRecorder(
            self.rng,
            pvid=self.new_id("pv"),
            t0=t0,
            path=path,
            kind=kind,
            device=self.device,
            dh=dh,
            ref=ref,
            pointer=pointer,
            extra=fields,
        )
        self.pages.append(page)
        return page

    def new_id(self, prefix: str) -> str:
        """Return a fresh id in the tracker's id alphabet."""
        return f"{prefix}{self.rng.getrandbits(64):016x}"

    def catalog_path(self) -> str:
        """Return the catalog's path as the tracker reports it (no query string, per schema)."""
        return "/catalog"

    def catalog_grid(self) -> list[str]:
        """Return the product ids the catalog shows for its current state."""
        items = [
            p
            for p in self.catalog
            if (not self.category or p.category == self.category)
            and (not self.on_sale or p.discount > 0)
        ]
        if self.sort == "price_asc":
            items.sort(key=lambda p: p.price_cents * (100 - p.discount))
        elif self.sort == "price_desc":
            items.sort(key=lambda p: -p.price_cents * (100 - p.discount))
        elif self.sort == "discount":
            items.sort(key=lambda p: -p.discount)
        elif self.sort == "newest":
            items.reverse()
        return [p.id for p in items[: layout.GRID_SIZE]]

    def grid_box(self, pid: str) -> Box:
        """Return the card of a product on the current catalog or home page."""
        top = 320 if self.page.kind == "catalog" else 900
        return layout.card(self.device, self.grid.index(pid), top)

    def follow_header(self, which: str, path: str, kind: str) -> None:
        """Use a header link (or type its URL when scripted)."""
        if not self.by_url:
            self.click(f"#nav-{which}", layout.header(self.device, which), hesitate=0.5)
        self.navigate(path, kind)

    def goto_catalog(self) -> None:
        """Go to the catalog unless already there."""
        if self.page.kind != "catalog":
            self.follow_header(layout.HEADER_CATALOG, self.catalog_path(), "catalog")

    def open_product(self, pid: str) -> None:
        """Open a product page: its card, a related card, or its URL."""
        page = self.page
        anchor = f'[data-product-id="{pid}"]'
        if not self.by_url and page.kind in ("catalog", "home") and pid in self.grid:
            self.click(anchor, self.grid_box(pid), pid=pid)
        elif not self.by_url and page.kind == "product":
            self.click(
                anchor, layout.related_card(self.device, self.rng.randrange(4), page.dh), pid=pid
            )
        self.navigate(f"/product/{pid}", "product", pid=pid)
        self.viewed.append(pid)

    def add_to_cart(self) -> None:
        """Press add to cart on the current product page."""
        pid = self.page.pid
        self.click(
            '[data-action="add-to-cart"]',
            layout.product_parts(self.device)["add"],
            act="add-to-cart",
            pid=pid,
        )
        self.page.wait(self.rng.randint(120, 450))  # the server answers, then the tracker logs it
        self.page.emit("cart", op="add", pid=pid, q=1)
        self.cart.append(pid)

    def go_cart(self) -> None:
        """Open the cart page."""
        if self.page.kind != "cart":
            self.follow_header(layout.HEADER_CART, "/cart", "cart")

    def search(self) -> None:
        """Type a query in the search box and land on the results."""
        length = self.rng.randint(3, 18)
        self.click(
            '[data-action="search"]',
            layout.header(self.device, layout.HEADER_SEARCH),
            act="search",
            hesitate=0.5,
        )
        self.page.wait(length * self.rng.uniform(90, 220))
        self.page.emit("search", n=length)
        self.category, self.sort, self.on_sale = "", "", False
        self.navigate("/catalog", "catalog")

    def checkout(self, *, place_order: bool, typing: float = 1.0) -> None:
        """Go from the cart to checkout, fill the form and maybe place the order."""
        self.go_cart()
        self.pause(0.5)
        if self.by_url:
            self.navigate("/checkout", "checkout")
        else:
            self.click(
                '[data-action="checkout"]',
                layout.cart_parts(self.device)["checkout"],
                act="checkout",
                hesitate=0.5,
            )
            self.page.emit("cart", op="checkout")
            self.navigate("/checkout", "checkout")
        for index, name in enumerate(layout.CHECKOUT_FIELDS):
            self.click(f'[name="{name}"]', layout.checkout_field(self.device, index), hesitate=0.3)
            self.page.wait(self.jitter(1_600 * typing, 0.5))  # typing; values never leave
        if place_order:
            box = layout.checkout_field(self.device, len(layout.CHECKOUT_FIELDS))
            self.click('[data-action="place-order"]', box, act="place-order")
            self.page.wait(self.rng.randint(200, 900))
            self.page.emit("cart", op="order")
            self.navigate(f"/order/o{self.rng.randrange(10**6):06d}", "order")
            self.ordered = True

    def noise(self) -> None:
        """Do something off-script: switch tabs, stray hover or scroll, idle, stray click."""
        page, roll = self.page, self.rng.random()
        if roll < 0.2:
            page.visibility(self.rng.uniform(2_000, 20_000))
        elif roll < 0.4 and self.page.kind in ("catalog", "home") and self.grid:
            pid = self.rng.choice(self.grid)
            self.hover(
                f'[data-product-id="{pid}"]',
                "product",
                self.grid_box(pid),
                self.rng.uniform(150, 900),
                pid=pid,
            )
        elif roll < 0.6:
            self.scroll_to(self.rng.uniform(0, page.dh))
        elif roll < 0.8:
            page.read(self.rng.uniform(2_000, 9_000))
        else:
            box = Box(self.rng.uniform(0, self.device.vw - 50), page.scroll_y + 100, 50, 50)
            self.click("main>section:nth-of-type(2)", box, hesitate=0.5)
