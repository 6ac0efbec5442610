"""The typed object graph every part of Vitrine shares, built once by server/bootstrap.py.

Why a module of its own: the web edge, the sockets, the workers and the application
services all need the *types* of what the composition root builds, and none of them may
import the composition root itself (it imports them all). So the shapes live here, with
no behaviour, and bootstrap.py fills them in.

Groups, by concern: `Pipeline` (ingest, the stream, the ledger and the store workers),
`Personas` (state, history, model, worker), `Privacy` (consent, erasure, audit) and
`AdminReads` (what the console reads); the shop's stores sit on `Services` itself.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis

from server.adapters.admin_store import AdminStore
from server.adapters.aggregate_ledger import RedisAggregateLedger
from server.adapters.audit_store import AuditStore
from server.adapters.dashboard_store import DashboardReads
from server.adapters.embedded_valkey import EmbeddedValkey
from server.adapters.erasure import Eraser
from server.adapters.event_store import MongoEventStore
from server.adapters.experiment_store import ExperimentSummaries
from server.adapters.mongo_store import MongoStore
from server.adapters.persona_store import PersonaHistory, PersonaStateStore
from server.adapters.privacy_store import ConsentStore
from server.adapters.redis_buffer import RedisEventBuffer
from server.adapters.redis_keys import RedisKeys
from server.adapters.replay_store import ReplayStore
from server.adapters.request_counters import RequestCounters
from server.adapters.shop_store import CartStore, CatalogStore, CouponStore, OrderStore
from server.adapters.trend_store import RedisTrendStore
from server.adapters.visitor_state import VisitorState
from server.adapters.write_queue import RedisWriteQueue
from server.domain.rates import IngestRate
from server.pipeline.ingest import Ingest
from server.services.privacy import ConsentResolver
from server.settings import Settings

if TYPE_CHECKING:  # workers import this module; only their types are needed here
    from personas_engine.model import PersonaModel
    from server.services.trends import TrendSampler
    from server.workers.checkpointer import Checkpointer
    from server.workers.child import WorkerProcess
    from server.workers.consumer import Heartbeat
    from server.workers.document_writer import DocumentWriter
    from server.workers.flusher import Flusher
    from server.workers.personas import PersonaWorker
    from server.workers.replay_writer import ReplayWriter


@dataclass
class Pipeline:
    """Ingest → stream → flusher/checkpointer → MongoDB, and the write queue beside it."""

    buffer: RedisEventBuffer
    events: MongoEventStore
    ingest: Ingest
    ledger: RedisAggregateLedger
    heartbeat: Heartbeat
    write_queue: RedisWriteQueue
    write_buffer: RedisEventBuffer  # the write queue's stream: lag, group, trim
    # The workers this process runs (None where another process runs them).
    flusher: Flusher | None = None
    checkpointer: Checkpointer | None = None
    document_writer: DocumentWriter | None = None
    # The rrweb channel of this web process (None when replays are off or no sockets).
    replay_writer: ReplayWriter | None = None


@dataclass
class Personas:
    states: PersonaStateStore
    history: PersonaHistory
    model: asyncio.Task[PersonaModel]  # loaded (or trained) off the event loop at start
    worker: PersonaWorker | None = None  # None where another process runs it
    advisor: Any = None  # the Mistral second opinion, when on (personas_engine/llm.py)


@dataclass(frozen=True)
class Privacy:
    consent: ConsentStore
    resolver: ConsentResolver  # page, socket and beacon all ask it (server/services/privacy.py)
    eraser: Eraser
    audit: AuditStore


@dataclass
class AdminReads:
    dashboard: DashboardReads
    replays: ReplayStore
    experiments: ExperimentSummaries
    trends: RedisTrendStore  # the overview's trend points (server/services/trends.py)
    ingest_rate: IngestRate = field(default_factory=IngestRate)
    # The overview's slow figures by name: (monotonic time computed, value).
    figures: dict[str, tuple[float, Any]] = field(default_factory=dict)
    trend_sampler: TrendSampler | None = None  # a web process's (None: trends off, a worker)


@dataclass
class Connections:
    """Shopper sockets open on this process (the /track namespace counts them)."""

    open: int = 0


@dataclass
class Services:
    """Everything the web handlers, sockets and workers share, built once at start."""

    settings: Settings
    secret_key: str
    store: MongoStore
    redis: aioredis.Redis  # the client; the edges use the stores below, never this
    keys: RedisKeys  # every Redis key, by family (server/adapters/redis_keys.py)
    visitor_state: VisitorState  # visit id, opt-out, trigger and exposure marks
    counters: RequestCounters  # rate limits, failed admin logins
    catalog: CatalogStore
    carts: CartStore
    coupons: CouponStore
    orders: OrderStore
    admins: AdminStore
    pipeline: Pipeline
    personas: Personas
    privacy: Privacy
    admin: AdminReads
    notifier: Any  # Socket.IO emit: the server, or a write-only Redis manager in a worker
    connections: Connections = field(default_factory=Connections)
    valkey: EmbeddedValkey | None = None
    worker_process: WorkerProcess | None = None
    startup_messages: list[str] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    def key(self, *parts: str) -> str:
        """A Redis key under the configured prefix, for tests and tools: the app's own keys
        come from `keys`, one method per family."""
        return self.keys.raw(*parts)

    @property
    def redis_url(self) -> str:
        return self.valkey.url if self.valkey else self.settings.redis.url
