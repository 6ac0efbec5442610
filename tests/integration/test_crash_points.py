"""Deterministic crash points: a flusher process killed at each step of a round loses nothing
and doubles nothing.

For every crash point of the flush path (server/workers/flusher.py CRASH_POINTS: after the
frames are inserted, after they are noted as framed, after the commit of one slice's
aggregates + XACK with more slices of the round to go; server/workers/checkpointer.py
CRASH_POINTS: after the new hashes are stamped, after the documents are written, after the
dirty set is settled), the same fixed input is appended to a fresh stream, a
`python -m server worker flusher` process set to crash once at that step runs until it dies
(exit code 86, as `os._exit` in the middle of a round), then a normal flusher process with
the same consumer name runs until the stream is drained and the dirty set is empty. What
MongoDB then holds (raw batches, sessions, experiment visitors, heatmap bins, scroll depth)
must be exactly what a run without a crash wrote.

The input is the same bytes in every run: ingest validates and stamps the batches once
(its received time is in the payload, see server/pipeline/ingest.py), and each run appends
those payloads, so even the time fields, and the heatmap and scroll ids that contain the
receive day, are the same. Only bookkeeping differs (each document's generation and
`updated_at`): the comparison leaves those out (tests/support/recompute.py `comparable`).
One field is exact only to the hour by design: a visitor's `last_seen` is a MAX_HOURLY op
(server/pipeline/ledger.py), so a later batch moves it in Redis without making the document
dirty; it is compared as its hour (the input is stamped within one hour).
"""

from __future__ import annotations

import contextlib
import itertools
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis

from personas_engine.simulate import simulate_visits
from server.adapters.aggregate_ledger import RedisAggregateLedger
from server.adapters.event_store import MongoEventStore
from server.adapters.mongo_store import MongoStore
from server.adapters.redis_buffer import RedisEventBuffer
from server.adapters.redis_keys import RedisKeys
from server.pipeline.batch_schema import Limits
from server.pipeline.ingest import Ingest
from server.settings import Settings
from server.workers import checkpointer, flusher
from server.workers.flusher import CRASH_AT_ENV, GROUP
from tests.support.batches import batch, click, moves, page_event, page_view_id
from tests.support.flusher_process import FlusherProcess
from tests.support.polling import eventually
from tests.support.recompute import comparable, expected_documents, stored_documents
from tests.support.settings import build_settings, unique_name

CRASH_STEPS = (*flusher.CRASH_POINTS, *checkpointer.CRASH_POINTS)
HOUR_MS = 3_600_000
CRASHED = 86  # the exit code of crash_point()
CONSUMER = "flusher-0"  # stable: the restarted process resumes its own pending round
# Small rounds, so a crash lands early with most of the input still to come, and frequent
# checkpoints, so later rounds change documents an interrupted checkpoint already wrote.
FLUSH_ENV = {
    "VITRINE_FLUSHER__READ_COUNT": "16",
    "VITRINE_FLUSHER__MAX_ROUND": "16",
    "VITRINE_FLUSHER__COMMIT_SIZE": "5",  # a round commits in slices: a crash between them
    "VITRINE_FLUSHER__ROUND_EVERY_S": "0.05",
    "VITRINE_FLUSHER__BLOCK_MS": "100",
    "VITRINE_FLUSHER__CHECKPOINT_EVERY_S": "0.2",
}


class _Recorder:
    """An event buffer that keeps what ingest would append, in order (no Redis)."""

    def __init__(self) -> None:
        self.appended: list[tuple[str, int, bytes]] = []
        self._seen: set[tuple[str, int]] = set()

    async def append_once(self, pvid: str, seq: int, payload: bytes) -> int:
        if (pvid, seq) in self._seen:
            return 0
        self._seen.add((pvid, seq))
        self.appended.append((pvid, seq, payload))
        return 1


def _handmade_visit(vid: str, sid: str) -> list[dict[str, Any]]:
    """Pages, moves, clicks, scrolls, visibility and a cart that ends in an order, with
    batches without a page event (their view's width comes from an earlier round), a rage
    click split over two batches and a quick back from the cart (frustration signals carry
    detection state from round to round)."""
    t0 = 1_760_000_000_000
    product, cart, back = page_view_id(), page_view_id(), page_view_id()
    return [
        batch(vid, sid, product, 0, [page_event("/product/p002", 390), *moves(12)],
              "/product/p002", t0),
        batch(vid, sid, product, 1, [click(700), {"k": "scroll", "t": 800, "y": 900, "d": 0.45},
              click(850), {"k": "cart", "t": 900, "op": "add", "pid": "p002", "q": 2}],
              "/product/p002", t0),
        batch(vid, sid, product, 2, [click(1000), {"k": "scroll", "t": 1500, "y": 1800, "d": 0.9},
              {"k": "vis", "t": 1600, "s": "hidden", "act_ms": 1400}], "/product/p002", t0),
        batch(vid, sid, cart, 0, [page_event("/cart", 390), click(300, "#checkout")],
              "/cart", t0 + 2000),
        batch(vid, sid, cart, 1, [{"k": "cart", "t": 500, "op": "checkout"},
              {"k": "cart", "t": 900, "op": "order"}, *moves(4, 950)], "/cart", t0 + 2000),
        batch(vid, sid, back, 0, [page_event("/product/p002", 390)], "/product/p002", t0 + 4000),
    ]  # fmt: skip


_INPUT: list[tuple[str, int, bytes]] = []


async def fixed_input() -> list[tuple[str, int, bytes]]:
    """Realistic visits (a visitor with three sessions among them), validated and stamped
    by ingest once: every run appends exactly these payloads."""
    if _INPUT:
        return _INPUT
    visits = simulate_visits(6, 11)
    returning = visits[0].batches[0]["vid"]
    sessions: list[list[tuple[str, dict[str, Any]]]] = []
    for index, visit in enumerate(visits):
        vid = returning if index in (0, 4, 5) else visit.batches[0]["vid"]
        sessions.append([(vid, {**item, "vid": vid}) for item in visit.batches])
    sessions.append([(returning, item) for item in _handmade_visit(returning, "sHandmade0001")])
    # Shoppers browse at the same time: their batches interleave (each session in order).
    batches = [item for group in itertools.zip_longest(*sessions) for item in group if item]
    recorder = _Recorder()
    ingest = Ingest(recorder, Limits(), holdout_fraction=0.5)
    for vid, item in batches:
        ack = await ingest.accept(item, vid)
        assert ack["ok"], ack
    assert ingest.duplicate_batches > 0  # the simulation resends some batches, as networks do
    hours = {orjson.loads(payload)["rt"] // HOUR_MS for _, _, payload in recorder.appended}
    if len(hours) > 1:  # stamped across an hour boundary (a few ms of bad luck): again
        return await fixed_input()
    _INPUT.extend(recorder.appended)
    return _INPUT


def hourly(result: dict[str, Any]) -> dict[str, Any]:
    """The documents with each visitor's `last_seen` as its hour (see the module doc)."""
    visitors = {
        vid: {**doc, "last_seen": doc["last_seen"] // HOUR_MS}
        for vid, doc in result["visitors"].items()
    }
    return {**result, "visitors": visitors}


@dataclass
class Stack:
    """One run's Redis keys and MongoDB database, read from this process."""

    settings: Settings
    redis: aioredis.Redis
    store: MongoStore
    buffer: RedisEventBuffer
    ledger: RedisAggregateLedger
    events: MongoEventStore

    async def append_input(self, part: slice = slice(None)) -> None:
        for pvid, seq, payload in (await fixed_input())[part]:
            assert await self.buffer.append_once(pvid, seq, payload) == 1

    async def drained(self) -> bool:
        lag = await self.buffer.lag(GROUP)
        if lag["lag"] or lag["pending"] or await self.ledger.backlog():
            return False
        return len(await self.events.stored_batches({})) == len(await fixed_input())

    async def result(self) -> dict[str, Any]:
        return {
            "batches": [comparable(chunk) for chunk in await self.events.stored_batches({})],
            **await stored_documents(self.events),
        }


@contextlib.asynccontextmanager
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    client = aioredis.Redis.from_url(settings.redis.url)
    store = await MongoStore.open(settings.mongodb.uri, settings.mongodb.database, settings.var_dir)
    keys = RedisKeys.of(settings)
    try:
        yield Stack(
            settings, client, store,
            RedisEventBuffer(client, keys, settings.redis.stream, 1_000_000),
            RedisAggregateLedger(client, keys), MongoEventStore(store),
        )  # fmt: skip
    finally:
        await store.close()
        await client.aclose()


def flusher_process(settings: Settings, log_path: Path, **env: str) -> FlusherProcess:
    return FlusherProcess(settings, log_path, VITRINE_FLUSHER_CONSUMER=CONSUMER,
                          **FLUSH_ENV, **env)  # fmt: skip


async def run_until_drained(run: Stack, process: FlusherProcess) -> None:
    await process.start()
    try:

        async def drained() -> bool:
            assert process.running(), f"the flusher process died; log:\n{process.log()}"
            return await run.drained()

        await eventually(drained, timeout=120, interval=0.25)
    finally:
        code = await process.stop()
    assert code in (0, -signal.SIGTERM), process.log()


@pytest.fixture(scope="module")
async def baseline(
    valkey: Any, tmp_path_factory: pytest.TempPathFactory, models_dir: Path
) -> dict[str, Any]:
    """What a run without a crash stores (its own database and key prefix)."""
    name = unique_name("tbase")
    var_dir = tmp_path_factory.mktemp("baseline") / "var"
    settings = build_settings(name, var_dir, models_dir, valkey.url)
    async with stack(settings) as run:
        await run.append_input()
        await run_until_drained(run, flusher_process(settings, var_dir.parent / "flusher.log"))
        result = await run.result()
        # The baseline itself is exactly once: the aggregates are those recomputed from the
        # stored raw batches, and every batch is stored.
        recomputed = hourly(await expected_documents(run.events))
        assert {name: hourly(result)[name] for name in recomputed} == recomputed
    assert len(result["batches"]) == len(await fixed_input())
    # The handmade visit's signals are there to be lost or doubled by a crash.
    signals = [doc["n"] for doc in result["frustration"].values()]
    assert {"rage", "quick_back"} <= {kind for counts in signals for kind in counts}
    return result


@pytest.mark.parametrize("step", CRASH_STEPS)
async def test_a_flusher_killed_at_each_step_leaves_what_a_run_without_crash_leaves(
    step: str, baseline: dict[str, Any], make_settings: Any, tmp_path: Path
) -> None:
    settings = make_settings()
    marker = tmp_path / "crashed-once"
    half = len(await fixed_input()) // 2
    async with stack(settings) as run:
        # The second half comes after the crash: whichever step it died at, rounds and
        # checkpoints follow that change documents the interrupted ones wrote.
        await run.append_input(slice(None, half))
        started = time.monotonic()
        doomed = flusher_process(
            settings, tmp_path / "crashing.log",
            **{CRASH_AT_ENV: step, CRASH_AT_ENV + "_ONCE": str(marker)},
        )  # fmt: skip
        await doomed.start()
        try:
            code = await doomed.exit_code(timeout=90)
        finally:
            await doomed.stop()
        crashed_at = time.monotonic()
        assert code == CRASHED, doomed.log()
        assert marker.exists()
        lag = await run.buffer.lag(GROUP)
        left = {"unread": lag["lag"], "pending": lag["pending"],
                "dirty": await run.ledger.backlog()}  # fmt: skip
        await run.append_input(slice(half, None))
        await run_until_drained(run, flusher_process(settings, tmp_path / "restarted.log"))
        result = await run.result()
        print(f"\n[crash at {step}] {len(result['batches'])} batches, "
              f"{sum(len(result[k]) for k in result if k != 'batches')} documents, "
              f"crashed after {crashed_at - started:.1f}s leaving {left}, "
              f"drained {time.monotonic() - crashed_at:.1f}s later")  # fmt: skip
    result, baseline = hourly(result), hourly(baseline)
    for name in ("batches", "sessions", "visitors", "heatmap_bins", "scroll_depth", "frustration"):
        if name == "batches":
            assert result[name] == baseline[name], name
        else:
            assert set(result[name]) == set(baseline[name]), name  # the same documents
            for doc_id, doc in baseline[name].items():
                assert result[name][doc_id] == doc, (name, doc_id)
