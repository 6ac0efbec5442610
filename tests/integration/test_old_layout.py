"""Data stored before frames and the ledger is still read, and new batches add up onto it.

The old flusher wrote one `event_chunks` document per batch and updated session summaries
in place. Nothing is migrated: readers read both layouts, and the first checkpoint of a
session that already has an old summary folds that summary in (counters add up).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from server.adapters.event_store import session_chunks
from tests.support.batches import batch, click, moves, page_event, page_view_id
from tests.support.live_server import running_app, visitor_cookie
from tests.support.polling import eventually
from tests.support.settings import UNLIMITED
from tests.support.sockets import connect


async def test_old_chunks_and_summaries_are_read_and_new_batches_fold_onto_them(
    make_settings: Any,
) -> None:
    async with running_app(make_settings(tracking=UNLIMITED, personas={"enabled": False})) as (
        app, url):  # fmt: skip
        cookie, me = await visitor_cookie(url)
        vid, sid = me["vid"], me["session_id"]
        events = app.services.pipeline.events
        old_pvid, t0 = page_view_id(), 1_764_000_000_000
        received = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
        # As the old flusher left them: one chunk per batch, a summary updated in place.
        await events.chunks.insert_many([
            {"_id": f"{old_pvid}:{seq}", "vid": vid, "sid": sid, "pvid": old_pvid, "seq": seq,
             "t0": t0, "path": "/catalog", "received_at": received, "n": 3,
             "events": moves(3), "agg": True}
            for seq in range(2)
        ])  # fmt: skip
        await events.sessions.insert_many([
            {"_id": sid, "vid": vid, "arm": "treatment", "persona": "unknown",
             "started_at": received, "last_at": received, "events": 6, "page_views": 0,
             "clicks": 0, "pages": {old_pvid: {"path": "/catalog", "events": 6}},
             "updated_at": received}
        ])  # fmt: skip
        assert [c["_id"] for c in await session_chunks(events, sid)] == [
            f"{old_pvid}:0",
            f"{old_pvid}:1",
        ]

        client = await connect(url, cookie)
        new_pvid = page_view_id()
        sent = [page_event(), *moves(4), click(300)]
        ack = await client.call("batch", batch(vid, sid, new_pvid, 0, sent), namespace="/track")
        assert ack["ok"]
        await client.disconnect()

        async def folded() -> Any:
            session = await events.session(sid)
            return session if session and session["events"] == 6 + len(sent) else None

        session = await eventually(folded, timeout=60)
        assert session["clicks"] == 1 and session["page_views"] == 1
        assert session["pages"][old_pvid]["events"] == 6  # the old page view is kept
        assert session["pages"][new_pvid]["events"] == len(sent)
        assert session["started_at"].replace(tzinfo=UTC) == received
        stored = await session_chunks(events, sid)
        assert [c["pvid"] for c in stored].count(old_pvid) == 2
        assert sum(c["n"] for c in stored) == 6 + len(sent)
