"""Draw the catalog's product and category images as small flat SVGs.

Reads server/seed/catalog.json and writes static/img/products/<slug>.svg and
static/img/category/<slug>.svg. Deterministic: the same catalog gives the same files.
Each category has one drawing function; the object drawn is picked from keywords in the
slug, and colour and small size details vary per product from a hash of the slug.

    .venv/bin/python scripts/make_catalog_images.py
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "server" / "seed" / "catalog.json"
PRODUCT_DIR = ROOT / "static" / "img" / "products"
CATEGORY_DIR = ROOT / "static" / "img" / "category"

# Per-category palette: soft background, candidate main colours, dark ink, light accent.
PALETTES: dict[str, dict[str, object]] = {
    "kitchen": {
        "bg": "#F6EFE6",
        "main": ["#B5643C", "#6F8F72", "#3E5C76", "#C08A4E"],
        "dark": "#3B2F2A",
        "light": "#FFFDF9",
    },
    "coffee-tea": {
        "bg": "#F3ECE4",
        "main": ["#7B4B2A", "#A86B45", "#5E7A5B", "#2F3E46"],
        "dark": "#2B1E16",
        "light": "#FBF7F2",
    },
    "lighting": {
        "bg": "#FBF4E2",
        "main": ["#D9A441", "#C98F3A", "#8A9A8B", "#B59B7A"],
        "dark": "#3D3A33",
        "light": "#FFE9A8",
    },
    "textiles": {
        "bg": "#F1EEE8",
        "main": ["#C9B8A3", "#8C9F8A", "#C67B5C", "#5B6C8F"],
        "dark": "#4A443D",
        "light": "#FAF8F4",
    },
    "stationery": {
        "bg": "#EEF1F4",
        "main": ["#2F4858", "#C75B39", "#D9A93F", "#6B8F71"],
        "dark": "#22313A",
        "light": "#FFFDF7",
    },
    "audio": {
        "bg": "#ECEEF2",
        "main": ["#2E2E33", "#6B4F3A", "#C65D3B", "#4F6D7A"],
        "dark": "#1E1F24",
        "light": "#D8DCE3",
    },
    "outdoor": {
        "bg": "#E9F0E6",
        "main": ["#4E7D4F", "#D98E32", "#2F5D62", "#B5452F"],
        "dark": "#2E3B2C",
        "light": "#F6F3E8",
    },
    "bath": {
        "bg": "#EAF3F3",
        "main": ["#7FB5B0", "#D9A5A0", "#6D9DC5", "#C9B79C"],
        "dark": "#35504E",
        "light": "#FFFFFF",
    },
    "plants": {
        "bg": "#EEF4EA",
        "main": ["#3F7D4E", "#5A9A5B", "#2E6B47", "#4C8C6A"],
        "dark": "#24402E",
        "light": "#C9714A",
    },
    "bags": {
        "bg": "#F4EFEA",
        "main": ["#8B5A2B", "#5C6B4E", "#2F3B4C", "#B08D57"],
        "dark": "#2A2420",
        "light": "#F7F3EE",
    },
}
DEFAULT_PALETTE = PALETTES["kitchen"]
WOOD = "#B07D4B"
STEEL = "#C9CED3"


# ---- tiny SVG helpers -------------------------------------------------------------------


def _attrs(kw: dict[str, object]) -> str:
    names = {"sw": "stroke-width", "op": "opacity", "tf": "transform", "lc": "stroke-linecap"}
    return "".join(f' {names.get(k, k)}="{v}"' for k, v in kw.items() if v is not None)


def rect(x: float, y: float, w: float, h: float, f: str, rx: float = 0, **kw: object) -> str:
    r = f' rx="{rx:g}"' if rx else ""
    return f'<rect x="{x:g}" y="{y:g}" width="{w:g}" height="{h:g}"{r} fill="{f}"{_attrs(kw)}/>'


def circ(cx: float, cy: float, r: float, f: str, **kw: object) -> str:
    return f'<circle cx="{cx:g}" cy="{cy:g}" r="{r:g}" fill="{f}"{_attrs(kw)}/>'


def ell(cx: float, cy: float, rx: float, ry: float, f: str, **kw: object) -> str:
    return f'<ellipse cx="{cx:g}" cy="{cy:g}" rx="{rx:g}" ry="{ry:g}" fill="{f}"{_attrs(kw)}/>'


def path(d: str, f: str = "none", **kw: object) -> str:
    return f'<path d="{d}" fill="{f}"{_attrs(kw)}/>'


def line(d: str, stroke: str, sw: float = 4, **kw: object) -> str:
    """A stroked, unfilled path with round caps."""
    return path(d, "none", stroke=stroke, sw=f"{sw:g}", lc="round", **kw)


def shade(hex_colour: str, factor: float) -> str:
    """Darken (factor < 1) or lighten (factor > 1) a #RRGGBB colour."""
    rgb = [int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]
    if factor < 1:
        out = [round(c * factor) for c in rgb]
    else:
        out = [round(c + (255 - c) * (factor - 1)) for c in rgb]
    return "#" + "".join(f"{max(0, min(255, c)):02X}" for c in out)


class Look:
    """Colours and a few small numeric variations derived from a slug."""

    def __init__(self, slug: str, palette: dict[str, object]) -> None:
        h = int(hashlib.sha256(slug.encode()).hexdigest(), 16)
        mains = palette["main"]
        assert isinstance(mains, list)
        self.slug = slug
        self.main: str = mains[h % len(mains)]
        self.alt: str = mains[(h // 7 + 1) % len(mains)]
        if self.alt == self.main:
            self.alt = mains[(mains.index(self.main) + 1) % len(mains)]
        self.dark = str(palette["dark"])
        self.light = str(palette["light"])
        self.bg = str(palette["bg"])
        self.j = (h >> 16) % 21 - 10  # size jitter, -10..10
        self.k = (h >> 24) % 3  # small count variation, 0..2
        self.side = 1 if (h >> 32) % 2 else -1  # which side decorations lean to

    def has(self, *words: str) -> bool:
        return any(w in self.slug for w in words)


# ---- one drawing function per category --------------------------------------------------


def draw_kitchen(v: Look) -> list[str]:
    m, d, j = v.main, v.dark, v.j
    if v.has("board"):
        return [
            rect(80, 100 - j // 2, 240, 130 + j, WOOD, 16),
            rect(96, 116 - j // 2, 190, 98 + j, "none", 10, stroke=shade(WOOD, 0.8), sw=3),
            circ(300, 165, 9, v.bg),
        ]
    if v.has("skillet"):
        return [
            rect(240, 146, 120, 20, d, 9),
            circ(175, 156, 82 + j // 2, d),
            circ(175, 156, 68 + j // 2, shade(d, 1.25)),
            circ(350, 156, 5, v.bg),
        ]
    if v.has("oven", "pot"):
        return [
            rect(95, 150, 30, 16, shade(m, 0.7), 6),
            rect(275, 150, 30, 16, shade(m, 0.7), 6),
            rect(110, 128, 180, 110, m, 34),
            ell(200, 130, 100, 18, shade(m, 0.85)),
            rect(186, 104, 28, 16, d, 7),
            rect(110, 160, 180, 6, shade(m, 1.2), op=0.5),
        ]
    if v.has("knife"):
        return [
            path("M70 170 Q150 120 250 140 L250 168 Z", STEEL),
            line("M80 166 L248 166", shade(STEEL, 0.8), 3),
            rect(246, 138, 94, 32, WOOD, 8),
            circ(270, 154, 4, v.light),
            circ(300, 154, 4, v.light),
        ]
    if v.has("servers"):
        return [
            ell(150, 110, 26, 40, WOOD, tf="rotate(-12 150 110)"),
            rect(138, 140, 18, 110, WOOD, 8, tf="rotate(-12 147 140)"),
            ell(250, 110, 26, 40, shade(WOOD, 0.85), tf="rotate(12 250 110)"),
            rect(244, 140, 18, 110, shade(WOOD, 0.85), 8, tf="rotate(12 253 140)"),
            rect(238, 96, 8, 34, v.bg, 4, tf="rotate(12 250 110)"),
        ]
    if v.has("jars"):
        out = []
        for i, (x, h) in enumerate(((95, 110), (170, 140), (245, 90))):
            y = 240 - h - (j if i == 1 else 0)
            out += [
                rect(x, y, 62, h + (j if i == 1 else 0), "#DDE7EA", 10, stroke=STEEL, sw=2),
                rect(x + 4, y + h * 0.45, 54, h * 0.55 - 4, [m, "#E8D9B5", v.alt][i], 6),
                rect(x - 3, y - 14, 68, 16, WOOD, 4),
            ]
        return out
    if v.has("cups", "measuring"):
        out = []
        for i, (x, w) in enumerate(((80, 90), (185, 70), (268, 52))):
            h = w * 0.7
            out += [
                rect(x, 240 - h, w, h, shade("#C07A4A", 1 - i * 0.08), 10),
                ell(x + w / 2, 240 - h, w / 2, 8, shade("#C07A4A", 0.75)),
                rect(x + w - 4, 240 - h + 6, 30, 10, "#B06C3E", 5),
            ]
        return out
    # bowl (default)
    out = [
        path(f"M90 135 L310 135 Q310 {240 + j} 200 {240 + j} Q90 {240 + j} 90 135 Z", m),
        ell(200, 135, 110, 16, shade(m, 0.8)),
        ell(200, 133, 98, 11, shade(m, 1.3)),
    ]
    out += [circ(140 + i * 37, 180 + (i % 2) * 18, 3, v.light, op=0.7) for i in range(4 + v.k)]
    return out


def draw_coffee_tea(v: Look) -> list[str]:
    m, d, lt, j = v.main, v.dark, v.light, v.j
    if v.has("dripper"):
        return [
            rect(140, 170, 120, 70, m, 12),
            rect(255, 185, 26, 36, "none", 10, stroke=m, sw=8),
            path("M120 90 L280 90 L240 165 L160 165 Z", lt, stroke=shade(lt, 0.85), sw=2),
            line("M165 110 L235 110 M175 132 L225 132", shade(lt, 0.8), 3),
            rect(150, 162, 100, 10, shade(lt, 0.9), 4),
        ]
    if v.has("kettle"):
        return [
            path("M120 240 L130 140 Q200 110 270 140 L280 240 Z", m),
            line("M128 200 Q80 190 70 120 L60 100", m, 10),
            rect(170, 112, 60, 14, shade(m, 0.8), 6),
            circ(200, 108, 9, d),
            line("M150 135 Q200 60 250 135", d, 7),
        ]
    if v.has("press"):
        return [
            rect(145, 100, 110, 140, "#E4ECEE", 6, stroke=STEEL, sw=3),
            rect(149, 150 + j // 2, 102, 86 - j // 2, m, 4),
            rect(140, 86, 120, 16, d, 5),
            rect(196, 60, 8, 30, STEEL),
            circ(200, 56, 10, d),
            path("M255 115 h30 v95 h-30", stroke=d, sw=9),
        ]
    if v.has("grinder"):
        return [
            rect(150, 120, 100, 120, m, 10),
            rect(140, 104, 120, 18, shade(m, 0.7), 6),
            rect(158, 150, 84, 8, shade(m, 1.3), 3),
            rect(196, 80, 8, 26, d),
            line("M200 84 L290 70", d, 6),
            circ(292, 70, 10, WOOD),
        ]
    if v.has("teapot"):
        return [
            line("M140 150 Q200 40 260 150", d, 8),
            path("M130 175 L80 140 L90 134 L150 165 Z", shade(d, 1.3)),
            ell(200, 190, 85, 55, shade(d, 1.4)),
            ell(200, 142, 50, 10, shade(d, 1.1)),
            circ(200, 130, 8, d),
        ] + [circ(150 + 20 * i, 190, 4, shade(d, 1.6)) for i in range(6)]
    if v.has("matcha"):
        return [
            path("M110 160 L290 160 Q290 240 200 240 Q110 240 110 160 Z", m),
            ell(200, 160, 90, 14, "#8DB255"),
            ell(200, 158, 60, 7, "#B6D27A"),
            rect(280, 80, 16, 60, WOOD, 4, tf="rotate(20 288 110)"),
            path("M268 132 q14 40 32 0 Z", "#E2C58E", tf="rotate(20 288 110)"),
        ]
    if v.has("espresso"):
        out = []
        for x, c in ((135, m), (265, v.alt)):
            out += [
                ell(x, 230, 62, 10, shade(c, 1.4)),
                rect(x - 38, 170, 76, 56, c, 14),
                ell(x, 170, 38, 8, d),
                rect(x + 34, 184, 18, 22, "none", 8, stroke=c, sw=6),
            ]
        return out
    # tea tin (default)
    return [
        rect(140, 100 + j, 120, 140 - j, m, 8),
        rect(134, 90 + j, 132, 22, shade(m, 0.7), 8),
        rect(140, 145, 120, 55, lt),
        circ(200, 172, 16, "#8DB255"),
        line("M175 172 h-10 M225 172 h10", shade(m, 0.7), 3),
    ]


def draw_lighting(v: Look) -> list[str]:
    m, d, glow, j = v.main, v.dark, v.light, v.j
    halo = circ(200, 120, 95, glow, op=0.45)
    if v.has("table-lamp"):
        return [
            halo,
            ell(200, 236, 55, 10, m),
            rect(194, 150, 12, 88, m),
            path(f"M140 {150 + j // 2} L260 {150 + j // 2} L240 70 L160 70 Z", "#F1E6CF"),
            line("M150 140 H250", shade("#F1E6CF", 0.85), 3),
        ]
    if v.has("pendant"):
        return [
            line("M200 0 V60", d, 3),
            rect(188, 58, 24, 14, m, 3),
            circ(200, 150, 90, glow, op=0.5),
            circ(200, 150, 72 + j // 3, "#FBF6EC"),
            line(
                "M140 115 Q200 100 260 115 M130 150 Q200 138 270 150 M140 185 Q200 175 260 185",
                "#E9DCC4",
                3,
            ),
        ]
    if v.has("floor-lamp"):
        return [
            halo,
            line("M200 110 L150 250 M200 110 L250 250 M200 110 L200 250", WOOD, 6),
            rect(150, 40, 100, 70 + j // 2, "#EFE6D4"),
            line("M150 44 H250", m, 4),
        ]
    if v.has("candle"):
        return [
            circ(200, 80, 60, glow, op=0.6),
            path("M200 50 Q218 80 200 98 Q182 80 200 50 Z", "#F2A93B"),
            path("M200 66 Q208 82 200 94 Q192 82 200 66 Z", "#FFF3C4"),
            line("M200 98 V110", d, 3),
            rect(160, 108 + j // 2, 80, 132 - j // 2, m, 6),
            rect(160, 108 + j // 2, 80, 10, shade(m, 1.25), 4),
        ]
    if v.has("lantern"):
        return [
            line("M165 90 Q200 30 235 90", d, 6),
            rect(150, 86, 100, 18, m, 6),
            rect(158, 104, 84, 110, "#FFF4CC", 4, stroke=m, sw=6),
            circ(200, 158, 26, glow),
            rect(145, 214, 110, 24, m, 6),
        ]
    if v.has("sconce"):
        return [
            rect(90, 80, 40, 120, m, 8),
            line("M130 140 H200 V120", d, 6),
            circ(210, 110, 90, glow, op=0.4),
            circ(210, 110, 50 + j // 3, "#FBF8F2"),
            ell(210, 96, 26, 14, "#FFFFFF", op=0.7),
        ]
    # clip-on reading light (default)
    return [
        rect(110, 200, 90, 20, d, 6),
        rect(110, 222, 90, 14, shade(d, 1.4), 6),
        line("M155 200 Q140 120 230 100", m, 7),
        path("M215 80 L280 110 L255 140 Z", m),
        circ(258, 138, 30, glow, op=0.6),
    ]


def draw_textiles(v: Look) -> list[str]:
    m, d, lt, j = v.main, v.dark, v.light, v.j
    if v.has("throw"):
        out = [
            rect(90, 170, 220, 70, shade(m, 0.9), 10),
            rect(100, 120, 200, 56, m, 10),
            rect(110, 75 + j // 2, 180, 50 - j // 2, shade(m, 1.15), 10),
        ]
        out.append(line("".join(f"M{x} 124 V170 " for x in range(120, 300, 20)), shade(m, 0.8), 2))
        return out
    if v.has("cushion"):
        return [
            path(
                f"M100 70 Q200 {90 + j} 300 70 Q285 155 300 240 Q200 220 100 240 Q115 155 100 70 Z",
                m,
            ),
            line("M120 155 Q200 150 280 155", shade(m, 0.82), 2),
            path(
                "M100 70 L130 95 M300 70 L270 95 M100 240 L130 215 M300 240 L270 215",
                stroke=shade(m, 0.75),
                sw=2,
            ),
        ]
    if v.has("blanket"):
        return [
            rect(80, 90, 240, 150, m, 8),
            rect(80, 120, 240, 12, v.alt),
            rect(80, 200, 240, 12, v.alt),
            path("M80 90 L320 90 L320 150 Q200 170 80 150 Z", shade(m, 1.18)),
            line("M86 96 H314", d, 1.5),
        ]
    if v.has("duvet"):
        return [
            rect(60, 150, 280, 70, WOOD, 8),
            rect(52, 110, 16, 135, shade(WOOD, 0.8), 4),
            rect(80, 116, 70, 34, lt, 14),
            rect(160, 116, 70, 34, lt, 14),
            path("M120 150 L340 150 L340 225 L120 225 Q110 185 120 150 Z", m),
            line("M150 175 H330", shade(m, 0.85), 2),
        ]
    if v.has("rug"):
        return [
            rect(70 - j, 110, 260 + 2 * j, 130, m, 60),
            rect(90 - j, 128, 220 + 2 * j, 94, "none", 46, stroke=shade(m, 0.8), sw=4),
            rect(115 - j, 148, 170 + 2 * j, 54, "none", 26, stroke=shade(m, 0.8), sw=4),
        ]
    if v.has("towels"):
        out = [rect(70, 60, 260, 10, d, 5)]
        for x, c in ((95, m), (215, v.alt)):
            out += [
                rect(x, 64, 90, 170, lt, 4, stroke=shade(lt, 0.85), sw=2),
                rect(x, 90, 90, 10, c),
                rect(x, 106, 90, 4, c),
                rect(x, 200, 90, 10, c),
            ]
        return out
    # table runner (default)
    out = [
        path("M60 150 L300 120 L340 180 L100 210 Z", m),
        line("M80 178 L320 148", shade(m, 0.8), 3),
    ]
    out.append(
        line(" ".join(f"M{300 + i * 8} {120 + i * 12} l12 -8" for i in range(6)), shade(m, 0.7), 3)
    )
    return out


def draw_stationery(v: Look) -> list[str]:
    m, d, paper, j = v.main, v.dark, v.light, v.j
    if v.has("notebook"):
        return [
            rect(130, 60 + j // 2, 150, 190 - j // 2, paper, 8),
            rect(120, 60 + j // 2, 150, 190 - j // 2, m, 10),
            rect(245, 60 + j // 2, 8, 190 - j // 2, d),
            path("M200 250 v30 l8 -8 l8 8 v-30 Z", "#C75B39"),
        ]
    if v.has("ballpoint", "fountain"):
        nib = STEEL if v.has("fountain") else d
        body = "#C9A24A" if v.has("brass") else m
        out = [
            rect(90, 138, 200, 26, body, 13, tf="rotate(-15 200 150)"),
            path("M290 140 L340 151 L290 162 Z", nib, tf="rotate(-15 200 150)"),
            rect(110, 128, 90, 7, shade(body, 0.7), 3, tf="rotate(-15 200 150)"),
        ]
        if v.has("fountain"):
            out.append(line("M306 151 L336 151", d, 2, tf="rotate(-15 200 150)"))
        return out
    if v.has("pad"):
        return [
            rect(50, 110, 300, 130, m, 10),
            rect(62, 122, 276, 106, "none", 6, stroke=shade(m, 1.25), sw=2),
            rect(200, 160, 120, 12, d, 6, tf="rotate(-20 260 166)"),
        ]
    if v.has("planner"):
        out = [rect(110, 60, 180, 190, "#FFFFFF", 6), rect(110, 60, 180, 30, m, 6)]
        out.append(line("".join(f"M{x} 100 V240 " for x in range(146, 290, 36)), "#D5DCE2", 2))
        out.append(rect(120, 110 + j, 22, 8, v.alt, 2))
        return out
    if v.has("tape", "washi"):
        out = []
        for i, (x, c) in enumerate(((130, m), (210, v.alt), (285, "#E0B44C"))):
            out += [
                circ(x, 180 - i * 10, 38, c),
                circ(x, 180 - i * 10, 18, v.bg),
                circ(x, 180 - i * 10, 30, "none", stroke=shade(c, 1.35), sw=2),
            ]
        return out
    # greeting cards (default)
    return [
        rect(90, 120, 200, 120, "#D9C3A0", 4),
        path("M90 120 L190 190 L290 120", "#C8B08B"),
        rect(170, 60, 140, 170, paper, 3, tf="rotate(8 240 145)"),
        circ(240, 130, 26, m, tf="rotate(8 240 145)"),
        line("M215 180 H265", shade(m, 0.8), 3),
    ]


def draw_audio(v: Look) -> list[str]:
    m, d, lt, j = v.main, v.dark, v.light, v.j
    if v.has("bookshelf"):
        return [
            rect(130, 50, 140, 195, "#6B4F3A", 10),
            rect(142, 62, 116, 171, shade(d, 1.5), 6),
            circ(200, 100, 16, d),
            circ(200, 175, 42 + j // 4, d),
            circ(200, 175, 14, shade(d, 1.8)),
        ]
    if v.has("headphones"):
        return [
            line("M120 180 Q120 55 200 55 Q280 55 280 180", m, 14),
            rect(95, 150, 50, 80, m, 20),
            rect(255, 150, 50, 80, m, 20),
            rect(132, 160, 18, 60, shade(m, 1.4), 8),
            rect(250, 160, 18, 60, shade(m, 1.4), 8),
        ]
    if v.has("portable"):
        out = [line("M130 130 Q200 60 270 130", d, 6), rect(100, 120, 200, 115, m, 50)]
        out += [
            circ(150 + 20 * i, 170 + 20 * r, 4, shade(m, 0.7)) for r in range(2) for i in range(6)
        ]
        return out
    if v.has("turntable"):
        return [
            rect(70, 90, 260, 150, "#D9CDBA", 10),
            circ(180, 165, 60 + j // 4, d),
            circ(180, 165, 18, v.alt),
            circ(180, 165, 3, lt),
            line("M300 110 L290 200 L245 215", STEEL, 5),
            circ(300, 110, 10, shade(STEEL, 0.7)),
        ]
    if v.has("amplifier"):
        return [
            rect(90, 150, 220, 90, "#C49A6C", 14),
            rect(180, 70, 40, 100, d, 8),
            rect(185, 78, 30, 80, "#4F6D7A", 4),
            circ(130, 195, 18, shade("#C49A6C", 0.6)),
            circ(270, 195, 18, shade("#C49A6C", 0.6)),
        ]
    if v.has("earbuds"):
        return [
            rect(90, 150, 120, 90, "#FFFFFF", 40, stroke=shade(lt, 0.8), sw=3),
            line("M95 195 H205", shade(lt, 0.7), 2),
            circ(255, 130, 24, m),
            rect(247, 140, 16, 60, m, 8),
            circ(310, 170, 24, m),
            rect(302, 180, 16, 60, m, 8),
        ]
    # radio (default)
    return [
        line("M150 90 L260 40", d, 4),
        rect(80, 90, 240, 145, m, 16),
        circ(150, 162, 46, shade(m, 0.7)),
        circ(150, 162, 34, "none", stroke=lt, sw=3),
        rect(215, 115, 85, 30, "#F1E6CF", 4),
        line(f"M{235 + j} 118 V142", "#C65D3B", 2),
        circ(235, 190, 13, lt),
        circ(280, 190, 13, lt),
    ]


def draw_outdoor(v: Look) -> list[str]:
    m, d, lt, j = v.main, v.dark, v.light, v.j
    if v.has("chair"):
        return [
            line("M130 240 L270 140 M270 240 L130 140", "#7A7F84", 7),
            rect(120, 128, 160, 24, m, 6),
            rect(128, 60, 144, 70, shade(m, 1.1), 6),
            line("M128 60 V150 M272 60 V150", "#7A7F84", 7),
        ]
    if v.has("mug"):
        return [
            rect(250, 130, 50, 70, "none", 24, stroke=m, sw=14),
            rect(130, 100, 130, 140, m, 10),
            rect(130, 96, 130, 12, d, 6),
            circ(170 + j, 170, 6, lt),
            circ(205, 150 - j, 4, lt),
        ]
    if v.has("bottle"):
        return [
            rect(160, 80, 80, 165, m, 24),
            rect(170, 55, 60, 30, d, 8),
            rect(188, 34, 24, 26, "none", 10, stroke=d, sw=6),
            rect(160, 130, 80, 40, shade(m, 1.3)),
        ]
    if v.has("blanket"):
        out = [
            rect(90, 140, 220, 90, "#E8D9C0", 45),
            circ(290, 185, 45, "#F1E6CF"),
            circ(290, 185, 28, "none", stroke=m, sw=6),
        ]
        out += [rect(120 + 40 * i, 140, 18, 90, m, op=0.8) for i in range(4)]
        out.append(rect(170, 134, 16, 102, d, 4))
        return out
    if v.has("trowel"):
        return [
            path("M90 200 Q110 120 200 110 L230 140 Q220 230 140 240 Z", STEEL),
            line("M170 150 L140 180 M180 160 L150 190", shade(STEEL, 0.8), 2),
            rect(225, 118, 110, 26, WOOD, 12, tf="rotate(-40 225 130)"),
        ]
    if v.has("hammock"):
        out = [
            rect(60, 110, 20, 135, "#7A5A3A"),
            rect(320, 110, 20, 135, "#7A5A3A"),
            circ(70, 90, 45, m),
            circ(330, 90, 45, shade(m, 0.85)),
            line("M80 140 L120 165 M320 140 L280 165", d, 2),
            path(f"M120 160 Q200 {230 + j} 280 160 Q200 {205 + j} 120 160 Z", "#D98E32"),
        ]
        return out
    # bird feeder (default)
    return [
        line("M200 20 V60", d, 2),
        path("M120 110 L200 55 L280 110 Z", shade(WOOD, 0.8)),
        rect(150, 110, 100, 100, WOOD),
        rect(165, 120, 70, 70, "#E4ECEE", 4),
        rect(165, 160 - j // 2, 70, 30 + j // 2, "#D2B48C"),
        rect(140, 210, 120, 12, d, 4),
        line("M200 222 v12 M180 236 H220", d, 3),
    ]


def draw_bath(v: Look) -> list[str]:
    m, d, lt, j = v.main, v.dark, v.light, v.j
    if v.has("towel"):
        return [
            rect(90, 190, 220, 50, shade(m, 0.9), 12),
            rect(100, 140, 200, 52, m, 12),
            rect(110, 92 + j // 2, 180, 50 - j // 2, v.alt, 12),
            rect(110, 126, 180, 6, lt, op=0.7),
            rect(100, 175, 200, 6, lt, op=0.7),
        ]
    if v.has("soap"):
        if v.has("dispenser"):
            return [
                rect(150, 110, 100, 130, m, 20),
                rect(185, 80, 30, 32, STEEL, 4),
                rect(185, 70, 75, 14, STEEL, 5),
                rect(250, 70, 10, 24, STEEL, 3),
                rect(165, 150, 70, 50, lt, 6, op=0.6),
            ]
        return [
            ell(200, 225, 120, 20, "#FFFFFF"),
            ell(200, 222, 104, 13, shade(m, 1.4)),
            rect(125, 150 + j // 3, 150, 70, "#E9E2C6", 22),
            rect(150, 170 + j // 3, 100, 12, shade("#E9E2C6", 0.85), 6),
        ]
    if v.has("mat"):
        out = [rect(70, 130, 260, 110, shade(WOOD, 1.3), 8)]
        out += [
            rect(80 + i * 40, 138, 30, 94, shade(WOOD, 1.05 if i % 2 else 1.15), 4)
            for i in range(6)
        ]
        return out
    if v.has("robe"):
        return [
            line("M140 70 L200 45 L260 70 Z M200 45 V30", d, 4),
            path("M140 70 L260 70 L290 245 L110 245 Z", m),
            path("M170 70 L200 140 L230 70", shade(m, 0.8), sw=4, stroke=shade(m, 0.8)),
            rect(115, 160, 170, 12, shade(m, 0.8)),
            rect(160, 172, 12, 40, shade(m, 0.8)),
        ]
    if v.has("salts"):
        out = [
            rect(140, 90, 120, 150, "#E1EEF0", 18, stroke=STEEL, sw=2),
            rect(160, 65, 80, 30, "#C8A27A", 6),
            rect(146, 140 + j // 2, 108, 94, m, 14),
        ]
        out += [circ(160 + 18 * i, 170 + (i % 3) * 15, 4, lt) for i in range(5 + v.k)]
        return out
    # body brush (default)
    out = [ell(170, 170, 75, 48, WOOD), rect(230, 150, 120, 26, WOOD, 13)]
    out.append(line("".join(f"M{x} 215 v16 " for x in range(112, 232, 12)), "#D8C39A", 4))
    return out


def draw_plants(v: Look) -> list[str]:
    leaf, dark, terra, j = v.main, v.dark, v.light, v.j
    pot = terra if v.has("terracotta") or v.k == 0 else ("#E7E1D7", "#3A4A5A", terra)[v.k]
    if v.has("ceramic"):
        pot = ("#E7E1D7", "#3A4A5A")[v.k % 2]

    def pot_at(cx: float, top: float, w: float, h: float, colour: str) -> list[str]:
        return [
            path(
                f"M{cx - w / 2:g} {top:g} L{cx + w / 2:g} {top:g} L{cx + w * 0.38:g} "
                f"{top + h:g} L{cx - w * 0.38:g} {top + h:g} Z",
                colour,
            ),
            rect(cx - w / 2 - 6, top - 4, w + 12, 16, shade(colour, 0.85), 4),
        ]

    if v.has("herb"):
        out = [rect(80, 180, 240, 60, pot, 8), rect(80, 226, 240, 14, shade(pot, 0.8), 6)]
        for x in (125, 200, 275):
            out += [
                line(f"M{x} 180 V{120 + j}", shade(leaf, 0.8), 3),
                ell(x - 12, 150, 12, 7, leaf),
                ell(x + 12, 135, 12, 7, leaf),
                ell(x, 118 + j, 9, 12, leaf),
            ]
        return out
    if v.has("watering"):
        return [
            path("M130 130 L260 130 L250 235 L140 235 Z", "#C9A24A"),
            line("M250 200 L330 110", "#B08D3A", 10),
            rect(318, 98, 26, 14, "#B08D3A", 4),
            line("M150 130 Q150 80 200 80 Q250 80 240 130", "#B08D3A", 8),
        ]
    if v.has("macrame"):
        return [
            circ(200, 30, 12, "none", stroke=WOOD, sw=5),
            line(
                "M200 42 L130 160 M200 42 L175 160 M200 42 L225 160 M200 42 L270 160", "#E6DCCB", 3
            ),
            *pot_at(200, 160, 120, 70, pot),
            line("M140 170 Q110 210 120 260 M260 170 Q300 200 285 250", leaf, 4),
            ell(118, 240, 10, 6, leaf),
            ell(290, 232, 10, 6, leaf),
        ]
    if v.has("terracotta"):
        return [
            ell(200, 238, 80, 10, shade(terra, 0.8)),
            *pot_at(200, 120, 150, 115, terra),
            line("M200 120 V95", leaf, 4),
            ell(188, 92, 14, 7, leaf),
            ell(212, 86, 14, 7, leaf),
        ]
    body = pot_at(200, 170, 130, 70, pot)
    if v.has("snake"):
        blades = [
            path(
                f"M{x} 172 Q{x - 14} {120} {x + d} {h} Q{x + 12} 120 {x + 16} 172 Z",
                (leaf, shade(leaf, 1.2))[i % 2],
            )
            for i, (x, d, h) in enumerate(
                ((150, -10, 70), (176, 4, 40 + j), (204, 10, 60), (226, 18, 90))
            )
        ]
        return [*blades, line("M170 120 l8 4 M212 110 l8 4", shade(leaf, 1.5), 2), *body]
    if v.has("fiddle"):
        out = [line("M200 172 V40", "#6B4F3A", 6)]
        for i, (x, y, a) in enumerate(
            ((170, 60, -30), (232, 80, 30), (165, 110, -40), (236, 130, 35), (200, 40, 0))
        ):
            out.append(
                ell(x, y, 22, 34, (leaf, shade(leaf, 1.2))[i % 2], tf=f"rotate({a} {x} {y})")
            )
        return out + body
    # monstera (default)
    out = [line("M200 172 Q170 120 130 100 M200 172 Q230 110 275 95 M200 172 V60", dark, 4)]
    for x, y, r in ((130, 100, 44), (275, 95, 40 + j // 3), (200, 70, 46)):
        out += [
            circ(x, y, r, leaf),
            line(f"M{x - r} {y - 6} h{r * 0.6:g} M{x + r} {y + 8} h-{r * 0.6:g}", v.bg, 6),
        ]
    return out + body


def draw_bags(v: Look) -> list[str]:
    m, d, j = v.main, v.dark, v.j
    if v.has("tote", "market"):
        if v.has("market"):
            out = [
                line("M160 120 Q160 60 200 60 Q240 60 240 120", "#E8DCC4", 6),
                circ(170, 200, 30, "#E0902F"),
                circ(230, 195, 28, "#7FA65B"),
                circ(200, 165, 26, "#C7483A"),
            ]
            out.append(path("M120 120 L280 120 L260 240 L140 240 Z", stroke="#E8DCC4", sw=4))
            out.append(
                line(
                    "M140 150 L250 240 M180 120 L260 190 M260 150 L150 240 M220 120 L140 190",
                    "#E8DCC4",
                    2,
                )
            )
            return out
        return [
            line("M150 120 Q150 50 200 50 Q250 50 250 120", "#6B4226", 8),
            path(f"M110 110 L290 110 L{300 + j} 245 L{100 - j} 245 Z", m),
            rect(160, 150, 80, 50, shade(m, 0.88), 4),
        ]
    if v.has("weekender"):
        return [
            line("M160 110 Q160 60 200 60 Q240 60 240 110", d, 10),
            rect(70, 105, 260, 135, m, 50),
            rect(70, 160, 260, 6, shade(m, 0.75)),
            rect(90, 120, 220, 6, "#C9A24A", 3),
            rect(150, 100, 14, 25, d, 4),
            rect(236, 100, 14, 25, d, 4),
        ]
    if v.has("backpack"):
        return [
            rect(130, 70, 140, 175, m, 26),
            rect(126, 60, 148, 34, shade(m, 0.8), 14),
            rect(193, 60, 14, 110, d, 4),
            rect(188, 150, 24, 18, "#C9CED3", 4),
            rect(150, 180, 100, 55, shade(m, 1.15), 12),
        ]
    if v.has("sling"):
        return [
            line("M110 150 Q200 20 300 150", d, 8),
            path("M100 150 Q200 120 300 150 Q310 230 200 235 Q90 230 100 150 Z", m),
            line(f"M125 175 Q200 {150 + j} 275 175", shade(m, 1.3), 3),
            rect(110, 140, 20, 30, d, 4),
        ]
    if v.has("wallet"):
        return [
            rect(150, 80, 90, 60, "#4F6D7A", 6, tf="rotate(-8 195 110)"),
            rect(170, 80, 90, 60, "#E0B44C", 6, tf="rotate(6 215 110)"),
            rect(110, 110, 180, 120, m, 12),
            line("M120 120 H280", shade(m, 1.3), 2),
        ]
    # laptop sleeve (default)
    return [
        rect(70, 90, 260, 160, shade(m, 1.1), 14),
        rect(70, 90, 260, 40, shade(m, 0.9), 14),
        rect(190, 100, 20, 80, "#6B4226", 6),
        circ(200, 170, 6, "#C9A24A"),
    ]


DRAWERS: dict[str, Callable[[Look], list[str]]] = {
    "kitchen": draw_kitchen,
    "coffee-tea": draw_coffee_tea,
    "lighting": draw_lighting,
    "textiles": draw_textiles,
    "stationery": draw_stationery,
    "audio": draw_audio,
    "outdoor": draw_outdoor,
    "bath": draw_bath,
    "plants": draw_plants,
    "bags": draw_bags,
}


def frame(title: str, look: Look, body: list[str]) -> str:
    """Background, a soft disc, a ground shadow, then the object."""
    cx = 200 + 60 * look.side
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 300" role="img">',
        f"<title>{escape(title)}</title>",
        rect(0, 0, 400, 300, look.bg),
        circ(cx, 130 + look.j, 110, shade(look.bg, 0.96)),
        ell(200, 246, 140, 12, look.dark, op=".08"),
        *body,
        "</svg>",
    ]
    return "".join(parts) + "\n"


def product_svg(product: dict[str, object]) -> str:
    category = str(product["category"])
    look = Look(str(product["slug"]), PALETTES.get(category, DEFAULT_PALETTE))
    draw = DRAWERS.get(category, draw_kitchen)
    return frame(str(product["name"]), look, draw(look))


def category_svg(category: dict[str, str], products: list[dict[str, object]]) -> str:
    """Two of the category's products side by side, scaled down, on the category palette."""
    palette = PALETTES.get(category["slug"], DEFAULT_PALETTE)
    draw = DRAWERS.get(category["slug"], draw_kitchen)
    look = Look(category["slug"], palette)
    members = [p for p in products if p["category"] == category["slug"]][:2]
    body: list[str] = []
    for i, p in enumerate(members):
        tx = -20 if i == 0 else 180
        inner = "".join(draw(Look(str(p["slug"]), palette)))
        body.append(f'<g transform="translate({tx} 45) scale(.6)">{inner}</g>')
    return frame(category["name"], look, body)


def main() -> None:
    catalog = json.loads(CATALOG.read_text(encoding="utf-8"))
    PRODUCT_DIR.mkdir(parents=True, exist_ok=True)
    CATEGORY_DIR.mkdir(parents=True, exist_ok=True)
    for product in catalog["products"]:
        (PRODUCT_DIR / f"{product['slug']}.svg").write_text(product_svg(product), encoding="utf-8")
    for category in catalog["categories"]:
        svg = category_svg(category, catalog["products"])
        (CATEGORY_DIR / f"{category['slug']}.svg").write_text(svg, encoding="utf-8")
    print(
        f"wrote {len(catalog['products'])} product and {len(catalog['categories'])} category images"
    )


if __name__ == "__main__":
    main()
