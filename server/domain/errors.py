"""One small error hierarchy: the core raises, the edges translate to JSON or socket acks.

An error carries a stable code for machines and a detail for people, and its class says
what kind of failure it is. Which HTTP status each kind gets is the web edge's business
(server/web/common.py: `HTTP_STATUS`); a socket ack carries the code alone.
"""

from __future__ import annotations


class VitrineError(Exception):
    """An expected failure with a stable error code."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail

    def to_dict(self) -> dict[str, str]:
        return {"error": self.code, "detail": self.detail}


class InvalidInput(VitrineError):
    """The request is malformed: wrong type, size, operator or format."""


class Unauthenticated(VitrineError):
    """Who is asking is not known (no admin session)."""


class Forbidden(VitrineError):
    """Who is asking may not do this."""


class NotFound(VitrineError):
    """What is asked for does not exist."""


class Conflict(VitrineError):
    """The request clashes with the current state (stock, a reused key)."""


class Unprocessable(VitrineError):
    """Well-formed, but it cannot be done (an invalid coupon, an empty cart)."""


class Unavailable(VitrineError):
    """A service it needs is down for now; trying again later may work."""
