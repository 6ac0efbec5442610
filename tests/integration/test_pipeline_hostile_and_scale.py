"""Hostile batches, the per-connection rate limit, and two server processes with two flushers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import socketio
from pymongo import AsyncMongoClient

from server.adapters.embedded_valkey import EmbeddedValkey
from server.pipeline.ledger import frame_chunks
from server.settings import REPO_ROOT
from tests.support.batches import batch, moves, page_event, page_view_id
from tests.support.live_server import (
    ServerProcess,
    mongo_wire_process,
    running_app,
    shared_services_env,
    visitor_cookie,
)
from tests.support.polling import eventually
from tests.support.probes import stored_event_count
from tests.support.settings import UNLIMITED
from tests.support.sockets import connect


async def test_hostile_batches_are_rejected_and_the_server_keeps_serving(
    make_settings: Any,
) -> None:
    async with running_app(make_settings(tracking=UNLIMITED)) as (app, url):
        cookie, me = await visitor_cookie(url)
        good = batch(me["vid"], me["session_id"], page_view_id(), 0, [page_event(), *moves(3)])
        hostile = [
            ({**good, "vid": {"$ne": None}}, "invalid_batch"),
            ({**good, "pvid": {"$gt": ""}}, "invalid_batch"),
            ({**good, "t0": 1e308}, "invalid_batch"),
            ({**good, "events": [{"k": "move", "t": 1, "x": 1e308, "y": 1}]}, "invalid_event"),
            (
                {**good, "events": [{"k": "page", "t": 0, "path": "/" + "a" * 5000}]},
                "invalid_event",
            ),
            ({"__proto__": {"admin": True}}, "invalid_batch"),
            ("just a string", "invalid_batch"),
        ]
        client = await connect(url, cookie)
        try:
            for payload, code in hostile:
                ack = await client.call("batch", payload, namespace="/track", timeout=10)
                assert ack == {"ok": False, "error": code}, payload
        finally:
            await client.disconnect()

        # A 10 MB string and a NaN: the connection is dropped, nothing is stored.
        for payload in ({**good, "path": "x" * 10_000_000}, {**good, "seq": float("nan")}):
            rogue = await connect(url, cookie)
            with contextlib.suppress(
                socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError
            ):
                await rogue.call("batch", payload, namespace="/track", timeout=3)
            await rogue.disconnect()

        # Over HTTP too: 1,000-deep nesting, an oversized body and broken JSON get clear errors.
        deep = '{"k": "move", "t": 1, "y": 1, "x": ' + "[" * 1000 + "]" * 1000 + "}"
        deep_batch = orjson.dumps({**good, "events": []}).replace(
            b'"events":[]', b'"events":[' + deep.encode() + b"]"
        )
        async with aiohttp.ClientSession(headers={"Cookie": cookie}) as http:
            async with http.post(url + "/record-session-data", data=deep_batch) as response:
                assert response.status == 400
                assert (await response.json())["error"] == "invalid_event"
            async with http.post(url + "/record-session-data", data=b"{" * 2000) as response:
                assert response.status == 400
                assert (await response.json())["error"] == "invalid_json"
            async with http.post(url + "/record-session-data", data=b"x" * 600_000) as response:
                assert response.status in (400, 413)

        # Still serving: the good batch goes through and is the only thing stored.
        client = await connect(url, cookie)
        assert await client.call("batch", good, namespace="/track") == {"ok": True, "seq": 0}
        await client.disconnect()

        async def flushed() -> bool:
            return await stored_event_count(app) == len(good["events"])

        await eventually(flushed)
        assert len(await app.services.pipeline.events.stored_batches({})) == 1


async def test_flooding_socket_is_throttled_without_slowing_others(make_settings: Any) -> None:
    settings = make_settings(tracking={"rate_limit_batches_per_second": 5, "rate_limit_burst": 10})
    async with running_app(settings) as (app, url):
        flood_cookie, flood_me = await visitor_cookie(url)
        calm_cookie, calm_me = await visitor_cookie(url)
        flood = await connect(url, flood_cookie)
        calm = await connect(url, calm_cookie)
        pvid = page_view_id()
        acks = await asyncio.gather(
            *(
                flood.call("batch", batch(flood_me["vid"], flood_me["session_id"], pvid, seq,
                                          moves(50)), namespace="/track")
                for seq in range(200)
            )
        )  # fmt: skip
        limited = sum(1 for ack in acks if ack.get("error") == "rate_limited")
        assert limited >= 150
        calm_ack = await calm.call(
            "batch",
            batch(calm_me["vid"], calm_me["session_id"], page_view_id(), 0, [page_event()]),
            namespace="/track",
        )
        assert calm_ack == {"ok": True, "seq": 0}
        assert app.services.pipeline.ingest.rejected["rate_limited"] == limited
        await flood.disconnect()
        await calm.disconnect()


async def chunks_landed(mongo_uri: str, database: str, count: int) -> list[dict[str, Any]]:
    """Wait until `count` batches are stored (each once) and the stream is acknowledged."""
    mongo: Any = AsyncMongoClient(mongo_uri)
    try:
        frames = mongo[database]["event_frames"]

        async def landed() -> list[dict[str, Any]] | None:
            batches: dict[str, dict[str, Any]] = {}
            async for frame in frames.find({}):
                for chunk in frame_chunks(frame):
                    batches.setdefault(chunk["_id"], chunk)
            return list(batches.values()) if len(batches) >= count else None

        found: list[dict[str, Any]] = await eventually(landed, timeout=60, interval=0.5)
        return found
    finally:
        await mongo.close()


async def test_two_server_processes_and_two_flushers_land_every_event_once(
    valkey: EmbeddedValkey, tmp_path: Path, unique_name: str, models_dir: Path
) -> None:
    with mongo_wire_process(tmp_path) as mongo_uri:
        common = {
            **shared_services_env(valkey.url, mongo_uri, unique_name, models_dir),
            "VITRINE_TRACKING__RATE_LIMIT_BATCHES_PER_SECOND": "100000",
            "VITRINE_TRACKING__RATE_LIMIT_BURST": "100000",
        }
        servers = [
            ServerProcess({**common, "VITRINE_PATHS__VAR_DIR": str(tmp_path / f"var{i}")},
                          tmp_path / f"server{i}.log")
            for i in range(2)
        ]  # fmt: skip
        try:
            await asyncio.gather(*(server.start() for server in servers))
            cookie, me = await visitor_cookie(servers[0].url)
            clients = [await connect(server.url, cookie) for server in servers]
            sent = 0
            pvid = page_view_id()
            for seq in range(60):
                events = ([page_event()] if seq == 0 else []) + moves(1 + seq % 7)
                ack = await clients[seq % 2].call(
                    "batch", batch(me["vid"], me["session_id"], pvid, seq, events),
                    namespace="/track",
                )  # fmt: skip
                assert ack == {"ok": True, "seq": seq}
                sent += len(events)
            # The same batch resent through the other process is still dropped.
            resend = batch(me["vid"], me["session_id"], pvid, 5, moves(1 + 5 % 7))
            assert (await clients[0].call("batch", resend, namespace="/track"))["ok"]
            for client in clients:
                await client.disconnect()
            docs = await chunks_landed(mongo_uri, unique_name, 60)
            assert len(docs) == 60 and sum(doc["n"] for doc in docs) == sent
        finally:
            for server in servers:
                await server.stop()


async def test_flusher_runs_as_its_own_process(
    valkey: EmbeddedValkey, tmp_path: Path, unique_name: str, models_dir: Path
) -> None:
    with mongo_wire_process(tmp_path) as mongo_uri:
        env = {
            **shared_services_env(valkey.url, mongo_uri, unique_name, models_dir),
            "VITRINE_PATHS__VAR_DIR": str(tmp_path / "var"),
            "VITRINE_PERSONAS__ENABLED": "false",
        }
        web = ServerProcess({**env, "VITRINE_WORKERS__MODE": "none"}, tmp_path / "web.log")
        worker_log = (tmp_path / "worker.log").open("wb")
        worker = subprocess.Popen(
            [sys.executable, "-m", "server", "worker", "flusher"],
            cwd=REPO_ROOT, env={**os.environ, **env}, stdout=worker_log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            await web.start()
            cookie, me = await visitor_cookie(web.url)
            client = await connect(web.url, cookie)
            pvid = page_view_id()
            sent = 0
            for seq in range(10):
                events = ([page_event()] if seq == 0 else []) + moves(3)
                ack = await client.call(
                    "batch", batch(me["vid"], me["session_id"], pvid, seq, events),
                    namespace="/track",
                )  # fmt: skip
                assert ack["ok"]
                sent += len(events)
            await client.disconnect()
            docs = await chunks_landed(mongo_uri, unique_name, 10)
            assert sum(doc["n"] for doc in docs) == sent
        finally:
            await web.stop()
            worker.terminate()
            assert worker.wait(20) == 0  # a clean stop on SIGTERM
