"""The pipeline's health as `/healthz` and the admin overview report it, from any process.

Workers write heartbeats to Redis (server/workers/consumer.py); this reads them with the
stream's lag and the ledger's backlog. A worker is *stalled* when work waits for it and it
has not finished a round for `[workers] stall_after_s` (or never reported at all).
"""

from __future__ import annotations

import time
from typing import Any

from server.adapters.aggregate_ledger import RedisAggregateLedger
from server.adapters.redis_buffer import RedisEventBuffer
from server.settings import Settings
from server.workers.consumer import Heartbeat

# Which work each worker is waiting on: a consumer group of the events stream, or the ledger.
FLUSHER, PERSONAS, CHECKPOINTER, WRITER = "flusher", "personas", "checkpointer", "writer"


async def pipeline_health(
    heartbeat: Heartbeat,
    buffer: RedisEventBuffer,
    ledger: RedisAggregateLedger,
    *,
    expected: tuple[str, ...],
    stall_after_s: float,
    writes: RedisEventBuffer | None = None,
) -> dict[str, Any]:
    """Each expected worker's state, the stream's lag, and whether ingest pushes back."""
    beats = await heartbeat.read()
    now = time.time()
    waiting: dict[str, int] = {CHECKPOINTER: await ledger.backlog()}
    stream = await buffer.lag(FLUSHER)
    waiting[FLUSHER] = stream["lag"] + stream["pending"]
    if PERSONAS in expected:
        personas = await buffer.lag(PERSONAS)
        waiting[PERSONAS] = personas["lag"] + personas["pending"]
    if writes is not None:
        writer = await writes.lag(WRITER)
        waiting[WRITER] = writer["lag"] + writer["pending"]
    workers: dict[str, Any] = {}
    for name in expected:
        state = dict(beats.get(name) or {})
        last = float(state.get("last_round_at") or 0.0)
        since = now - (last or float(state.get("started_at") or 0.0) or now)
        queued = waiting.get(name, 0)
        reason = ""
        if queued and not state:
            reason = f"{queued} waiting and no heartbeat from {name}"
        elif queued and since > stall_after_s:
            reason = f"{queued} waiting and no round finished for {since:.0f} s"
            if state.get("last_error"):
                reason += f" (last error: {state['last_error']})"
        workers[name] = {**state, "waiting": queued, "seconds_since_round": round(since, 1),
                         "stalled": bool(reason), "reason": reason}  # fmt: skip
    backpressure = stream["stream_length"] >= buffer.max_backlog
    return {
        "ok": not any(w["stalled"] for w in workers.values()) and not backpressure,
        "workers": workers,
        "stream": stream,
        "backpressure": backpressure,
        "max_backlog": buffer.max_backlog,
    }


def expected_workers(settings: Settings) -> tuple[str, ...]:
    """The workers a deployment with these settings runs somewhere (what /healthz expects)."""
    flusher = ("flusher", "checkpointer") if settings.flusher.enabled else ()
    return ("writer", *flusher) + (("personas",) if settings.personas.enabled else ())
