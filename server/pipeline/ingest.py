"""Ingest: validate a batch, stamp it, append it to the buffer once, answer with an ack."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any, Protocol

import orjson

from server.domain.experiments import assign_arm
from server.domain.zones import order_record
from server.pipeline.batch_schema import BatchRejected, Limits, validate_batch

ORDER_APPEND_ATTEMPTS = 6  # about 3 s in all while the stream is at its backlog bound


class EventBuffer(Protocol):
    async def append_once(self, pvid: str, seq: int, payload: bytes) -> int:
        """1: appended, 0: accepted before, -1: backlog full (retry later)."""
        ...


class Ingest:
    def __init__(
        self,
        buffer: EventBuffer,
        limits: Limits,
        holdout_fraction: float,
        force_arm: str = "",
        unavailable_errors: tuple[type[BaseException], ...] = (),
    ) -> None:
        self.buffer = buffer
        self.limits = limits
        self.holdout_fraction = holdout_fraction
        self.force_arm = force_arm
        self.unavailable_errors = unavailable_errors
        self.rejected: Counter[str] = Counter()
        self.accepted_batches = 0
        self.accepted_events = 0
        self.duplicate_batches = 0
        self.busy_batches = 0

    def reject(self, code: str) -> dict[str, Any]:
        self.rejected[code] += 1
        return {"ok": False, "error": code}

    async def accept(self, raw: Any, vid: str) -> dict[str, Any]:
        """Validate and append one batch; return the ack for the client."""
        try:
            batch = validate_batch(raw, vid, self.limits)
        except BatchRejected as rejection:
            return self.reject(rejection.code)
        payload = orjson.dumps(
            {
                "batch": batch,
                "rt": int(time.time() * 1000),
                "arm": assign_arm(vid, self.holdout_fraction, self.force_arm),
            }
        )
        if len(payload) > self.limits.max_bytes:
            return self.reject("too_large")
        try:
            appended = await self.buffer.append_once(batch["pvid"], batch["seq"], payload)
        except self.unavailable_errors:
            return self.reject("unavailable")
        if appended < 0:
            # The store is behind by the configured bound: delay, never loss. The client
            # keeps the batch and resends it, as it does for "unavailable".
            self.busy_batches += 1
            return self.reject("busy")
        if appended:
            self.accepted_batches += 1
            self.accepted_events += len(batch["events"])
        else:
            self.duplicate_batches += 1
        return {"ok": True, "seq": batch["seq"]}

    async def record_order(self, order: Mapping[str, Any], vid: str, sid: str) -> bool:
        """Append the server's record of a stored order, once per order (zone revenue:
        server/domain/zones.py). Safe to call again for the same order: a retried submit
        of the same idempotency key does, in case the first died before this append."""
        now_ms = int(time.time() * 1000)
        payload = orjson.dumps(
            {
                "batch": order_record(order, vid, sid, now_ms),
                "rt": now_ms,
                "arm": assign_arm(vid, self.holdout_fraction, self.force_arm),
            }
        )
        record = f"order-{order['_id']}"
        for attempt in range(ORDER_APPEND_ATTEMPTS):
            appended = await self.buffer.append_once(record, 0, payload)
            if appended >= 0:
                return True
            await asyncio.sleep(0.05 * 2**attempt)  # the backlog bound: wait for the flusher
        return False

    def snapshot(self) -> dict[str, Any]:
        return {
            "accepted_batches": self.accepted_batches,
            "accepted_events": self.accepted_events,
            "duplicate_batches": self.duplicate_batches,
            "busy_batches": self.busy_batches,
            "rejected": dict(self.rejected),
        }
