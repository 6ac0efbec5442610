"""What tests read to know where the pipeline is: events stored, the stream drained, every
worker idle."""

from __future__ import annotations

from typing import Any

import aiohttp


async def stored_event_count(app: Any) -> int:
    """Events stored in MongoDB, each batch once (in whichever layout it was written)."""
    return await app.services.pipeline.events.count_events({})


async def stream_drained(url: str) -> bool:
    """Whether the flusher has read and acknowledged every batch in the stream (`/healthz`).

    A batch is acknowledged only once written, so after this nothing more can land from
    what was sent before: the signal a "nothing more arrived" check waits for.
    """
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "/healthz") as response:
            report = await response.json()
    stream = report.get("stream") or {}
    return stream.get("lag") == 0 and stream.get("pending") == 0


async def pipeline_idle(url: str) -> bool:
    """Whether no worker `/healthz` reports has anything waiting.

    The flusher and the persona worker have acknowledged every batch in the stream, the
    writer every queued write, and the checkpointer has moved every aggregate into MongoDB.
    Counts read after this cannot change from what was sent before: the signal a test that
    compares counts before and after an action waits for.
    """
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "/healthz") as response:
            report = await response.json()
    workers = report.get("workers") or {}
    return bool(workers) and all(w.get("waiting") == 0 for w in workers.values())
