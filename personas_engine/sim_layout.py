"""Where the storefront's elements sit, roughly, so simulated pointers aim at plausible places."""

from __future__ import annotations

from personas_engine.sim_page import Box, Device

HEADER_SEARCH = "search"
HEADER_CART = "cart"
HEADER_CATALOG = "catalog"
HEADER_TUTORIALS = "tutorials"
HEADER_DEALS = "deals"
GRID_SIZE = 24


def header(device: Device, which: str) -> Box:
    """Return the box of a header control."""
    vw = device.vw
    if which == HEADER_SEARCH:
        return Box(vw * 0.3, 18, vw * 0.4, 40)
    if which == HEADER_CART:
        return Box(vw - 76, 18, 56, 40)
    if which == HEADER_TUTORIALS:
        return Box(min(300, vw - 200), 70, 90, 32)
    if which == HEADER_DEALS:
        return Box(min(400, vw - 100), 70, 70, 32)
    return Box(min(180, vw - 300), 70, 90, 32)


def grid_columns(device: Device) -> int:
    """Return how many product cards fit in a row."""
    vw = device.vw
    return 4 if vw >= 1200 else 3 if vw >= 900 else 2 if vw >= 560 else 1


def card(device: Device, index: int, top: float = 320) -> Box:
    """Return the box of the index-th product card of a grid starting at `top`."""
    cols = grid_columns(device)
    width = (device.vw - 64) / cols
    height = 460 if device.narrow else 400
    row, col = divmod(index, cols)
    return Box(32 + col * width + 8, top + row * height + 8, width - 16, height - 16)


def grid_height(device: Device, count: int, top: float = 320) -> int:
    """Return the document height of a page with a grid of `count` cards."""
    rows = -(-max(count, 1) // grid_columns(device))
    return int(top + rows * (460 if device.narrow else 400) + 420)


def card_price(box: Box) -> Box:
    """Return the price inside a product card."""
    return Box(box.x + 16, box.y + box.h - 64, 110, 30)


def card_discount(box: Box) -> Box:
    """Return the discount badge inside a product card."""
    return Box(box.x + box.w - 80, box.y + 14, 64, 28)


def sort_select(device: Device) -> Box:
    """Return the catalog's sort select."""
    return Box(device.vw - 240, 230, 200, 36) if not device.narrow else Box(16, 230, 160, 36)


def on_sale_filter(device: Device) -> Box:
    """Return the catalog's on-sale filter."""
    if device.narrow:
        return Box(190, 230, 140, 36)
    return Box(device.vw - 420, 230, 150, 36)


def category_link(device: Device, index: int) -> Box:
    """Return the index-th category link above the catalog grid."""
    width = 120 if not device.narrow else 96
    return Box(16 + (index * (width + 10)) % max(device.vw - width - 16, 1), 170, width, 32)


def product_parts(device: Device) -> dict[str, Box]:
    """Return the boxes of a product page: price, discount, add to cart, image, guide link."""
    if device.narrow:
        return {
            "image": Box(16, 120, device.vw - 32, device.vw - 32),
            "price": Box(16, device.vw + 120, 120, 36),
            "discount": Box(150, device.vw + 122, 70, 30),
            "add": Box(16, device.vw + 200, device.vw - 32, 52),
            "guide": Box(16, device.vw + 300, 200, 30),
        }
    left = device.vw * 0.55
    return {
        "image": Box(device.vw * 0.06, 140, device.vw * 0.42, 520),
        "price": Box(left, 240, 130, 36),
        "discount": Box(left + 150, 242, 70, 30),
        "add": Box(left, 400, 240, 52),
        "guide": Box(left, 480, 220, 30),
    }


def related_card(device: Device, index: int, dh: int) -> Box:
    """Return a card in the related-products row at the bottom of a product page."""
    return card(device, index % grid_columns(device), top=dh - 620)


def cart_parts(device: Device) -> dict[str, Box]:
    """Return the boxes of the cart page: coupon field and button, checkout button."""
    left = 16 if device.narrow else device.vw * 0.55
    width = device.vw - 32 if device.narrow else 220
    return {
        "coupon": Box(left, 520, width, 40),
        "apply": Box(left if device.narrow else left + 230, 570 if device.narrow else 520, 100, 40),
        "checkout": Box(left, 640, width if device.narrow else 260, 52),
    }


CHECKOUT_FIELDS = ("name", "email", "address", "city", "zip", "country")


def checkout_field(device: Device, index: int) -> Box:
    """Return the box of the index-th checkout form field (the last index is place order)."""
    width = device.vw - 32 if device.narrow else device.vw * 0.4
    return Box(16 if device.narrow else device.vw * 0.3, 220 + index * 80, width, 44)


def tutorial_card(device: Device, index: int) -> Box:
    """Return the box of the index-th buying guide on /tutorials."""
    return Box(device.vw * 0.08, 260 + index * 420, device.vw * 0.84, 380)
