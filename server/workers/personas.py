"""Persona worker: consumer group "personas" on the events stream.

Per visit it folds new batches into the feature state kept in Redis, re-predicts every N
events or T seconds, changes the shown persona only with hysteresis, records every
prediction, and tells its listeners about each change (server/services/live.py: the
visitor's open pages, the admin console's markers; the adaptation pusher).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from pymongo.errors import PyMongoError

from personas_engine.features import feature_vector, fold_batch
from personas_engine.model import PersonaModel, Prediction
from personas_engine.policy import PolicyConfig, should_repredict, update_display
from personas_engine.vocabulary import PERSONAS
from server.adapters.persona_store import PersonaHistory, PersonaStateStore, VisitState
from server.adapters.redis_buffer import RedisEventBuffer, StreamEntry
from server.domain.zones import is_server_record
from server.pipeline.aggregate import StreamedBatch
from server.services.live import PersonaChange
from server.workers.consumer import Heartbeat, Worker, consumer_name
from server.workers.flusher import decode_entry

log = logging.getLogger(__name__)

GROUP = "personas"


PersonaListener = Callable[[PersonaChange], Awaitable[None]]
# visitor ids -> those erased, with the erasure time in epoch ms (docs/privacy.md)
ErasedAt = Callable[[set[str]], Awaitable[dict[str, int]]]


@dataclass
class PersonaWorkerStats:
    rounds: int = 0  # rounds that read batches
    predictions: int = 0
    changes: int = 0
    last_round_ms: float = 0.0

    def snapshot(self) -> dict[str, Any]:
        return {
            "rounds": self.rounds,
            "predictions": self.predictions,
            "changes": self.changes,
            "last_round_ms": round(self.last_round_ms, 1),
        }


def persona_payload(prediction: Prediction, display_confidence: float, at: float) -> dict[str, Any]:
    """What the shopper's page and the admin console receive when the persona changes."""
    return {
        "persona": prediction.persona,
        "confidence": round(display_confidence, 4),
        "probabilities": prediction.probabilities,
        "reasons": prediction.reasons,
        "model_version": prediction.model_version,
        "source": "local",
        "at": datetime.fromtimestamp(at, UTC).isoformat(),
    }


class PersonaWorker(Worker):
    name = "personas"

    def __init__(
        self,
        buffer: RedisEventBuffer,
        states: PersonaStateStore,
        history: PersonaHistory,
        model_ready: Callable[[], Awaitable[PersonaModel]],
        policy: PolicyConfig,
        *,
        erased: ErasedAt,
        listeners: Sequence[PersonaListener] = (),
        advisor: Any = None,
        read_count: int = 200,
        block_ms: int = 1000,
        claim_idle_ms: int = 30_000,
        consumer: str | None = None,
        heartbeat: Heartbeat | None = None,
    ) -> None:
        super().__init__(heartbeat=heartbeat)
        self.buffer = buffer
        self.states = states
        self.history = history
        self.model_ready = model_ready
        self.policy = policy
        self.erased = erased
        # Told of every change, in order; one failing does not stop the others.
        self.listeners = tuple(listeners)
        self.read_count = read_count
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms  # a consumer silent this long is presumed dead
        self.consumer = consumer or consumer_name("personas")
        self.counts = PersonaWorkerStats()
        self._model: PersonaModel | None = None
        # The Mistral second opinion (None when off): asked off the ingest and request paths.
        self.advisor = advisor
        self._second_opinions: set[asyncio.Task[None]] = set()
        # Visits this worker has seen: (vid, last path), and when an unread one is due.
        self._visits: dict[str, tuple[str, str]] = {}
        self._due: dict[str, float] = {}

    async def prepare(self) -> None:
        self._model = await self.model_ready()
        await self.buffer.ensure_group(GROUP)

    async def round(self) -> None:
        """Claim what a dead consumer left, else read new batches; predict what is due."""
        assert self._model is not None  # set by prepare()
        stale = await self.buffer.claim_stale(
            GROUP, self.consumer, self.claim_idle_ms, self.read_count
        )
        entries = stale or await self.buffer.read(
            GROUP, self.consumer, self.read_count, self.block_ms
        )
        if entries:
            await self.process(entries, self._model)
        await self.predict_due(self._model)
        self.stats.waiting = len(entries)

    def snapshot(self) -> dict[str, Any]:
        return {**self.stats.snapshot(), **self.counts.snapshot()}

    def _ask_second_opinion(
        self, vid: str, sid: str, state: VisitState, prediction: Prediction, path: str
    ) -> None:
        if len(self._second_opinions) >= 100:  # the advisor limits concurrency; this bounds memory
            return
        task = asyncio.create_task(
            self._second_opinion(vid, sid, feature_vector(state.features), prediction, path)
        )
        self._second_opinions.add(task)
        task.add_done_callback(self._second_opinions.discard)

    async def _second_opinion(
        self, vid: str, sid: str, features: dict[str, float], local: Prediction, path: str
    ) -> None:
        """Feed Mistral's answer through the same hysteresis as a local prediction."""
        try:
            advice = await self.advisor.advise(vid, features, local)
            if advice.source != "mistral":
                return  # the advisor fell back to the local model: nothing new to apply
            state = (await self.states.load([sid]))[sid]
            others = (1.0 - advice.confidence) / (len(PERSONAS) - 1)
            probabilities = {p: advice.confidence if p == advice.persona else others
                             for p in PERSONAS}  # fmt: skip
            before = state.display.persona
            state.display = update_display(
                state.display, advice.persona, probabilities, self.policy
            )
            changed = state.display.persona != before
            now = time.time()
            payload = {
                "persona": advice.persona, "confidence": round(advice.confidence, 4),
                "probabilities": probabilities, "reasons": [advice.rationale],
                "model_version": local.model_version, "source": "mistral",
                "at": datetime.fromtimestamp(now, UTC).isoformat(),
            }  # fmt: skip
            await self.states.save({sid: state}, {vid: payload} if changed else {})
            record = {**payload, "vid": vid, "sid": sid, "at": datetime.fromtimestamp(now, UTC),
                      "shown": state.display.persona, "changed": changed}  # fmt: skip
            await self.history.record([record])
            if changed:
                await self._push(vid, sid, payload, path)
        except asyncio.CancelledError:
            raise
        except Exception:  # a second opinion must never take the worker down
            log.warning("second opinion failed for %s", vid, exc_info=True)

    async def _push(self, vid: str, sid: str, payload: dict[str, Any], path: str) -> None:
        change = PersonaChange(vid, sid, payload, path)
        for listener in self.listeners:
            try:
                await listener(change)
            except (aioredis.RedisError, OSError, PyMongoError):
                log.warning("persona listener failed for %s", vid, exc_info=True)

    async def process(self, entries: list[StreamEntry], model: PersonaModel) -> None:
        """Fold one round of batches, predict where due, record, push changes, acknowledge."""
        started = time.perf_counter()
        by_session: dict[str, list[StreamedBatch]] = defaultdict(list)
        decoded = [decode_entry(entry) for entry in entries]
        erased = await self.erased({i.batch["vid"] for i in decoded})
        for item in decoded:
            if is_server_record(item.batch):
                continue  # an order's record for the zone report: no page, no behaviour
            if item.received_ms > erased.get(item.batch["vid"], -1):
                by_session[item.batch["sid"]].append(item)
        states = await self.states.load(list(by_session))
        for sid, items in by_session.items():
            state = states[sid]
            items.sort(key=lambda i: (i.batch["t0"], i.batch["seq"]))
            for item in items:
                state.features = fold_batch(state.features, item.batch)
                state.events_since += len(item.batch["events"])
            self._visits[sid] = (items[0].batch["vid"], items[-1].batch["path"])
        await self._predict(states, model, force=False)
        await self.buffer.ack(GROUP, [entry.entry_id for entry in entries])
        self.counts.rounds += 1
        self.counts.last_round_ms = (time.perf_counter() - started) * 1000

    async def predict_due(self, model: PersonaModel) -> None:
        """Re-predict visits with unread evidence once T seconds passed, even if they went quiet.

        Without this, a shopper who stops on the checkout page after a few events would keep
        the prediction made from their first batch.
        """
        now = time.time()
        due = [sid for sid, at in self._due.items() if at <= now]
        if not due:
            return
        states = await self.states.load(due)
        await self._predict(states, model, force=True)

    async def _predict(
        self, states: dict[str, VisitState], model: PersonaModel, *, force: bool
    ) -> None:
        now = time.time()
        records: list[dict[str, Any]] = []
        changed_personas: dict[str, dict[str, Any]] = {}
        pushes: list[tuple[str, str, dict[str, Any], str]] = []
        for sid, state in states.items():
            vid, path = self._visits.get(sid, ("", "/"))
            seconds = now - state.predicted_at
            if not (force and state.events_since > 0) and not should_repredict(
                state.events_since, seconds, self.policy.every_n_events, self.policy.every_s
            ):
                if state.events_since > 0:
                    self._due[sid] = state.predicted_at + self.policy.every_s
                continue
            self._due.pop(sid, None)
            prediction = model.predict_state(
                state.features, min_evidence=self.policy.min_evidence, sure=self.policy.sure
            )
            before = state.display.persona
            state.display = update_display(
                state.display, prediction.persona, prediction.probabilities, self.policy
            )
            state.events_since, state.predicted_at = 0, now
            changed = state.display.persona != before
            records.append(
                {
                    "vid": vid, "sid": sid, "at": datetime.fromtimestamp(now, UTC),
                    **prediction.to_dict(), "shown": state.display.persona,
                    "source": "local", "changed": changed,
                }
            )  # fmt: skip
            if self.advisor is not None and prediction.persona in PERSONAS:
                self._ask_second_opinion(vid, sid, state, prediction, path)
            if changed:
                # Hysteresis only ever switches to the persona just predicted.
                payload = persona_payload(prediction, state.display.confidence, now)
                changed_personas[vid] = payload
                pushes.append((vid, sid, payload, path))
        await self.states.save(states, changed_personas)
        await self.history.record(records)
        for vid, sid, payload, path in pushes:
            await self._push(vid, sid, payload, path)
        self.counts.predictions += len(records)
        self.counts.changes += len(pushes)
        if len(self._visits) > 100_000:  # bounded: forget the oldest half
            for sid in list(self._visits)[:50_000]:
                self._visits.pop(sid, None)
                self._due.pop(sid, None)
