"""Every Redis key Vitrine writes, in one table: its family, scope, erasure and retention.

Why one module: a key built anywhere else is a key erasure does not know about. Each
family below says what it holds, whose it is (its scope: a visitor, one of its sessions,
one of its page views, an admin account, or nobody's), how erasure finds and deletes it
for a visitor, and how long it lives otherwise (a TTL, or the worker that trims or settles
it). `RedisKeys` builds every key from these patterns, so a new family is one row here,
and `Eraser` (server/adapters/erasure.py) deletes every family whose rule says so.
tests/unit/test_redis_keys.py fails on a family with neither rule; docs/privacy.md lists
them all.
"""

from __future__ import annotations

import itertools
import re
import string
from dataclasses import dataclass, field
from enum import StrEnum

from server.domain.adaptations import BY_NAME
from server.pipeline.ledger import FRUSTRATION, HEATMAP, SCROLL, SESSIONS, VISITORS, ZONES
from server.settings import Settings

DAY_S = 86_400


class Scope(StrEnum):
    """Whose state a key is: the id its pattern is built from."""

    VISITOR = "visitor"  # {vid}
    SESSION = "session"  # {sid}: one visit of a visitor
    PAGE_VIEW = "page view"  # {pvid}: one page view of a visit
    ADMIN = "admin account"  # {username}
    GLOBAL = "global"  # shared by everybody


class Erasure(StrEnum):
    """How erasure (server/adapters/erasure.py) finds a family's keys for a visitor."""

    BY_VID = "deleted, by the vid"
    BY_SESSION = "deleted, for each of the visitor's sessions"
    BY_PAGE_VIEW = "deleted, for each of the visitor's page views"
    # Kept on purpose: they are what makes the erasure stick (docs/privacy.md, Erasure).
    MARKS_ERASURE = "kept: records the erasure (holds only the random vid)"
    NO_PERSONAL_DATA = "holds no personal data"


# The id each erasable scope's keys are built from, and which erasure rule fits it.
SCOPE_ID = {Scope.VISITOR: "vid", Scope.SESSION: "sid", Scope.PAGE_VIEW: "pvid"}
ERASED_BY = {Erasure.BY_VID: "vid", Erasure.BY_SESSION: "sid", Erasure.BY_PAGE_VIEW: "pvid"}


@dataclass(frozen=True)
class Retention:
    """How long a key lives when nobody erases it: a TTL, and/or a worker that removes it."""

    ttl_s: int | None = None  # a fixed TTL, set on every write
    ttl_setting: str = ""  # or a TTL taken from a setting, described
    by: str = ""  # the worker (or mechanism) that trims, settles or releases it

    def describe(self) -> str:
        parts = []
        if self.ttl_s is not None:
            parts.append(f"TTL {_duration(self.ttl_s)}")
        if self.ttl_setting:
            parts.append(f"TTL {self.ttl_setting}")
        if self.by:
            parts.append(self.by)
        return "; ".join(parts)


@dataclass(frozen=True)
class KeyFamily:
    name: str
    pattern: str  # under the configured prefix; {placeholders} are the ids
    scope: Scope
    holds: str
    erasure: Erasure | None = None
    retention: Retention | None = None
    # Placeholders besides the scope's id that take a known set of values (erasure builds
    # every combination), e.g. the adaptation names of the exposure marks.
    variants: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Deleted through the aggregate ledger, under the checkpoint lease (it leaves the dirty
    # set too), before the documents; the others after them.
    ledger: bool = False
    note: str = ""

    @property
    def placeholders(self) -> tuple[str, ...]:
        return tuple(name for _, name, _, _ in string.Formatter().parse(self.pattern) if name)

    @property
    def stem(self) -> str:
        """The pattern up to its first placeholder (Lua scripts append the id to it)."""
        return self.pattern.split("{", 1)[0]


VISIT = KeyFamily(
    "visit", "visit:{vid}", Scope.VISITOR, "the visitor's current visit (session) id",
    Erasure.BY_VID, Retention(ttl_setting="identity.session_idle_minutes (30 min), renewed by "
                              "every request"),
)  # fmt: skip
PERSONA = KeyFamily(
    "persona", "persona:{vid}", Scope.VISITOR,
    "the visitor's current persona, confidence and reasons (the persona worker)",
    Erasure.BY_VID, Retention(ttl_s=30 * DAY_S),
)  # fmt: skip
OPTOUT = KeyFamily(
    "optout", "optout:{vid}", Scope.VISITOR, "the visitor turned adaptations off",
    Erasure.BY_VID, None, note="no TTL: until the visitor turns them back on",
)  # fmt: skip
TRIGGERED = KeyFamily(
    "triggered", "triggered:{vid}", Scope.VISITOR,
    "the visitor's experiment trigger is stored (first qualification, once)",
    Erasure.BY_VID, Retention(ttl_setting="retention.aggregates_days (400 days)"),
)  # fmt: skip
CONSENT = KeyFamily(
    "consent", "consent:{vid}", Scope.VISITOR,
    "the visitor's consent choice, short form (or `erased`)",
    Erasure.MARKS_ERASURE, Retention(ttl_s=400 * DAY_S),
    note="erasure sets it to `erased`: the old cookie's choice no longer counts",
)  # fmt: skip
ERASED = KeyFamily(
    "erased", "erased:{vid}", Scope.VISITOR,
    "the erasure time: batches received before it are never written",
    Erasure.MARKS_ERASURE, Retention(ttl_s=7 * DAY_S),
)  # fmt: skip
AGG_VISITOR = KeyFamily(
    f"agg:{VISITORS}", f"agg:{VISITORS}:{{vid}}", Scope.VISITOR,
    "the visitor record's aggregates, waiting for the checkpoint",
    Erasure.BY_VID, Retention(by="checkpointer: settled, then TTL 6 h"), ledger=True,
)  # fmt: skip
RATE_LIMIT = KeyFamily(
    "ratelimit", "ratelimit:{rule}:{by}:{subject}:{slot}", Scope.VISITOR,
    "requests counted per fixed window, per visitor (vid) or client address",
    None, Retention(ttl_setting="2 × rate_limits.window_seconds (2 min)"),
    note="left to expire by design: two windows at most",
)  # fmt: skip
VISIT_STATE = KeyFamily(
    "pstate", "pstate:{sid}", Scope.SESSION,
    "the persona worker's state of the visit (features, display hysteresis)",
    Erasure.BY_SESSION, Retention(ttl_s=2 * 3600),
)  # fmt: skip
EXPOSED = KeyFamily(
    "exposed", "exposed:{sid}:{adaptation}", Scope.SESSION,
    "this visit's exposure to the adaptation is logged (once per visit)",
    Erasure.BY_SESSION, Retention(ttl_s=6 * 3600),
    variants=(("adaptation", tuple(sorted(BY_NAME))),),
)  # fmt: skip
AGG_SESSION = KeyFamily(
    f"agg:{SESSIONS}", f"agg:{SESSIONS}:{{sid}}", Scope.SESSION,
    "the session summary's aggregates, waiting for the checkpoint",
    Erasure.BY_SESSION, Retention(by="checkpointer: settled, then TTL 6 h"), ledger=True,
)  # fmt: skip
CARRY = KeyFamily(
    "carry", "carry:{sid}", Scope.SESSION,
    "what the session carries between flush rounds: frustration detection (its last "
    "clicks, pointer turns and page views) and the products it clicked per zone",
    Erasure.BY_SESSION, Retention(ttl_s=DAY_S),
)  # fmt: skip
SEEN = KeyFamily(
    "seen", "seen:{pvid}", Scope.PAGE_VIEW,
    "the sequence numbers of the page view's batches accepted (resends are dropped)",
    Erasure.BY_PAGE_VIEW, Retention(ttl_s=6 * 3600),
)  # fmt: skip
REPLAY_SEEN = KeyFamily(
    "rseen", "rseen:{pvid}", Scope.PAGE_VIEW,
    "the sequence numbers of the page view's replay chunks queued",
    Erasure.BY_PAGE_VIEW, Retention(ttl_s=6 * 3600),
)  # fmt: skip
REACH = KeyFamily(
    "reach", "reach:{pvid}", Scope.PAGE_VIEW,
    "the page view's deepest scroll bucket (counted once per view)",
    Erasure.BY_PAGE_VIEW, Retention(ttl_s=DAY_S),
)  # fmt: skip
VIEWPORT = KeyFamily(
    "vw", "vw:{pvid}", Scope.PAGE_VIEW,
    "the page view's viewport width (bins batches without a page event)",
    Erasure.BY_PAGE_VIEW, Retention(ttl_s=DAY_S),
)  # fmt: skip
EVENTS = KeyFamily(
    "events", "events", Scope.GLOBAL, "tracker batches on their way to the workers (stream)",
    None, Retention(by="flusher: trimmed below what every group acknowledged"),
    note="setting redis.stream; an erased visitor's entries are dropped unwritten (erased:)",
)  # fmt: skip
WRITES = KeyFamily(
    "writes", "writes", Scope.GLOBAL,
    "replay chunks, exposures and triggers on their way to MongoDB (stream)",
    None, Retention(by="document writer: trimmed once inserted"),
    note="an erased visitor's documents are dropped unwritten (erased:)",
)  # fmt: skip
AGG_HEATMAP = KeyFamily(
    f"agg:{HEATMAP}", f"agg:{HEATMAP}:{{doc_id}}", Scope.GLOBAL,
    "a heatmap bin's counts (page, bin, day, viewport class, persona, arm)",
    Erasure.NO_PERSONAL_DATA, Retention(by="checkpointer: settled, then TTL 6 h"), ledger=True,
)  # fmt: skip
AGG_SCROLL = KeyFamily(
    f"agg:{SCROLL}", f"agg:{SCROLL}:{{doc_id}}", Scope.GLOBAL,
    "a scroll-depth document's counts", Erasure.NO_PERSONAL_DATA,
    Retention(by="checkpointer: settled, then TTL 6 h"), ledger=True,
)  # fmt: skip
AGG_FRUSTRATION = KeyFamily(
    f"agg:{FRUSTRATION}", f"agg:{FRUSTRATION}:{{doc_id}}", Scope.GLOBAL,
    "a page's frustration signal counts (day, viewport class, persona, arm)",
    Erasure.NO_PERSONAL_DATA, Retention(by="checkpointer: settled, then TTL 6 h"), ledger=True,
)  # fmt: skip
AGG_ZONES = KeyFamily(
    f"agg:{ZONES}", f"agg:{ZONES}:{{doc_id}}", Scope.GLOBAL,
    "a page zone's views, clicks, orders and attributed revenue (day, viewport class, "
    "persona, arm)", Erasure.NO_PERSONAL_DATA,
    Retention(by="checkpointer: settled, then TTL 6 h"), ledger=True,
)  # fmt: skip
AGG_DIRTY = KeyFamily(
    "agg:dirty", "agg:dirty", Scope.GLOBAL, "names of the hashes changed since their checkpoint",
    None, Retention(by="checkpointer: a name leaves once its hash is settled"),
    note="erasure removes the names of the visitor's hashes with them",
)  # fmt: skip
AGG_FRAMED = KeyFamily(
    "agg:framed", "agg:framed", Scope.GLOBAL,
    "stream entries whose frames are stored, with the persona they were framed under",
    Erasure.NO_PERSONAL_DATA, Retention(by="flusher: a field leaves with its entry's commit"),
)  # fmt: skip
CHECKPOINT_LOCK = KeyFamily(
    "agg:checkpoint-lock", "agg:checkpoint-lock", Scope.GLOBAL,
    "the checkpoint lease (one checkpoint or erasure at a time)", Erasure.NO_PERSONAL_DATA,
    Retention(by="a lease (PX): released by its holder, or expires"),
)  # fmt: skip
HEARTBEATS = KeyFamily(
    "health:workers", "health:workers", Scope.GLOBAL, "each worker's last state, for /healthz",
    Erasure.NO_PERSONAL_DATA, Retention(ttl_s=120),
)  # fmt: skip
SOCKETIO = KeyFamily(
    "socketio", "socketio", Scope.GLOBAL,
    "the Socket.IO pub/sub channel between processes (no key: nothing is stored)",
    None, Retention(by="pub/sub: messages are delivered, never stored"),
)  # fmt: skip
TRENDS = KeyFamily(
    "trends", "trends", Scope.GLOBAL,
    "the admin overview's trend points (sorted set by time: counts, no visitor data)",
    Erasure.NO_PERSONAL_DATA,
    Retention(ttl_s=2 * DAY_S, by="the trend sampler trims points older than a day"),
)  # fmt: skip
TRENDS_INGEST = KeyFamily(
    "trends:ingest", "trends:ingest", Scope.GLOBAL,
    "each web process's accepted-events counter, for events per second (counts only)",
    Erasure.NO_PERSONAL_DATA,
    Retention(ttl_s=DAY_S, by="the trend sampler drops a process silent for a minute"),
)  # fmt: skip
TRENDS_LOCK = KeyFamily(
    "trends:lock", "trends:lock", Scope.GLOBAL,
    "the trend sampler's lease (one sampling web process per deployment)",
    Erasure.NO_PERSONAL_DATA, Retention(by="a lease (PX): renewed by its holder, or expires"),
)  # fmt: skip
LOGIN_FAILURES = KeyFamily(
    "login-failures", "login-failures:{username}", Scope.ADMIN,
    "failed admin logins for this user name (growing delays)",
    None, Retention(ttl_s=15 * 60), note="not a shopper's data",
)  # fmt: skip

FAMILIES: tuple[KeyFamily, ...] = (
    VISIT, PERSONA, OPTOUT, TRIGGERED, CONSENT, ERASED, AGG_VISITOR, RATE_LIMIT,
    VISIT_STATE, EXPOSED, AGG_SESSION, CARRY,
    SEEN, REPLAY_SEEN, REACH, VIEWPORT,
    EVENTS, WRITES, AGG_HEATMAP, AGG_SCROLL, AGG_FRUSTRATION, AGG_ZONES, AGG_DIRTY, AGG_FRAMED,
    CHECKPOINT_LOCK,
    HEARTBEATS, SOCKETIO, LOGIN_FAILURES, TRENDS, TRENDS_INGEST, TRENDS_LOCK,
)  # fmt: skip
ERASABLE: tuple[KeyFamily, ...] = tuple(f for f in FAMILIES if f.erasure in ERASED_BY)
# kind (server/pipeline/ledger.py) -> its family: agg:<kind>:<id>
_AGGREGATES = {f.pattern.split(":")[1]: f for f in FAMILIES if f.ledger}


def ttl_of(family: KeyFamily) -> int:
    """The fixed TTL of a family that has one (adapters set it on every write)."""
    if family.retention is None or family.retention.ttl_s is None:
        raise ValueError(f"{family.name} has no fixed TTL")
    return family.retention.ttl_s


@dataclass(frozen=True)
class VisitorKeys:
    """Erasure's view of a visitor: each erasable family and its keys for that visitor."""

    by_family: dict[KeyFamily, list[str]] = field(default_factory=dict)

    def ledger(self) -> list[str]:
        return [k for f, keys in self.by_family.items() if f.ledger for k in keys]

    def others(self) -> list[str]:
        return [k for f, keys in self.by_family.items() if not f.ledger for k in keys]


class RedisKeys:
    """Builds every key of FAMILIES under one prefix (settings `redis.key_prefix`)."""

    def __init__(self, prefix: str, events_stream: str = EVENTS.pattern) -> None:
        self.prefix = prefix
        self.events_stream_name = events_stream

    @classmethod
    def of(cls, settings: Settings) -> RedisKeys:
        return cls(settings.redis.key_prefix, settings.redis.stream)

    def build(self, family: KeyFamily, **ids: str) -> str:
        if family is EVENTS:
            return self.prefix + self.events_stream_name
        return self.prefix + family.pattern.format(**ids)

    def stem(self, family: KeyFamily) -> str:
        """The key up to the family's id, for Lua scripts that append the id themselves."""
        return self.prefix + family.stem

    # Visitor
    def visit(self, vid: str) -> str:
        return self.build(VISIT, vid=vid)

    def persona(self, vid: str) -> str:
        return self.build(PERSONA, vid=vid)

    def optout(self, vid: str) -> str:
        return self.build(OPTOUT, vid=vid)

    def triggered(self, vid: str) -> str:
        return self.build(TRIGGERED, vid=vid)

    def consent_flag(self, vid: str) -> str:
        return self.build(CONSENT, vid=vid)

    def erased(self, vid: str) -> str:
        return self.build(ERASED, vid=vid)

    def rate_limit(self, rule: str, by: str, subject: str, slot: int) -> str:
        return self.build(RATE_LIMIT, rule=rule, by=by, subject=subject, slot=str(slot))

    # Session
    def visit_state(self, sid: str) -> str:
        return self.build(VISIT_STATE, sid=sid)

    def exposed(self, sid: str, adaptation: str) -> str:
        return self.build(EXPOSED, sid=sid, adaptation=adaptation)

    def carry(self, sid: str) -> str:
        return self.build(CARRY, sid=sid)

    # Page view
    def seen(self, pvid: str) -> str:
        return self.build(SEEN, pvid=pvid)

    def replay_seen(self, pvid: str) -> str:
        return self.build(REPLAY_SEEN, pvid=pvid)

    def reach(self, pvid: str) -> str:
        return self.build(REACH, pvid=pvid)

    def viewport(self, pvid: str) -> str:
        return self.build(VIEWPORT, pvid=pvid)

    # The aggregate ledger: agg:<kind>:<id> (kinds of server/pipeline/ledger.py)
    def aggregate(self, kind: str, doc_id: str) -> str:
        family = _AGGREGATES[kind]
        return self.build(family, **{family.placeholders[0]: doc_id})

    def split_aggregate(self, key: str) -> tuple[str, str]:
        """(kind, doc id) of an `aggregate()` key."""
        kind, _, doc_id = key[len(self.prefix) + len("agg:") :].partition(":")
        return kind, doc_id

    def aggregates_dirty(self) -> str:
        return self.build(AGG_DIRTY)

    def aggregates_framed(self) -> str:
        return self.build(AGG_FRAMED)

    def checkpoint_lock(self) -> str:
        return self.build(CHECKPOINT_LOCK)

    # Streams, channels, workers, admins
    def events_stream(self) -> str:
        return self.build(EVENTS)

    def write_stream(self) -> str:
        return self.build(WRITES)

    def stream(self, name: str) -> str:
        """The key of the stream called `name` (a buffer is built from its stream's name)."""
        return self.prefix + name

    def socketio_channel(self) -> str:
        return self.build(SOCKETIO)

    def heartbeats(self) -> str:
        return self.build(HEARTBEATS)

    def login_failures(self, username: str) -> str:
        return self.build(LOGIN_FAILURES, username=username)

    # The overview's trends
    def trends(self) -> str:
        return self.build(TRENDS)

    def trends_ingest(self) -> str:
        return self.build(TRENDS_INGEST)

    def trends_lock(self) -> str:
        return self.build(TRENDS_LOCK)

    def raw(self, *parts: str) -> str:
        """A key outside the families (tests and one-off tools only; the app never)."""
        return self.prefix + ":".join(parts)

    # Erasure and inspection
    def of_visitor(self, vid: str, sids: set[str], pvids: set[str]) -> VisitorKeys:
        """Every key of an erasable family for this visitor, its sessions and page views."""
        ids = {"vid": {vid}, "sid": sids, "pvid": pvids}
        found: dict[KeyFamily, list[str]] = {}
        for family in ERASABLE:
            assert family.erasure is not None
            name = ERASED_BY[family.erasure]
            names = [v for v, _ in family.variants]
            combos = list(itertools.product(*(values for _, values in family.variants)))
            found[family] = [
                self.build(family, **{name: one}, **dict(zip(names, combo, strict=True)))
                for one in sorted(ids[name])
                for combo in combos
            ]
        return VisitorKeys(found)

    def family_of(self, key: str) -> KeyFamily | None:
        """The family a key belongs to (None: not one of ours)."""
        if not key.startswith(self.prefix):
            return None
        rest = key[len(self.prefix) :]
        if rest == self.events_stream_name:
            return EVENTS
        for family, pattern in _MATCHERS:
            if family is not EVENTS and pattern.fullmatch(rest):
                return family
        return None


def _matcher(family: KeyFamily) -> re.Pattern[str]:
    parts = []
    for literal, name, _, _ in string.Formatter().parse(family.pattern):
        parts.append(re.escape(literal))
        if name:
            # Heatmap ids and client addresses (IPv6) may hold colons themselves.
            parts.append(".+" if name in ("doc_id", "subject") else "[^:]+")
    return re.compile("".join(parts))


# Longest literal first: `agg:dirty` before `agg:{kind}:{id}` would ever be tried.
_MATCHERS = sorted(((f, _matcher(f)) for f in FAMILIES), key=lambda item: -len(item[0].stem))


def _duration(seconds: int) -> str:
    for unit, size in (("days", DAY_S), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {'day' if unit == 'days' and count == 1 else unit}"
    return f"{seconds} s"
