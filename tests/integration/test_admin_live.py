"""The replay channel and the /admin namespace on real parts: Socket.IO, Valkey, the store.

A shopper's socket sends rrweb chunks on /track; they are checked, stored compressed once,
forwarded to admins watching the session, replayed with markers and exported (API and
`python -m server export-session`). Flushed clicks reach a live heatmap; the overview is
pushed.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from server.settings import REPO_ROOT
from tests.support.admin_client import ADMIN_COOKIE, AdminClient
from tests.support.batches import batch, click, page_event, page_view_id, rrweb_events
from tests.support.live_server import running_app, visitor_cookie
from tests.support.polling import eventually
from tests.support.sockets import connect

ADMIN = ("live-admin", "live-password-1")
T0 = int(time.time() * 1000)


async def admin_cookie(url: str) -> str:
    async with AdminClient(url, *ADMIN) as admin:
        jar = {cookie.key: cookie.value for cookie in admin.http.cookie_jar}
    return f"{ADMIN_COOKIE}={jar[ADMIN_COOKIE]}"


async def export_command(sid: str, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    """`python -m server export-session <sid>` in a child process (off the event loop)."""
    # "--": a session id may begin with "-" (URL-safe base64), which argparse takes for an option.
    command = [sys.executable, "-m", "server", "export-session", "--", sid]
    return await asyncio.to_thread(
        subprocess.run, command, cwd=REPO_ROOT, env=env, capture_output=True, timeout=120
    )


async def test_replay_chunks_are_checked_stored_once_forwarded_replayed_and_exported(
    make_settings: Any,
) -> None:
    settings = make_settings(replay={"max_chunk_bytes": 8192})
    async with running_app(settings) as (app, url):
        await app.services.admins.create(*ADMIN, "admin")
        cookie, me = await visitor_cookie(url)
        vid, sid, pvid = me["vid"], me["session_id"], page_view_id()
        shopper = await connect(url, cookie)
        watcher = await connect(url, await admin_cookie(url), "/admin")
        forwarded: list[dict[str, Any]] = []
        watcher.on("replay", forwarded.append, namespace="/admin")
        ack = await watcher.call("subscribe", {"channel": "replay", "sid": sid}, namespace="/admin")
        assert ack == {"ok": True}

        chunk = {"sid": sid, "pvid": pvid, "seq": 0, "events": rrweb_events(T0, 4)}
        assert await shopper.call("replay", chunk, namespace="/track") == {"ok": True, "seq": 0}
        assert await shopper.call("replay", chunk, namespace="/track") == {"ok": True, "seq": 0}
        second = {**chunk, "seq": 1, "events": rrweb_events(T0 + 2000, 3)[2:] or [
            {"type": 3, "timestamp": T0 + 2000, "data": {"source": 2}}
        ]}  # fmt: skip
        assert await shopper.call("replay", second, namespace="/track") == {"ok": True, "seq": 1}

        bad = {
            "invalid_replay": ["nope", {**chunk, "extra": 1}, {**chunk, "events": []},
                               {**chunk, "sid": {"$gt": ""}}, {**chunk, "seq": True}],
            "invalid_event": [{**chunk, "events": [{"type": True, "timestamp": T0}]},
                              {**chunk, "events": [{"type": 3, "timestamp": "now"}]},
                              {**chunk, "events": [["not", "an", "object"]]}],
            "too_large": [{**chunk, "seq": 9, "events": [
                {"type": 3, "timestamp": T0, "data": {"blob": "x" * 9000}}]}],
        }  # fmt: skip
        for code, payloads in bad.items():
            for payload in payloads:
                ack = await shopper.call("replay", payload, namespace="/track")
                assert ack == {"ok": False, "error": code}, (code, payload)

        await eventually(lambda: len(forwarded) >= 2)
        assert [(c["pvid"], c["seq"]) for c in forwarded] == [(pvid, 0), (pvid, 1)]
        # Stored by the document writer (a worker), from the write queue in Redis.
        replays = app.services.admin.replays.chunks

        async def both_stored() -> list[dict[str, Any]] | None:
            found: list[dict[str, Any]] = await replays.find({"sid": sid}).to_list()
            return found if len(found) >= 2 else None

        stored = await eventually(both_stored)
        assert sorted(doc["_id"] for doc in stored) == [f"{pvid}:0", f"{pvid}:1"]
        first = next(doc for doc in stored if doc["seq"] == 0)
        assert first["vid"] == vid and first["first_ts"] == T0 and first["n"] == 4
        assert isinstance(first["z"], bytes) and len(first["z"]) < first["bytes"]
        writer = app.services.pipeline.replay_writer
        assert writer.stats.duplicates == 1 and writer.stats.accepted == 2

        # Someone else naming this session: stored under their own visitor, never replayed here.
        intruder_cookie, _ = await visitor_cookie(url)
        intruder = await connect(url, intruder_cookie)
        forged = {"sid": sid, "pvid": page_view_id(), "seq": 0, "events": rrweb_events(T0 + 50)}
        assert (await intruder.call("replay", forged, namespace="/track"))["ok"]

        # A tracker batch makes the session summary; then the replay API and the export.
        events = [page_event("/product/p001"), click(40)]
        ack = await shopper.call("batch", batch(vid, sid, pvid, 0, events), namespace="/track")
        assert ack["ok"]
        await eventually(lambda: app.services.pipeline.events.session(sid))
        now = datetime.now(UTC)
        await app.services.store["persona_history"].insert_many(
            [{"vid": vid, "sid": sid, "at": now, "persona": "explorer", "shown": "explorer",
              "confidence": 0.9, "reasons": ["r"], "changed": True},
             {"vid": vid, "sid": sid, "at": now, "persona": "hurried", "changed": False}]
        )  # fmt: skip
        await app.services.store["exposures"].insert_many(
            [{"vid": vid, "sid": sid, "at": now + timedelta(seconds=1), "adaptation": "tutorial",
              "persona": "explorer", "arm": "treatment"}]
        )  # fmt: skip
        async with AdminClient(url, *ADMIN) as admin:
            async with admin.http.get(f"{url}/admin/api/sessions/{sid}/replay") as response:
                assert response.status == 200
                replay = await response.json()
            async with admin.http.get(f"{url}/admin/api/sessions/{sid}/export") as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("application/x-ndjson")
                exported = [orjson.loads(line) for line in (await response.read()).splitlines()]
        assert [e["timestamp"] for e in replay["events"]] == sorted(
            e["timestamp"] for e in replay["events"]
        )
        assert len(replay["events"]) == 5  # the intruder's chunk is not part of it
        assert replay["chunks"] == [f"{pvid}:0", f"{pvid}:1"]
        assert [(m["kind"], m["label"]) for m in replay["markers"]] == [
            ("persona", "explorer"), ("exposure", "tutorial")
        ]  # fmt: skip
        # Markers are on the browser's clock: server time minus the estimated offset.
        offset = replay["clock_offset_ms"]
        assert replay["markers"][0]["t"] == int(now.timestamp() * 1000) - offset
        assert replay["live"] is True
        channels = [line["channel"] for line in exported]
        assert channels == ["tracker", "rrweb", "rrweb"]
        assert exported[0]["events"][0]["k"] == "page" and exported[1]["events"][0]["type"] == 4
        for client in (shopper, watcher, intruder):
            await client.disconnect()

    # The command line reads the same store once the server is gone.
    env = {
        **os.environ,
        "VITRINE_PATHS__VAR_DIR": str(settings.var_dir),
        "VITRINE_MONGODB__URI": settings.mongodb.uri,
        "VITRINE_MONGODB__DATABASE": settings.mongodb.database,
    }
    result = await export_command(sid, env)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    lines = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert lines == exported
    missing = await export_command("-noSuchSession1", env)  # a leading "-" is still an id
    assert missing.returncode == 1, missing.stderr.decode()[-2000:]


async def test_replay_chunks_have_their_own_rate_limit(make_settings: Any) -> None:
    async with running_app(make_settings(replay={"chunks_per_second": 0.01})) as (_, url):
        cookie, me = await visitor_cookie(url)
        shopper = await connect(url, cookie)
        pvid = page_view_id()
        acks = [
            await shopper.call(
                "replay",
                {"sid": me["session_id"], "pvid": pvid, "seq": i, "events": rrweb_events(T0, 2)},
                namespace="/track",
            )
            for i in range(24)
        ]
        assert all(ack["ok"] for ack in acks[:20])  # the burst
        assert {"ok": False, "error": "rate_limited"} in acks[20:]
        # Tracker batches are not starved by the replay channel.
        ack = await shopper.call(
            "batch", batch(me["vid"], me["session_id"], pvid, 0, [page_event()]), namespace="/track"
        )
        assert ack["ok"]
        await shopper.disconnect()


async def test_live_heatmap_deltas_and_overview_pushes(make_settings: Any) -> None:
    async with running_app(make_settings()) as (app, url):
        await app.services.admins.create(*ADMIN, "admin")
        cookie, me = await visitor_cookie(url)
        watcher = await connect(url, await admin_cookie(url), "/admin")
        deltas: list[dict[str, Any]] = []
        overviews: list[dict[str, Any]] = []
        watcher.on("heatmap", deltas.append, namespace="/admin")
        watcher.on("overview", overviews.append, namespace="/admin")
        assert await watcher.call("subscribe", {"channel": "heatmap"}, namespace="/admin") == {
            "ok": True
        }
        assert await watcher.call("subscribe", {"channel": "overview"}, namespace="/admin") == {
            "ok": True
        }
        shopper = await connect(url, cookie)
        events = [page_event("/product/p002", 1920), click(30, "#buy"), click(60, "#buy")]
        events.append({"k": "scroll", "t": 90, "y": 800, "d": 0.5})
        ack = await shopper.call(
            "batch", batch(me["vid"], me["session_id"], page_view_id(), 0, events,
                           path="/product/p002"), namespace="/track",
        )  # fmt: skip
        assert ack["ok"]
        await eventually(lambda: bool(deltas))
        bins = [b for d in deltas for b in d["bins"] if b["kind"] == "click"]
        assert bins and bins[0]["path"] == "/product/p002" and bins[0]["vc"] == "desktop"
        assert bins[0]["total"] == 2
        assert bins[0]["anchors"] == [{"selector": "#buy", "cells": [[10, 10, 2]]}]
        depths = [s for d in deltas for s in d["scroll"]]
        assert depths and depths[0]["reached"]["10"] == 1
        await eventually(lambda: len(overviews) >= 2, timeout=10)
        latest = overviews[-1]
        assert latest["active"]["shoppers"] == 1
        assert latest["pipeline"]["accepted_events"] >= 4
        assert set(latest["pipeline"]["stream"]) == {"stream_length", "pending", "lag"}
        for client in (shopper, watcher):
            await client.disconnect()
