"""Live trends on the admin overview: sample points, and their buckets over an hour and a day.

A point is one sample of the whole deployment, taken every `trends.sample_every_s` by the
one web process that holds the sampler's lease (server/services/trends.py). It holds counts,
never a visitor's data: events accepted since the previous point, shoppers and sessions
active in the last five minutes (by persona, and how many of those sessions converted), and
the events stream's lag. The charts read buckets: the points of each `bucket_s` slice of a
window, aligned to the epoch, folded by `bucketize` so that a bucket of one point and a
bucket of thirty mean the same thing:

- events per second: events summed over the bucket / seconds those points cover;
- active shoppers: the mean over the bucket's points (and the largest);
- persona mix: each persona's share of the active shoppers, summed over the points;
- conversion: converted sessions / active sessions, summed over the points (a rolling
  5-minute window: the share of the sessions seen in the last 5 minutes that ordered);
- pipeline lag: the largest `lag + pending` of the bucket (a spike is not averaged away).

Pure: no I/O (tests/unit/test_core_imports.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from personas_engine.vocabulary import PERSONAS, UNKNOWN

ACTIVE_WINDOW_S = 300  # "active": a session seen in the last 5 minutes (the overview's figure)
HOUR_S = 3600
DAY_S = 86_400
MIX_PERSONAS: tuple[str, ...] = (*PERSONAS, UNKNOWN)


@dataclass(frozen=True)
class TrendPoint:
    """One sample of the deployment; counts only."""

    at: float  # epoch seconds
    interval_s: float  # the seconds `events` covers (since the previous point)
    events: int | None  # accepted by every web process in the interval; None: no baseline yet
    shoppers: int  # distinct visitors with a session active in the last 5 minutes
    personas: Mapping[str, int] = field(default_factory=dict)  # those shoppers by persona
    sessions: int = 0  # sessions active in the last 5 minutes
    converted: int = 0  # of those sessions, the ones that placed an order
    lag: int | None = None  # stream entries not yet read by the flusher (None: unreadable)
    pending: int | None = None  # entries read by the flusher, not yet acknowledged

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at, "interval_s": self.interval_s, "events": self.events,
            "shoppers": self.shoppers, "personas": dict(self.personas),
            "sessions": self.sessions, "converted": self.converted,
            "lag": self.lag, "pending": self.pending,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TrendPoint:
        """The point a `to_json` stored (a field missing from an older point is empty)."""
        personas = data.get("personas") or {}
        return cls(
            at=float(data["at"]),
            interval_s=float(data.get("interval_s") or 0.0),
            events=_int_or_none(data.get("events")),
            shoppers=int(data.get("shoppers") or 0),
            personas={str(k): int(v) for k, v in personas.items()},
            sessions=int(data.get("sessions") or 0),
            converted=int(data.get("converted") or 0),
            lag=_int_or_none(data.get("lag")),
            pending=_int_or_none(data.get("pending")),
        )


@dataclass(frozen=True)
class Window:
    """A chart's time range: the last `span_s` seconds, in buckets of `bucket_s`."""

    name: str
    span_s: int
    bucket_s: int

    def bounds(self, now: float) -> tuple[float, float]:
        """[start, end): whole buckets, the last one holding `now` (still filling)."""
        end = (math.floor(now / self.bucket_s) + 1) * self.bucket_s
        return float(end - self.span_s), float(end)

    def tail_start(self, now: float, buckets: int = 2) -> float:
        """The start of the last `buckets` buckets (what a live push carries)."""
        _, end = self.bounds(now)
        return end - buckets * self.bucket_s


def windows(hour_bucket_s: int, day_bucket_s: int) -> dict[str, Window]:
    """The overview's two windows, by the name the API takes."""
    return {"1h": Window("1h", HOUR_S, hour_bucket_s), "1d": Window("1d", DAY_S, day_bucket_s)}


def events_in_interval(
    previous: Mapping[str, int] | None, current: Mapping[str, int]
) -> int | None:
    """Events accepted between two readings of the web processes' ingest counters.

    Each process counts from zero when it starts, under a name of its own: a name new since
    the previous reading counts whole, a count that went down is a restart and counts
    whole, a name gone is a process that stopped. None without a previous reading.
    """
    if previous is None:
        return None
    total = 0
    for process, count in current.items():
        before = previous.get(process, 0)
        total += count - before if count >= before else count
    return total


def active_figures(sessions: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Shoppers, their persona mix, sessions and conversions of the active sessions.

    A shopper with several active sessions counts once, under the persona of the session
    seen last.
    """
    latest: dict[str, tuple[Any, str]] = {}
    count = converted = 0
    for session in sessions:
        count += 1
        converted += 1 if session.get("converted") else 0
        vid = str(session.get("vid") or "")
        persona = str(session.get("persona") or UNKNOWN)
        persona = persona if persona in MIX_PERSONAS else UNKNOWN
        seen = session.get("last_at")
        if vid not in latest or (seen is not None and _later(seen, latest[vid][0])):
            latest[vid] = (seen, persona)
    personas = {p: 0 for p in MIX_PERSONAS}
    for _, persona in latest.values():
        personas[persona] += 1
    return {"shoppers": len(latest), "personas": personas, "sessions": count,
            "converted": converted}  # fmt: skip


def bucketize(points: Iterable[TrendPoint], window: Window, now: float) -> list[dict[str, Any]]:
    """Fold the points inside the window into its buckets, oldest first; empty ones left out.

    Each bucket: `t` (its start, epoch ms), `n` (points), `eps`, `shoppers` (mean),
    `shoppers_max`, `mix` (persona → share of the active shoppers), `sessions` (mean),
    `conversion`, `lag` (the largest lag + pending). A figure with nothing to say is None:
    no event count yet, no shopper (no mix), no session (no conversion), lag unreadable.
    """
    start, end = window.bounds(now)
    grouped: dict[int, list[TrendPoint]] = {}
    for point in points:
        if start <= point.at < end:
            key = math.floor(point.at / window.bucket_s) * window.bucket_s
            grouped.setdefault(key, []).append(point)
    return [_fold(key, sorted(grouped[key], key=lambda p: p.at)) for key in sorted(grouped)]


def _fold(start_s: int, points: Sequence[TrendPoint]) -> dict[str, Any]:
    n = len(points)
    counted = [p for p in points if p.events is not None and p.interval_s > 0]
    seconds = sum(p.interval_s for p in counted)
    events = sum(p.events or 0 for p in counted)
    totals = {persona: sum(p.personas.get(persona, 0) for p in points) for persona in MIX_PERSONAS}
    in_mix = sum(totals.values())
    sessions = sum(p.sessions for p in points)
    converted = sum(p.converted for p in points)
    lags = [(p.lag or 0) + (p.pending or 0) for p in points if p.lag is not None]
    return {
        "t": start_s * 1000,
        "n": n,
        "eps": round(events / seconds, 2) if seconds else None,
        "shoppers": round(sum(p.shoppers for p in points) / n, 2),
        "shoppers_max": max(p.shoppers for p in points),
        "mix": {p: round(c / in_mix, 4) for p, c in totals.items()} if in_mix else None,
        "sessions": round(sessions / n, 2),
        "conversion": round(min(converted, sessions) / sessions, 4) if sessions else None,
        "lag": max(lags) if lags else None,
    }


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _later(a: Any, b: Any) -> bool:
    try:
        return bool(b is None or a > b)
    except TypeError:  # naive against aware datetimes: keep the first one seen
        return False
