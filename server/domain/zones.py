"""Zones: the parts of a page that earn, per persona and arm (docs/admin.md "Zones").

Pure: no I/O. A zone is an element of interest marked `data-zone="<name>"` in the shop's
templates (the deals row, the product grid, the filters, the navigation, the cart, each
adaptation widget). The tracker names the zone of every click (`z`) and reports a zone seen
(`zone` event: at least half of it in the viewport for at least a second, once per page
view). Revenue is attributed when the server records an order (an `order` event it appends
to the stream itself, never one a browser sends): each line's amount goes to every zone the
visit clicked that product in.

The products a visit clicked, and in which zones, are carried from round to round with the
frustration detection state (`carry:<sid>`), so an order counts what came before it once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ORDER_KIND = "order"  # the server's own event: never accepted from a browser
MAX_PRODUCTS = 200  # products remembered per visit (the oldest clicked is forgotten first)
MAX_PLACES = 8  # places (page, zone, viewport class) remembered per product


@dataclass(frozen=True)
class Attribution:
    """An order line's amount credited to a zone the visit clicked its product in."""

    path: str
    zone: str
    viewport_class: str  # of the page view the product was clicked on
    product: str
    revenue_cents: int


class ZoneClicks:
    """The products a visit clicked, with the (page, zone, viewport class) it clicked each in."""

    def __init__(self, state: Mapping[str, Any] | None = None) -> None:
        raw = (state or {}).get("p", {})
        self.products: dict[str, list[list[str]]] = {
            str(pid): [list(place) for place in places] for pid, places in raw.items()
        }

    def to_state(self) -> dict[str, Any]:
        return {"p": self.products}

    def click(self, product: str, path: str, zone: str, viewport_class: str) -> None:
        places = self.products.pop(product, [])
        if [path, zone, viewport_class] not in places:
            places = [*places, [path, zone, viewport_class]][-MAX_PLACES:]
        self.products[product] = places  # most recently clicked last
        while len(self.products) > MAX_PRODUCTS:
            self.products.pop(next(iter(self.products)))

    def attribute(self, lines: Iterable[Sequence[Any]]) -> list[Attribution]:
        """Each order line (product, amount in cents) credited to its product's zones."""
        credited = []
        for product, cents in lines:
            for path, zone, vclass in self.products.get(str(product), []):
                credited.append(Attribution(path, zone, vclass, str(product), int(cents)))
        return credited


def is_server_record(batch: Mapping[str, Any]) -> bool:
    """The server's own record of an order: no page view, nothing the shopper did there."""
    return all(event["k"] == ORDER_KIND for event in batch["events"])


def order_record(order: Mapping[str, Any], vid: str, sid: str, now_ms: int) -> dict[str, Any]:
    """The batch the server appends to the events stream for a stored order. Its page view
    id is the order's, so the stream's once-per-(pvid, seq) append keeps it to one."""
    return {
        "v": 1, "vid": vid, "sid": sid, "pvid": f"order-{order['_id']}", "seq": 0,
        "t0": now_ms, "path": "/checkout", "events": [order_event(order)],
    }  # fmt: skip


def order_event(order: Mapping[str, Any]) -> dict[str, Any]:
    """The server's record of a stored order, as the event the flusher attributes."""
    lines = [[line["product_id"], int(line["line_total_cents"])] for line in order["lines"]]
    return {"k": ORDER_KIND, "t": 0, "oid": str(order["_id"]), "lines": lines}


def zone_rates(row: Mapping[str, Any]) -> dict[str, Any]:
    """A zone's measures with its click rate (clicks per view; None before any view)."""
    views, clicks = int(row.get("views", 0)), int(row.get("clicks", 0))
    return {
        "views": views,
        "clicks": clicks,
        "click_rate": round(clicks / views, 4) if views else None,
        "orders": int(row.get("orders", 0)),
        "revenue_cents": int(row.get("revenue_cents", 0)),
    }


def merge_zones(docs: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A page's zone documents summed per zone, the best earners first."""
    totals: dict[str, dict[str, int]] = {}
    for doc in docs:
        into = totals.setdefault(str(doc.get("zone", "")), {})
        for name in ("views", "clicks", "orders", "revenue_cents"):
            into[name] = into.get(name, 0) + int(doc.get(name, 0))
    rows = [{"zone": zone, **zone_rates(measures)} for zone, measures in totals.items()]
    rows.sort(key=lambda r: (-r["revenue_cents"], -r["clicks"], -r["views"], r["zone"]))
    return rows
