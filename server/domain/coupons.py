"""Coupons are server-side records with a validity window, usage limits and an owner."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from server.domain.errors import NotFound, Unprocessable

COUPON_CODE = re.compile(r"^[A-Z0-9-]{4,32}$")


@dataclass(frozen=True)
class Coupon:
    code: str
    percent_off: int
    min_subtotal_cents: int
    valid_from: datetime
    valid_until: datetime
    max_uses: int | None
    uses: int
    issued_to: str | None = None  # a visitor id for a personal, single-use coupon

    def discount_cents(self, subtotal_cents: int) -> int:
        """Return the discount this coupon gives on a subtotal."""
        return (subtotal_cents * self.percent_off + 50) // 100

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Coupon:
        return cls(
            code=doc["_id"],
            percent_off=int(doc["percent_off"]),
            min_subtotal_cents=int(doc.get("min_subtotal_cents", 0)),
            valid_from=as_utc(doc["valid_from"]),
            valid_until=as_utc(doc["valid_until"]),
            max_uses=doc.get("max_uses"),
            uses=int(doc.get("uses", 0)),
            issued_to=doc.get("issued_to"),
        )


def as_utc(moment: datetime) -> datetime:
    """Stored datetimes come back naive from some drivers; they are always UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def normalise_code(code: str) -> str:
    """Coupon codes are case-insensitive; store and compare them upper-case."""
    return code.strip().upper()


def check_coupon(coupon: Coupon | None, vid: str, now: datetime, subtotal_cents: int) -> Coupon:
    """Return the coupon if `vid` may use it now on this subtotal, else raise why not."""
    if coupon is None or (coupon.issued_to is not None and coupon.issued_to != vid):
        # Someone else's personal coupon looks exactly like an unknown one.
        raise NotFound("unknown_coupon", "no such coupon")
    if now < coupon.valid_from:
        raise Unprocessable("coupon_not_yet_valid", f"valid from {coupon.valid_from:%Y-%m-%d}")
    if now >= coupon.valid_until:
        raise Unprocessable("coupon_expired", "this coupon has expired")
    if coupon.max_uses is not None and coupon.uses >= coupon.max_uses:
        raise Unprocessable("coupon_used_up", "this coupon has already been used")
    if subtotal_cents < coupon.min_subtotal_cents:
        raise Unprocessable(
            "coupon_minimum_not_met",
            f"needs a subtotal of at least {coupon.min_subtotal_cents / 100:.2f}",
        )
    return coupon
