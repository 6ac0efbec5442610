"""The tracking pipeline on real parts: Socket.IO client → Valkey stream → flusher → store."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from server.adapters.embedded_valkey import EmbeddedValkey
from server.workers.flusher import GROUP
from tests.support.batches import batch, click, moves, page_event, page_view_id
from tests.support.live_server import running_app, visitor_cookie
from tests.support.polling import eventually
from tests.support.probes import stored_event_count, stream_drained
from tests.support.settings import UNLIMITED
from tests.support.sockets import connect


async def test_thousand_batches_with_duplicates_and_malformed_land_exactly_once(
    make_settings: Any,
) -> None:
    rng = random.Random(7)
    async with running_app(make_settings(tracking=UNLIMITED)) as (app, url):
        cookie, me = await visitor_cookie(url)
        client = await connect(url, cookie)
        pvids = [page_view_id() for _ in range(10)]
        sent_valid_events = 0
        expected_rejections: dict[str, int] = {}
        acks: list[dict[str, Any]] = []
        for i in range(1000):
            pvid, seq = pvids[i % 10], i // 10
            events = ([page_event()] if seq == 0 else []) + moves(rng.randint(1, 30), 100)
            good = batch(me["vid"], me["session_id"], pvid, seq, events)
            roll = rng.random()
            if roll < 0.05:
                bad, code = {**good, "events": [{"k": "keylog", "t": 1}]}, "unknown_kind"
            elif roll < 0.10:
                bad, code = {**good, "seq": {"$gt": 0}}, "invalid_batch"
            elif roll < 0.12:
                bad, code = {**good, "vid": "someoneElse000001"}, "forbidden_visitor"
            else:
                bad, code = None, ""
            if bad is not None:
                ack = await client.call("batch", bad, namespace="/track")
                assert ack == {"ok": False, "error": code}
                expected_rejections[code] = expected_rejections.get(code, 0) + 1
            ack = await client.call("batch", good, namespace="/track")
            assert ack == {"ok": True, "seq": seq}
            sent_valid_events += len(events)
            if rng.random() < 0.1:  # a resend after a lost ack: must not double
                acks.append(await client.call("batch", good, namespace="/track"))
        await client.disconnect()
        assert all(ack["ok"] for ack in acks)

        async def all_flushed() -> bool:
            return await stored_event_count(app) >= sent_valid_events

        await eventually(all_flushed, timeout=90)  # correctness, not speed: CI may be loaded
        # Anything extra would be written before the flusher acknowledges the last entry.
        await eventually(lambda: stream_drained(url), timeout=90)
        assert await stored_event_count(app) == sent_valid_events
        events_store = app.services.pipeline.events
        assert len(await events_store.stored_batches({})) == 1000
        # Aggregates reach MongoDB with the next checkpoint.
        session = await eventually(lambda: _session_with(events_store, me["session_id"],
                                                         sent_valid_events))  # fmt: skip
        assert session["events"] == sent_valid_events and session["page_views"] == 10
        ingest = app.services.pipeline.ingest.snapshot()
        assert ingest["rejected"] == expected_rejections
        assert ingest["duplicate_batches"] == len(acks)


async def test_crashed_flusher_entries_are_claimed_by_another(make_settings: Any) -> None:
    settings = make_settings(flusher={"enabled": False}, tracking=UNLIMITED)
    async with running_app(settings) as (app, url):
        from server.bootstrap import make_flusher

        cookie, me = await visitor_cookie(url)
        client = await connect(url, cookie)
        pvid = page_view_id()
        for seq in range(20):
            events = ([page_event()] if seq == 0 else []) + moves(10) + [click(900)]
            ack = await client.call("batch", batch(me["vid"], me["session_id"], pvid, seq, events),
                                    namespace="/track")  # fmt: skip
            assert ack["ok"]
        await client.disconnect()
        services = app.services
        buffer, events_store = services.pipeline.buffer, services.pipeline.events

        crashed = make_flusher(services)
        await buffer.ensure_group(GROUP)
        entries = await buffer.read(GROUP, crashed.consumer, 100, 100)
        assert len(entries) == 20
        # It stalls halfway through a round: frames of 12 batches written, no commit yet.
        from server.pipeline.ledger import plan_frames
        from server.workers.flusher import decode_entry

        await events_store.insert_frames(plan_frames([decode_entry(e) for e in entries[:12]]))
        assert (await buffer.lag(GROUP))["pending"] == 20

        survivor = make_flusher(services)
        survivor.claim_idle_ms = 200
        await asyncio.sleep(0.3)
        task = asyncio.create_task(survivor.run())
        try:
            await eventually(lambda: _pending_is(buffer, 0))
        finally:
            task.cancel()
        # The stalled one wakes up and finishes its round: the commit refuses it (the entries
        # are the survivor's now), so nothing is counted twice.
        await crashed.flush(entries)
        assert crashed.counts.conflicts == 1
        from server.workers.checkpointer import Checkpointer

        await Checkpointer(services.pipeline.ledger, events_store).checkpoint()
        assert len(await events_store.stored_batches({})) == 20  # 12 are in two frames
        assert await events_store.count_events({}) == 1 + 20 * 11
        session = await events_store.session(me["session_id"])
        assert session["events"] == 1 + 20 * 11 and session["clicks"] == 20
        bins = await events_store.heatmap_bins.find({"kind": "click"}).to_list()
        assert sum(doc["n"] for doc in bins) == 20


async def _session_with(events_store: Any, sid: str, events: int) -> Any:
    session = await events_store.session(sid)
    return session if session and session["events"] == events else None


async def _pending_is(buffer: Any, expected: int) -> bool:
    return (await buffer.lag(GROUP))["pending"] == expected


async def test_redis_restart_mid_stream_gives_error_acks_then_nothing_lost(
    make_settings: Any, tmp_path: Any
) -> None:
    own = EmbeddedValkey(tmp_path / "own-valkey")
    await own.start()
    try:
        settings = make_settings(redis={"url": own.url}, tracking=UNLIMITED)
        async with running_app(settings) as (app, url):
            cookie, me = await visitor_cookie(url)
            client = await connect(url, cookie)
            pvid = page_view_id()
            pending = [
                batch(me["vid"], me["session_id"], pvid, seq,
                      ([page_event()] if seq == 0 else []) + moves(5))
                for seq in range(30)
            ]  # fmt: skip
            unavailable = 0
            for index, item in enumerate(pending):
                if index == 10:
                    await own.stop()
                if index == 20:
                    await own.start()
                ack = await client.call("batch", item, namespace="/track", timeout=10)
                if not ack["ok"]:
                    assert ack["error"] == "unavailable"
                    unavailable += 1
            assert unavailable >= 5
            # The client resends everything it holds without an ok ack (here: all of it),
            # retrying "unavailable" with a pause as the browser transport does: the first
            # command on a pooled connection Redis closed can still fail once.
            for item in pending:
                for _ in range(5):
                    ack = await client.call("batch", item, namespace="/track", timeout=10)
                    if ack.get("error") != "unavailable":
                        break
                    await asyncio.sleep(0.5)
                assert ack["ok"], ack
            await client.disconnect()
            expected = sum(len(item["events"]) for item in pending)

            async def flushed() -> bool:
                return await stored_event_count(app) == expected

            await eventually(flushed, timeout=30)
            assert len(await app.services.pipeline.events.stored_batches({})) == 30
    finally:
        await own.stop()
