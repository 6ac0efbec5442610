"""The composition root: the one place that names concrete adapters, builds and starts them.

Every object is built once, here, and handed its collaborators through its constructor;
the typed result is `server.container.Services`. Nothing imports this module but the
entry points (server/app.py, server/__main__.py) and tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from typing import Any

import redis.asyncio as aioredis

from personas_engine.model import PersonaModel
from personas_engine.policy import PolicyConfig
from personas_engine.train import ensure_model
from server.adapters.admin_store import AdminStore
from server.adapters.aggregate_ledger import RedisAggregateLedger
from server.adapters.audit_store import AUDIT_INDEXES, AuditStore
from server.adapters.dashboard_store import DashboardReads
from server.adapters.embedded_valkey import EmbeddedValkey
from server.adapters.erasure import ERASURE_INDEXES, Eraser
from server.adapters.event_store import EVENT_INDEXES, MongoEventStore, event_retention
from server.adapters.experiment_store import ExperimentSummaries
from server.adapters.mongo_store import IndexSpec, MongoStore, RetentionRule
from server.adapters.persona_store import (
    PERSONA_INDEXES,
    PersonaHistory,
    PersonaStateStore,
    persona_retention,
)
from server.adapters.privacy_store import ConsentStore, privacy_retention
from server.adapters.redis_buffer import RedisEventBuffer
from server.adapters.redis_keys import WRITES, RedisKeys
from server.adapters.replay_store import (
    REPLAY_CHUNKS,
    REPLAY_INDEXES,
    ReplayStore,
    replay_retention,
)
from server.adapters.request_counters import RequestCounters
from server.adapters.secrets_file import read_or_create_secret
from server.adapters.shop_store import (
    EXPERIMENT_TRIGGERS,
    EXPOSURE_INDEXES,
    EXPOSURES,
    SHOP_INDEXES,
    TRIGGER_INDEXES,
    CartStore,
    CatalogStore,
    CouponStore,
    OrderStore,
)
from server.adapters.trend_store import RedisTrendStore
from server.adapters.visitor_state import VisitorState
from server.adapters.write_queue import RedisWriteQueue
from server.container import AdminReads, Personas, Pipeline, Privacy, Services
from server.pipeline.batch_schema import Limits
from server.pipeline.ingest import Ingest
from server.services.adaptation import AdaptationPusher
from server.services.live import AdminLiveViews, ShopperPersonaPush
from server.services.privacy import ConsentResolver
from server.services.trends import TrendSampler, keep_seconds
from server.settings import REPO_ROOT, Settings
from server.workers.checkpointer import Checkpointer
from server.workers.child import READY_TIMEOUT_S, WorkerProcess
from server.workers.consumer import Heartbeat, Worker, supervise
from server.workers.document_writer import DocumentWriter
from server.workers.flusher import GROUP as FLUSH_GROUP
from server.workers.flusher import Flusher
from server.workers.health import expected_workers
from server.workers.personas import GROUP as PERSONA_GROUP
from server.workers.personas import PersonaWorker

log = logging.getLogger(__name__)

CATALOG_FILE = REPO_ROOT / "server" / "seed" / "catalog.json"
REDIS_POOL_SIZE = 256
# How long one Redis reply may take before the call fails (the caller answers "unavailable"
# and the client keeps its batch). Explicit, because redis-py's default is 5 s, and on a
# loaded 2-core machine an event loop busy for a moment, or Valkey waiting on a slow AOF
# fsync, can hold a reply that long. Blocking reads (flusher `block_ms`, at most
# MAX_BLOCK_MS) stay well inside it.
REDIS_REPLY_TIMEOUT_S = 15.0
REDIS_CONNECT_TIMEOUT_S = 5.0
# How long a web process may take to start before Hypercorn gives up on it. A first start
# with no persona model for this code trains one (10 s on an idle core here, but two servers
# training at once on a busy machine took over Hypercorn's default 60 s and died), then
# waits up to READY_TIMEOUT_S for the worker process, which then serves anyway and says so;
# the start must outlast both rather than end the server.
MODEL_TRAINING_ALLOWANCE_S = 240.0
STARTUP_TIMEOUT_S = MODEL_TRAINING_ALLOWANCE_S + READY_TIMEOUT_S
# `python -m server worker flusher|personas|all`: which workers a process runs. "flusher"
# also runs the checkpointer, the document writer, experiment summaries and retention.
WORKER_ROLES = frozenset({"flusher", "personas"})
WRITE_STREAM = WRITES.pattern  # replay chunks and exposures on their way to MongoDB


def index_specs() -> list[IndexSpec]:
    """Every index the app needs, created at start while collections are empty."""
    return [*SHOP_INDEXES, *EXPOSURE_INDEXES, *TRIGGER_INDEXES, *EVENT_INDEXES, *PERSONA_INDEXES,
            *REPLAY_INDEXES, *AUDIT_INDEXES, *ERASURE_INDEXES]  # fmt: skip


def retention_rules(settings: Settings) -> list[RetentionRule]:
    """The retention rules the settings ask for."""
    return [*event_retention(settings), *persona_retention(settings), *replay_retention(settings),
            *privacy_retention(settings)]  # fmt: skip


def secret_key_for(settings: Settings) -> str:
    if settings.security.secret_key:
        return settings.security.secret_key
    return read_or_create_secret(settings.var_dir / "secret_key")


def plan_redis(settings: Settings) -> tuple[str, EmbeddedValkey | None]:
    """Decide the Redis URL now (the Socket.IO manager needs it before start)."""
    if settings.redis.url != "embedded":
        return settings.redis.url, None
    valkey = EmbeddedValkey(settings.var_dir / "valkey")
    return valkey.url, valkey


async def start_services(
    settings: Settings,
    valkey: EmbeddedValkey | None = None,
    *,
    seed: bool = True,
    notifier: Any = None,
    worker_process: bool = False,
    roles: frozenset[str] = WORKER_ROLES,
) -> Services:
    """Open stores and queues, create indexes, seed the catalog and the first admin.

    `notifier` is the Socket.IO server of a web process; a process without one (a worker)
    emits through a write-only Redis manager. The background workers start here when
    `[workers] mode` is "inline", or when this is the worker process; in "process" mode the
    web process starts that process last.
    """
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    if valkey is None and settings.redis.url == "embedded":
        _, valkey = plan_redis(settings)
    if valkey is not None:
        await valkey.start()
    # A blocking pool: thousands of sockets awaiting Redis at once wait for a connection
    # instead of failing with "Too many connections" (the default pool raises at 100).
    pool = aioredis.BlockingConnectionPool.from_url(
        valkey.url if valkey else settings.redis.url,
        max_connections=REDIS_POOL_SIZE,
        timeout=10,  # waiting for a free connection of the pool
        socket_timeout=REDIS_REPLY_TIMEOUT_S,
        socket_connect_timeout=REDIS_CONNECT_TIMEOUT_S,
        health_check_interval=30,
    )
    redis_client = aioredis.Redis.from_pool(pool)  # closing the client closes the pool
    try:
        await redis_client.ping()
    except BaseException:
        await redis_client.aclose()
        if valkey is not None:
            await valkey.stop()
        raise
    store = await MongoStore.open(settings.mongodb.uri, settings.mongodb.database, settings.var_dir)
    redis_url = valkey.url if valkey else settings.redis.url
    secret_key = secret_key_for(settings)
    keys = RedisKeys.of(settings)
    pipeline = build_pipeline(settings, redis_client, store, keys)
    services = Services(
        settings=settings,
        secret_key=secret_key,
        store=store,
        redis=redis_client,
        keys=keys,
        visitor_state=VisitorState(redis_client, keys),
        counters=RequestCounters(redis_client, keys),
        catalog=CatalogStore(store),
        carts=CartStore(store),
        coupons=CouponStore(store),
        orders=OrderStore(store),
        admins=AdminStore(store),
        pipeline=pipeline,
        personas=build_personas(settings, redis_client, store, keys),
        privacy=build_privacy(settings, redis_client, store, keys, pipeline.ledger, secret_key),
        admin=AdminReads(
            DashboardReads(store),
            ReplayStore(store),
            ExperimentSummaries(store),
            RedisTrendStore(redis_client, keys, keep_seconds(settings.trends)),
        ),
        notifier=notifier or write_only_notifier(settings, redis_url),
        valkey=valkey,
    )
    try:
        await store.ensure_indexes(index_specs())
        await store.apply_retention(retention_rules(settings))
        if seed:
            added = await services.catalog.seed(CATALOG_FILE)
            if added:
                services.startup_messages.append(f"seeded {added} products")
            await services.coupons.seed_public()
        if not worker_process:
            message = await services.admins.ensure_first_admin(
                os.environ.get("VITRINE_ADMIN_USER"),
                os.environ.get("VITRINE_ADMIN_PASSWORD"),
                settings.var_dir,
            )
            if message:
                services.startup_messages.append(message)
        if runs_workers(settings, worker_process):
            # From the workers' process, live deltas cross Redis: sum them once a second.
            live = AdminLiveViews(services.notifier, coalesce_s=1.0 if worker_process else 0.0)
            start_workers(services, live, roles)
        if settings.trends.enabled and not worker_process:
            start_trends(services)
        if settings.workers.mode == "process" and not worker_process:
            await start_worker_process(services)
    except BaseException:
        await stop_services(services)
        raise
    return services


def build_pipeline(
    settings: Settings, redis_client: aioredis.Redis, store: MongoStore, keys: RedisKeys
) -> Pipeline:
    """Ingest, the events stream, the event store, the ledger and the write queue."""
    max_backlog = settings.redis.max_backlog
    buffer = RedisEventBuffer(redis_client, keys, settings.redis.stream, max_backlog)
    ingest = Ingest(
        buffer,
        Limits(settings.tracking.max_events_per_batch, settings.tracking.max_batch_bytes),
        settings.experiments.holdout_fraction,
        settings.experiments.force_arm,
        unavailable_errors=(aioredis.RedisError, OSError),
    )
    return Pipeline(
        buffer=buffer,
        events=MongoEventStore(store),
        ingest=ingest,
        ledger=RedisAggregateLedger(redis_client, keys, stream=buffer.stream),
        heartbeat=Heartbeat(redis_client, keys),
        write_queue=RedisWriteQueue(redis_client, keys, WRITE_STREAM, max_backlog),
        write_buffer=RedisEventBuffer(redis_client, keys, WRITE_STREAM, max_backlog),
    )


def build_personas(
    settings: Settings, redis_client: aioredis.Redis, store: MongoStore, keys: RedisKeys
) -> Personas:
    """Persona state and history; the model loads (or trains) off the event loop."""
    model_task = asyncio.create_task(
        asyncio.to_thread(ensure_model, settings.models_dir), name="persona-model"
    )
    return Personas(
        states=PersonaStateStore(redis_client, keys),
        history=PersonaHistory(store),
        model=model_task,
    )


def build_privacy(
    settings: Settings, redis_client: aioredis.Redis, store: MongoStore, keys: RedisKeys,
    ledger: RedisAggregateLedger, secret_key: str,
) -> Privacy:  # fmt: skip
    """Consent records, flags and their one resolver; the eraser and the audit log."""
    default = settings.privacy.consent_default
    consent = ConsentStore(store, redis_client, keys, default)
    audit = AuditStore(store)
    eraser = Eraser(store, redis_client, keys, consent, audit, ledger)
    resolver = ConsentResolver(consent, secret_key, default)
    return Privacy(consent=consent, resolver=resolver, eraser=eraser, audit=audit)


def start_workers(services: Services, live: AdminLiveViews, roles: frozenset[str]) -> None:
    """Build and start the workers of `roles` ("flusher" brings the store-side ones)."""
    settings = services.settings
    pipeline = services.pipeline
    if "flusher" in roles:
        pipeline.document_writer = DocumentWriter(
            pipeline.write_queue,
            pipeline.write_buffer,
            services.store,
            collections=frozenset({REPLAY_CHUNKS, EXPOSURES, EXPERIMENT_TRIGGERS}),
            erased=erased_since(services),
            claim_idle_ms=settings.flusher.claim_idle_ms,
            heartbeat=pipeline.heartbeat,
        )
        start_worker(services, pipeline.document_writer)
        if settings.flusher.enabled:
            pipeline.flusher = make_flusher(services, on_flushed=live.on_flushed)
            pipeline.checkpointer = Checkpointer(
                pipeline.ledger, pipeline.events, every_s=settings.flusher.checkpoint_every_s,
                max_share=settings.flusher.checkpoint_max_share,
                # A restarted process under the same stable name takes over its own lease.
                owner=os.environ.get("VITRINE_FLUSHER_CONSUMER", ""),
                max_documents=settings.flusher.checkpoint_max_documents,
                heartbeat=pipeline.heartbeat,
            )  # fmt: skip
            start_worker(services, pipeline.flusher)
            start_worker(services, pipeline.checkpointer)
        if services.store.embedded:
            services.tasks.append(asyncio.create_task(purge_loop(services), name="retention"))
        services.tasks.append(
            asyncio.create_task(services.admin.experiments.run(), name="experiments")
        )
    if "personas" in roles and settings.personas.enabled:
        services.personas.worker = make_persona_worker(services, live)
        start_worker(services, services.personas.worker)


def start_trends(services: Services) -> None:
    """This web process's trend sampler: every web process reports its ingest counter, the
    one holding the lease records the points (one sampler per deployment)."""
    settings = services.settings.trends
    sampler = TrendSampler(
        services.admin.trends,
        services.admin.dashboard,
        services.pipeline.buffer,
        lambda: services.pipeline.ingest.accepted_events,
        every_s=settings.sample_every_s,
        process=f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}",
    )
    services.admin.trend_sampler = sampler
    services.tasks.append(asyncio.create_task(sampler.run(), name="trends"))


def start_worker(services: Services, worker: Worker) -> None:
    services.tasks.append(asyncio.create_task(supervise(worker), name=worker.name))


def policy_config(settings: Settings) -> PolicyConfig:
    personas = settings.personas
    return PolicyConfig(
        every_n_events=personas.repredict_every_events,
        every_s=personas.repredict_every_seconds,
        min_evidence=personas.min_evidence,
        threshold=personas.confidence_threshold,
        margin=personas.switch_margin,
        confirmations=personas.switch_confirmations,
    )


def make_persona_worker(services: Services, live: AdminLiveViews) -> PersonaWorker:
    """The persona worker and its listeners: the shopper's pages, the console, adaptations."""
    settings = services.settings
    personas = services.personas

    async def model_ready() -> PersonaModel:
        return await asyncio.shield(personas.model)

    if settings.mistral.mode != "off" and os.environ.get("MISTRAL_API_KEY"):
        personas.advisor = start_advisor(services)
    return PersonaWorker(
        services.pipeline.buffer, personas.states, personas.history, model_ready,
        policy_config(settings), erased=erased_since(services),
        listeners=(
            ShopperPersonaPush(services.notifier, services.privacy.consent),
            live.on_persona_change,
            AdaptationPusher(services, services.notifier),
        ),
        advisor=personas.advisor, read_count=settings.flusher.read_count,
        claim_idle_ms=settings.flusher.claim_idle_ms,
        consumer=os.environ.get("VITRINE_PERSONAS_CONSUMER") or None,
        heartbeat=services.pipeline.heartbeat,
    )  # fmt: skip


def start_advisor(services: Services) -> Any:
    """Mistral's second opinion (llama-index loads only when it is on); None if disabled."""
    from personas_engine.llm import advisor_from_settings

    advisor = advisor_from_settings(services.settings)
    if not advisor.enabled:
        return None
    services.tasks.append(asyncio.create_task(advisor.ensure_index(), name="mistral-index"))
    return advisor


def write_only_notifier(settings: Settings, redis_url: str) -> Any:
    """Emit to Socket.IO rooms from a process that serves no sockets (a standalone worker)."""
    import socketio

    return socketio.AsyncRedisManager(
        redis_url, channel=RedisKeys.of(settings).socketio_channel(), write_only=True
    )


def make_flusher(services: Services, *, on_flushed: Any = None) -> Flusher:
    settings = services.settings
    groups = (FLUSH_GROUP, PERSONA_GROUP) if settings.personas.enabled else (FLUSH_GROUP,)
    return Flusher(
        services.pipeline.buffer,
        services.pipeline.events,
        services.pipeline.ledger,
        personas_of=services.personas.states.personas_of,
        erased=erased_since(services),
        on_flushed=on_flushed,
        read_count=settings.flusher.read_count,
        max_round=settings.flusher.max_round,
        commit_size=settings.flusher.commit_size,
        round_every_s=settings.flusher.round_every_s,
        block_ms=settings.flusher.block_ms,
        claim_idle_ms=settings.flusher.claim_idle_ms,
        consumer=os.environ.get("VITRINE_FLUSHER_CONSUMER") or None,
        groups=groups,
        heartbeat=services.pipeline.heartbeat,
        frustration_rules=settings.frustration.rules(),
    )


def erased_since(services: Services) -> Any:
    """For the workers: which of these visitors were erased, and when (epoch ms)."""
    return services.privacy.eraser.erased_at


async def start_worker_process(services: Services) -> None:
    """Start the workers' child process once the model exists; serve once they run."""
    await asyncio.shield(services.personas.model)  # trained once, not by both processes
    child = WorkerProcess(services.settings, services.redis_url)
    services.worker_process = child
    since = time.time()
    await child.start()
    expected = expected_workers(services.settings)
    heartbeat = services.pipeline.heartbeat

    async def started(since: float) -> bool:
        beats = await heartbeat.read()
        return all(float(beats.get(name, {}).get("started_at", 0)) >= since for name in expected)

    if not await child.wait_ready(started, since):
        services.startup_messages.append("the worker process is not ready yet (see its log)")
    services.tasks.append(asyncio.create_task(child.supervise(), name="worker-process"))


def runs_workers(settings: Settings, worker_process: bool) -> bool:
    """Whether this process runs the background workers (see [workers] mode)."""
    return worker_process or settings.workers.mode == "inline"


async def purge_loop(services: Services, every_s: float | None = None) -> None:
    """The embedded engine's retention: TTL indexes would make every insert scan."""
    rules = retention_rules(services.settings)
    every_s = every_s or services.settings.retention.purge_every_minutes * 60
    while True:
        try:
            deleted = await services.store.purge_expired(rules)
            if any(deleted.values()):
                log.info("retention purge: %s", deleted)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("retention purge failed", exc_info=True)
        await asyncio.sleep(every_s)


async def stop_services(services: Services) -> None:
    """Stop background tasks, then close stores and the embedded server, in that order."""
    for task in services.tasks:
        task.cancel()
    for task in services.tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    services.tasks.clear()
    if services.worker_process is not None:
        await services.worker_process.stop()
    if services.personas.advisor is not None:
        with contextlib.suppress(Exception):
            await services.personas.advisor.aclose()
    with contextlib.suppress(Exception):
        await services.redis.aclose()
    with contextlib.suppress(Exception):
        await services.store.close()
    if services.valkey is not None:
        await services.valkey.stop()
