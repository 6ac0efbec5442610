"""Consent: what a visitor chose, how it travels (cookie, Redis flag) and what it allows.

Two separate choices, analytics (tracker events, replays) and personalization (persona
pushes, adaptations). Do-Not-Track and Global Privacy Control count as declining both.
A choice lives in a signed cookie bound to the visitor id (what each request reads), in
a one-value Redis flag per visitor (what the workers read) and in MongoDB (the record).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

from itsdangerous import BadSignature, Signer

CONSENT_COOKIE: Final = "vitrine_consent"
# The Redis flag after an erasure: any earlier choice (and its cookie) no longer counts.
ERASED_FLAG: Final = "erased"
_CHOICE = re.compile(r"^a([01])p([01])t(\d{9,11})$")

Default = Literal["ask", "granted"]
MetaState = Literal["granted", "denied", "ask"]


@dataclass(frozen=True)
class Choice:
    """One visitor's answer, with its time (epoch seconds)."""

    analytics: bool
    personalization: bool
    at: int

    def encode(self) -> str:
        return f"a{int(self.analytics)}p{int(self.personalization)}t{self.at}"

    @classmethod
    def decode(cls, value: str | None) -> Choice | None:
        match = _CHOICE.fullmatch(value or "")
        if match is None:
            return None
        return cls(match.group(1) == "1", match.group(2) == "1", int(match.group(3)))


@dataclass(frozen=True)
class Consent:
    """What a request (or a worker) may do for one visitor, and why."""

    analytics: bool
    personalization: bool
    # "choice" (the visitor answered), "default" (nobody asked yet), "dnt", "gpc", "erased"
    source: str
    at: int | None = None

    @property
    def meta(self) -> MetaState:
        """The `<meta name="vitrine-consent">` value: what the tracker may do."""
        if self.analytics:
            return "granted"
        return "ask" if self.source in ("default", "erased") else "denied"

    @property
    def chosen_at(self) -> datetime | None:
        return datetime.fromtimestamp(self.at, UTC) if self.at is not None else None

    @property
    def asked(self) -> bool:
        """True when the banner should be shown (no answer and no browser signal)."""
        return self.meta == "ask"

    def to_dict(self) -> dict[str, object]:
        return {
            "analytics": self.analytics,
            "personalization": self.personalization,
            "state": self.meta,
            "source": self.source,
            "at": self.at,
        }


def decide(
    choice: Choice | None,
    default: Default,
    *,
    dnt: bool = False,
    gpc: bool = False,
    erased: bool = False,
) -> Consent:
    """Combine the browser's signals, the stored choice and the deployment default."""
    if gpc:
        return Consent(False, False, "gpc")
    if dnt:
        return Consent(False, False, "dnt")
    if erased:
        return Consent(False, False, "erased")
    if choice is not None:
        return Consent(choice.analytics, choice.personalization, "choice", choice.at)
    granted = default == "granted"
    return Consent(granted, granted, "default")


def signal_declines(dnt_header: str | None, gpc_header: str | None) -> tuple[bool, bool]:
    """Read `DNT: 1` and `Sec-GPC: 1` (any other value is no signal)."""
    return (dnt_header or "").strip() == "1", (gpc_header or "").strip() == "1"


class ConsentCookie:
    """Signs a choice together with the visitor id: another visitor's cookie is worthless."""

    def __init__(self, secret_key: str) -> None:
        self._signer = Signer(secret_key, salt="vitrine.consent")

    def dump(self, vid: str, choice: Choice) -> str:
        return self._signer.sign(f"{vid}.{choice.encode()}").decode()

    def load(self, vid: str, value: str | None) -> Choice | None:
        """The choice in a cookie value, or None when it is missing, forged or someone else's."""
        if not value or len(value) > 200:
            return None
        try:
            payload = self._signer.unsign(value).decode()
        except (BadSignature, UnicodeDecodeError):
            return None
        owner, _, encoded = payload.rpartition(".")
        return Choice.decode(encoded) if owner == vid else None
