"""Any exception in a worker's round: counted by kind, retried, reported by /healthz.

The flusher's store raises errors that are not PyMongoError (a RuntimeError, or the
sqlite3.OperationalError the embedded engine raises, see server/adapters/mongo_store.py)
for its first calls: the worker keeps running, counts them by kind, and the events land
exactly once afterwards. With the failure lasting while entries wait, /healthz answers 503
naming the flusher and why, and 200 again once it stops. `supervise()` restarts a worker
whose loop ends.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from server.workers.consumer import Worker, supervise
from tests.support.batches import batch, click, moves, page_event, page_view_id
from tests.support.live_server import running_app, visitor_cookie
from tests.support.polling import eventually
from tests.support.recompute import expected_documents, stored_documents
from tests.support.settings import UNLIMITED
from tests.support.sockets import connect

FAST = {"block_ms": 100}
BATCHES = 20


def failing(
    real: Callable[..., Awaitable[Any]], error: BaseException, calls: int | None
) -> tuple[Callable[..., Awaitable[Any]], dict[str, int]]:
    """`real`, raising `error` on its first `calls` calls (all of them while calls is None:
    set state["calls"] to 0 to stop)."""
    state = {"calls": calls if calls is not None else 1_000_000, "raised": 0}

    async def patched(*args: Any, **kwargs: Any) -> Any:
        if state["raised"] < state["calls"]:
            state["raised"] += 1
            raise error
        return await real(*args, **kwargs)

    return patched, state


async def send_visit(url: str) -> tuple[dict[str, Any], int]:
    """One visitor's page view over /track: returns (/api/me, events sent)."""
    cookie, me = await visitor_cookie(url)
    client = await connect(url, cookie)
    pvid, sent = page_view_id(), 0
    try:
        for seq in range(BATCHES):
            events = ([page_event()] if seq == 0 else []) + moves(5) + [click(400 + seq)]
            ack = await client.call("batch", batch(me["vid"], me["session_id"], pvid, seq, events),
                                    namespace="/track")  # fmt: skip
            assert ack == {"ok": True, "seq": seq}
            sent += len(events)
    finally:
        await client.disconnect()
    return me, sent


async def healthz(url: str) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "/healthz") as response:
            return response.status, await response.json()


async def landed_exactly_once(app: Any, me: dict[str, Any], sent: int) -> None:
    events = app.services.pipeline.events

    async def stored() -> bool:
        return await events.count_events({}) >= sent

    await eventually(stored, timeout=60)
    assert await events.count_events({}) == sent
    assert len(await events.stored_batches({})) == BATCHES

    async def checkpointed() -> Any:
        session = await events.session(me["session_id"])
        return session if session and session["events"] == sent else None

    session = await eventually(checkpointed, timeout=60)
    assert session["clicks"] == BATCHES and session["page_views"] == 1
    # Every aggregate is what the stored raw batches give, once each.
    expected, stored_docs = await expected_documents(events), await stored_documents(events)
    for name in ("sessions", "heatmap_bins", "scroll_depth"):
        assert stored_docs[name] == expected[name], name


@pytest.mark.parametrize(
    ("target", "error"),
    [
        ("events.insert_frames", RuntimeError("injected: before any write")),
        ("events.insert_frames", sqlite3.OperationalError("Expression tree is too large")),
        ("ledger.commit", RuntimeError("injected: frames written, nothing acknowledged")),
    ],
    ids=["runtime-error-before-frames", "sqlite-error-before-frames", "runtime-error-before-ack"],
)
async def test_a_round_failing_with_any_exception_is_counted_retried_and_lands_once(
    make_settings: Any, target: str, error: BaseException
) -> None:
    settings = make_settings(flusher=FAST, tracking=UNLIMITED, personas={"enabled": False})
    kind, failures = type(error).__name__, 3
    async with running_app(settings) as (app, url):
        flusher = app.services.pipeline.flusher
        owner_name, method = target.split(".")
        owner = getattr(flusher, owner_name)
        patched, state = failing(getattr(owner, method), error, failures)
        setattr(owner, method, patched)
        me, sent = await send_visit(url)
        await landed_exactly_once(app, me, sent)
        assert state["raised"] == failures
        assert flusher.stats.errors == {kind: failures}
        assert kind in flusher.stats.last_error
        # Still running: the same task, more rounds since.
        task = next(t for t in app.services.tasks if t.get_name() == "flusher")
        assert not task.done()
        rounds = flusher.stats.rounds
        await eventually(lambda: _more_rounds(flusher, rounds))
        # Each batch sits in one frame: a retry after the frames were stored (the commit
        # failing) does not store them again; and no entry is left marked as framed.
        frames = await flusher.events.frames.find({}).to_list()
        assert sum(frame["batches"] for frame in frames) == BATCHES
        assert flusher.counts.duplicate_frames == 0
        assert await app.services.redis.hlen(flusher.ledger.framed_key) == 0

        async def reported() -> Any:
            status, report = await healthz(url)
            beat = report.get("workers", {}).get("flusher", {})
            return (status, report) if beat.get("errors_by_kind") == {kind: failures} else None

        _, report = await eventually(reported)
        flusher_state = report["workers"]["flusher"]
        assert flusher_state["errors"] == failures and kind in flusher_state["last_error"]
        assert not flusher_state["stalled"]
        await eventually(lambda: _status_is(url, 200))


async def _more_rounds(worker: Worker, than: int) -> bool:
    return worker.stats.rounds > than


async def _status_is(url: str, expected: int) -> bool:
    return (await healthz(url))[0] == expected


async def _report_if(url: str, expected: int) -> dict[str, Any] | None:
    status, report = await healthz(url)
    return report if status == expected else None


async def test_healthz_names_a_flusher_that_keeps_failing_while_entries_wait(
    make_settings: Any,
) -> None:
    settings = make_settings(
        flusher=FAST, tracking=UNLIMITED, personas={"enabled": False},
        workers={"mode": "inline", "stall_after_s": 2.0},
    )  # fmt: skip
    async with running_app(settings) as (app, url):
        flusher = app.services.pipeline.flusher
        events = flusher.events
        patched, state = failing(events.insert_frames, RuntimeError("store refuses"), None)
        events.insert_frames = patched
        await eventually(lambda: _status_is(url, 200))
        me, sent = await send_visit(url)

        async def flusher_stalled() -> dict[str, Any] | None:
            report = await _report_if(url, 503)
            return report if report and report["workers"]["flusher"]["stalled"] else None

        report = await eventually(flusher_stalled, timeout=60)
        assert report["status"] == "degraded"
        flusher_state = report["workers"]["flusher"]
        assert flusher_state["waiting"] == BATCHES, report
        assert flusher_state["errors_by_kind"]["RuntimeError"] >= 1, report
        reasons = [r for r in report["reasons"] if r.startswith("flusher:")]
        assert len(reasons) == 1, report["reasons"]
        assert "waiting and no round finished" in reasons[0]
        assert "RuntimeError: store refuses" in reasons[0]
        assert not report["backpressure"]
        assert await events.count_events({}) == 0  # nothing written while it fails

        state["calls"] = 0  # the store works again
        report = await eventually(lambda: _report_if(url, 200), timeout=60)
        assert "reasons" not in report and not report["workers"]["flusher"]["stalled"]
        await landed_exactly_once(app, me, sent)
        assert flusher.stats.errors["RuntimeError"] == state["raised"]


class ScriptedWorker(Worker):
    """A worker whose `run` ends: returns, then raises, then runs until cancelled."""

    name = "scripted"

    def __init__(self) -> None:
        super().__init__()
        self.runs = 0
        self.running = asyncio.Event()

    async def run(self) -> None:
        self.runs += 1
        if self.runs == 1:
            return
        if self.runs == 2:
            raise RuntimeError("loop ended by a bug")
        self.running.set()
        await asyncio.Event().wait()


async def test_supervise_restarts_a_worker_whose_run_returns_or_raises() -> None:
    worker = ScriptedWorker()
    task = asyncio.create_task(supervise(worker, restart_after_s=0.01))
    try:
        await asyncio.wait_for(worker.running.wait(), 10)
        assert worker.runs == 3
        assert worker.stats.errors == {"RuntimeError": 1}
        assert not task.done()
    finally:
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert worker.runs == 3  # cancellation is not restarted


class FlakyRounds(Worker):
    """Rounds that raise what a store or a bug can raise, then succeed."""

    name = "flaky"

    def __init__(self, errors: list[BaseException]) -> None:
        super().__init__()
        self.errors = list(errors)
        self.prepared = 0
        self.done = asyncio.Event()

    async def prepare(self) -> None:
        self.prepared += 1
        if self.prepared == 1:
            raise OSError("not reachable yet")

    async def round(self) -> None:
        await asyncio.sleep(0.001)  # a round waits on I/O: the loop runs other tasks
        if self.errors:
            raise self.errors.pop(0)
        self.done.set()


async def test_run_survives_any_exception_and_only_cancellation_propagates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("server.workers.consumer.MAX_BACKOFF_S", 0.05)
    errors = [KeyError("k"), sqlite3.OperationalError("locked"), ValueError("v"), KeyError("k")]
    worker = FlakyRounds(errors)
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(worker.done.wait(), 30)
        assert worker.prepared == 2  # a failed prepare is retried like a round
        assert worker.stats.errors == {"OSError": 1, "KeyError": 2, "OperationalError": 1,
                                       "ValueError": 1}  # fmt: skip
        assert worker.stats.snapshot()["errors"] == 5
    finally:
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    class Cancelled(Worker):
        async def round(self) -> None:
            raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(Cancelled().run(), 10)
