"""The composition root: the one place that names concrete adapters and starts them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from personas_engine.artifacts import ensure_model
from personas_engine.model import PersonaModel
from personas_engine.policy import PolicyConfig
from server.adapters.admin_store import AdminStore
from server.adapters.aggregate_ledger import RedisAggregateLedger
from server.adapters.audit_store import AUDIT_INDEXES, AuditStore
from server.adapters.embedded_valkey import EmbeddedValkey
from server.adapters.erasure import ERASURE_INDEXES, Eraser, erased_at
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
from server.adapters.replay_store import REPLAY_CHUNKS, REPLAY_INDEXES, replay_retention
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
from server.adapters.write_queue import RedisWriteQueue
from server.pipeline.batch_schema import Limits
from server.pipeline.ingest import Ingest
from server.settings import REPO_ROOT, Settings
from server.workers.checkpointer import Checkpointer
from server.workers.child import WorkerProcess
from server.workers.consumer import Heartbeat, Worker, supervise
from server.workers.document_writer import DocumentWriter
from server.workers.flusher import GROUP as FLUSH_GROUP
from server.workers.flusher import Flusher
from server.workers.personas import GROUP as PERSONA_GROUP
from server.workers.personas import PersonaWorker

log = logging.getLogger(__name__)

CATALOG_FILE = REPO_ROOT / "server" / "seed" / "catalog.json"
REDIS_POOL_SIZE = 256
# `python -m server worker flusher|personas|all`: which workers a process runs. "flusher"
# also runs the checkpointer, the document writer, experiment summaries and retention.
WORKER_ROLES = frozenset({"flusher", "personas"})
WRITE_STREAM = "writes"  # replay chunks and exposures on their way to MongoDB


@dataclass
class Services:
    """Everything the web handlers, sockets and workers share, built once at start."""

    settings: Settings
    secret_key: str
    store: MongoStore
    redis: aioredis.Redis
    catalog: CatalogStore
    carts: CartStore
    coupons: CouponStore
    orders: OrderStore
    admins: AdminStore
    valkey: EmbeddedValkey | None = None
    worker_process: WorkerProcess | None = None
    startup_messages: list[str] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)

    def key(self, *parts: str) -> str:
        """Return a Redis key under the configured prefix."""
        return self.settings.redis.key_prefix + ":".join(parts)

    @property
    def redis_url(self) -> str:
        return self.valkey.url if self.valkey else self.settings.redis.url


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

    The background workers start here when `[workers] mode` is "inline", or when this is
    the worker process; in "process" mode the web process starts that process last.
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
        timeout=10,
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
    services = Services(
        settings=settings,
        secret_key=secret_key_for(settings),
        store=store,
        redis=redis_client,
        catalog=CatalogStore(store),
        carts=CartStore(store),
        coupons=CouponStore(store),
        orders=OrderStore(store),
        admins=AdminStore(store),
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
        workers = runs_workers(settings, worker_process)
        wire_privacy(services)
        wire_pipeline(services, workers=workers and "flusher" in roles)
        notifier = services.extras["notifier"] = notifier or write_only_notifier(services)
        wire_personas(services, notifier, workers=workers and "personas" in roles)
        wire_experiments(services, workers=workers and "flusher" in roles)
        if settings.workers.mode == "process" and not worker_process:
            await start_worker_process(services)
    except BaseException:
        await stop_services(services)
        raise
    return services


async def start_worker_process(services: Services) -> None:
    """Start the workers' child process once the model exists; serve once they run."""
    await asyncio.shield(services.extras["model"])  # trained once, not by both processes
    child = WorkerProcess(services.settings, services.redis_url)
    services.worker_process = child
    since = time.time()
    await child.start()
    expected = expected_workers(services.settings)
    heartbeat: Heartbeat = services.extras["heartbeat"]

    async def started(since: float) -> bool:
        beats = await heartbeat.read()
        return all(float(beats.get(name, {}).get("started_at", 0)) >= since for name in expected)

    if not await child.wait_ready(started, since):
        services.startup_messages.append("the worker process is not ready yet (see its log)")
    services.tasks.append(asyncio.create_task(child.supervise(), name="worker-process"))


def expected_workers(settings: Settings) -> tuple[str, ...]:
    """The workers a deployment with these settings runs somewhere (what /healthz expects)."""
    flusher = ("flusher", "checkpointer") if settings.flusher.enabled else ()
    return ("writer", *flusher) + (("personas",) if settings.personas.enabled else ())


def runs_workers(settings: Settings, worker_process: bool) -> bool:
    """Whether this process runs the background workers (see [workers] mode)."""
    return worker_process or settings.workers.mode == "inline"


def wire_pipeline(services: Services, *, workers: bool) -> None:
    """Build ingest, the event store and the ledger; with `workers`, start the flusher,
    the checkpointer and the purge task."""
    settings = services.settings
    prefix = settings.redis.key_prefix
    buffer = RedisEventBuffer(
        services.redis, prefix, settings.redis.stream, settings.redis.max_backlog
    )
    events = MongoEventStore(services.store)
    ledger = RedisAggregateLedger(services.redis, prefix)
    heartbeat = Heartbeat(services.redis, prefix)
    ingest = Ingest(
        buffer,
        Limits(settings.tracking.max_events_per_batch, settings.tracking.max_batch_bytes),
        settings.experiments.holdout_fraction,
        settings.experiments.force_arm,
        unavailable_errors=(aioredis.RedisError, OSError),
    )
    write_queue = RedisWriteQueue(services.redis, prefix, WRITE_STREAM, settings.redis.max_backlog)
    write_buffer = RedisEventBuffer(
        services.redis, prefix, WRITE_STREAM, settings.redis.max_backlog
    )
    services.extras.update(
        buffer=buffer, events=events, ingest=ingest, ledger=ledger, heartbeat=heartbeat,
        write_queue=write_queue, write_buffer=write_buffer,
    )  # fmt: skip
    if not workers:
        return
    writer = DocumentWriter(
        write_queue,
        write_buffer,
        services.store,
        collections=frozenset({REPLAY_CHUNKS, EXPOSURES, EXPERIMENT_TRIGGERS}),
        erased=erased_since(services),
        claim_idle_ms=settings.flusher.claim_idle_ms,
        heartbeat=heartbeat,
    )
    services.extras["document_writer"] = writer
    start_worker(services, writer)
    if settings.flusher.enabled:
        flusher = make_flusher(services)
        checkpointer = Checkpointer(
            ledger, events, every_s=settings.flusher.checkpoint_every_s,
            max_share=settings.flusher.checkpoint_max_share,
            # A restarted process under the same stable name takes over its own lease.
            owner=os.environ.get("VITRINE_FLUSHER_CONSUMER", ""),
            max_documents=settings.flusher.checkpoint_max_documents, heartbeat=heartbeat,
        )  # fmt: skip
        services.extras.update(flusher=flusher, checkpointer=checkpointer)
        start_worker(services, flusher)
        start_worker(services, checkpointer)
    if services.store.embedded:
        services.tasks.append(asyncio.create_task(purge_loop(services), name="retention"))


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


def wire_personas(services: Services, notifier: Any, *, workers: bool) -> None:
    """Load (or train, off the event loop) the model and start the persona worker."""
    settings = services.settings
    states = PersonaStateStore(services.redis, settings.redis.key_prefix)
    history = PersonaHistory(services.store)
    model_task = asyncio.create_task(
        asyncio.to_thread(ensure_model, settings.models_dir), name="persona-model"
    )
    services.extras.update(persona_states=states, persona_history=history, model=model_task)

    async def model_ready() -> PersonaModel:
        return await asyncio.shield(model_task)

    if settings.personas.enabled and workers:
        worker = PersonaWorker(
            services.extras["buffer"], states, history, model_ready, notifier,
            policy_config(settings), read_count=settings.flusher.read_count,
            consumer=os.environ.get("VITRINE_PERSONAS_CONSUMER") or None,
            heartbeat=services.extras["heartbeat"],
        )  # fmt: skip
        services.extras["persona_worker"] = worker
        worker.consent = services.extras["consent"]
        worker.erased = erased_since(services)
        from server.workers.adapt_push import AdaptationPusher  # imports the web layer

        worker.listeners.append(AdaptationPusher(services, notifier))
        if settings.mistral.mode != "off" and os.environ.get("MISTRAL_API_KEY"):
            attach_advisor(services, worker)
        start_worker(services, worker)


def attach_advisor(services: Services, worker: PersonaWorker) -> None:
    """Give the worker Mistral's second opinion (llama-index loads only when it is on)."""
    from personas_engine.llm import advisor_from_settings

    advisor = advisor_from_settings(services.settings)
    if not advisor.enabled:
        return
    worker.advisor = advisor
    services.extras["advisor"] = advisor
    services.tasks.append(asyncio.create_task(advisor.ensure_index(), name="mistral-index"))


def wire_experiments(services: Services, *, workers: bool) -> None:
    """Start the job that folds visitors and orders into the experiment summary, off requests."""
    experiments = services.extras["experiments"] = ExperimentSummaries(services.store)
    if workers:
        services.tasks.append(asyncio.create_task(experiments.run(), name="experiments"))


def write_only_notifier(services: Services) -> Any:
    """Emit to Socket.IO rooms from a process that serves no sockets (a standalone worker)."""
    import socketio

    return socketio.AsyncRedisManager(
        services.redis_url, channel=services.settings.redis.key_prefix + "socketio",
        write_only=True,
    )  # fmt: skip


def make_flusher(services: Services) -> Flusher:
    settings = services.settings
    states = PersonaStateStore(services.redis, settings.redis.key_prefix)
    groups = (FLUSH_GROUP, PERSONA_GROUP) if settings.personas.enabled else (FLUSH_GROUP,)
    return Flusher(
        services.extras["buffer"],
        services.extras["events"],
        services.extras["ledger"],
        personas_of=states.personas_of,
        erased=erased_since(services),
        read_count=settings.flusher.read_count,
        max_round=settings.flusher.max_round,
        commit_size=settings.flusher.commit_size,
        round_every_s=settings.flusher.round_every_s,
        block_ms=settings.flusher.block_ms,
        claim_idle_ms=settings.flusher.claim_idle_ms,
        consumer=os.environ.get("VITRINE_FLUSHER_CONSUMER") or None,
        groups=groups,
        heartbeat=services.extras["heartbeat"],
    )


def wire_privacy(services: Services) -> None:
    """Consent records and flags, and the eraser (docs/privacy.md)."""
    consent = ConsentStore(
        services.store, services.redis, services.settings.redis.key_prefix,
        services.settings.privacy.consent_default,
    )  # fmt: skip
    prefix = services.settings.redis.key_prefix
    eraser = Eraser(services.store, services.redis, prefix, consent, AuditStore(services.store),
                    RedisAggregateLedger(services.redis, prefix))  # fmt: skip
    services.extras.update(consent=consent, eraser=eraser)


def erased_since(services: Services) -> Any:
    """For the workers: which of these visitors were erased, and when (epoch ms)."""
    prefix = services.settings.redis.key_prefix
    return lambda vids: erased_at(services.redis, prefix, vids)


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
    if "advisor" in services.extras:
        with contextlib.suppress(Exception):
            await services.extras["advisor"].aclose()
    with contextlib.suppress(Exception):
        await services.redis.aclose()
    with contextlib.suppress(Exception):
        await services.store.close()
    if services.valkey is not None:
        await services.valkey.stop()
