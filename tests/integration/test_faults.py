"""Faults while shoppers browse: MongoDB stopped for 30 s, Redis stopped, the server restarted.

The shoppers are the real browser transport (client/src/transport.js with socket.io-client,
run by node: tests/integration/test_faults_client.mjs): it keeps every batch until it is
acknowledged and resends after errors and reconnects. In each case the events the shoppers
sent are counted against the events stored, exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from server.adapters.embedded_valkey import EmbeddedValkey, free_port
from server.settings import REPO_ROOT
from tests.support.admin_client import AdminClient
from tests.support.live_server import ServerProcess, port_open, running_app
from tests.support.node_shoppers import NODE, finished, print_counts, start_node_shopper
from tests.support.polling import eventually
from tests.support.probes import stream_drained
from tests.support.settings import server_env

DRIVER = Path(__file__).with_name("test_faults_client.mjs")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is needed for the real client")
# Pace, not load: each shopper sends a batch every `interval` ms.
FAST_FLUSH = {"block_ms": 200}


async def shopper(url: str, batches: int, interval_ms: int, timeout_s: int = 90) -> Any:
    """Start one node shopper; returns (process, /api/me). Read it with `finished`."""
    return await start_node_shopper(DRIVER, url, batches, interval_ms, timeout_s)


async def test_mongodb_stopped_for_30_s_events_wait_in_redis_then_land(
    make_settings: Any, tmp_path: Path
) -> None:
    # Not tests.support.live_server.mongo_wire_process: this one is stopped and started again
    # on the same port with the same data file.
    port = free_port()
    data = tmp_path / "wire.sqlite3"
    uri = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    wire = subprocess.Popen(
        [sys.executable, "-m", "server.adapters.mongo_wire", "--port", str(port),
         "--path", str(data)],
        cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    settings = make_settings(mongodb={"uri": uri}, flusher=FAST_FLUSH, personas={"enabled": False})
    await port_open(port)
    try:
        async with running_app(settings) as (app, url):
            events = app.services.pipeline.events
            flusher = app.services.pipeline.flusher
            # Two shoppers browse for ~45 s (a batch every 300 ms each).
            shoppers = [await shopper(url, 150, 300) for _ in range(2)]
            await asyncio.sleep(5)
            wire.terminate()
            wire.wait(10)
            stopped_at = time.monotonic()
            stored_before = await _stored_in_redis(app)
            await asyncio.sleep(30)
            backlog = await app.services.pipeline.buffer.lag("flusher")
            assert backlog["lag"] + backlog["pending"] > 0, backlog  # waiting in Redis
            wire = subprocess.Popen(
                [sys.executable, "-m", "server.adapters.mongo_wire", "--port", str(port),
                 "--path", str(data)],
                cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            restarted_at = time.monotonic()
            reports = [await finished(process) for process, _ in shoppers]
            sent = sum(r["events"] for r in reports)

            async def all_landed() -> bool:
                return await events.count_events({}) >= sent

            await eventually(all_landed, timeout=120, interval=1.0)
            landed_after = time.monotonic() - restarted_at
            # Anything extra would be written before the flusher acknowledges the last entry.
            await eventually(lambda: stream_drained(url), timeout=60)
            stored = await events.count_events({})
            print_counts("mongodb stopped 30 s", reports, stored,
                         flush_errors=sum(flusher.stats.errors.values()),
                         outage_s=round(restarted_at - stopped_at, 1),
                         caught_up_s=round(landed_after, 1),
                         in_stream_at_stop=stored_before)  # fmt: skip
            assert stored == sent
            assert all(r["stats"]["rejected"] == 0 for r in reports)
            assert (
                sum(flusher.stats.errors.values()) > 0
            )  # it failed, and retried until MongoDB was back
            for report, (_, me) in zip(reports, shoppers, strict=True):

                async def checkpointed(
                    sid: str = me["session_id"], count: int = report["events"]
                ) -> bool:
                    session = await events.session(sid)
                    return bool(session) and session["events"] == count

                await eventually(checkpointed)  # the aggregates come with the next checkpoint
    finally:
        wire.terminate()
        wire.wait(10)


async def _stored_in_redis(app: Any) -> int:
    return int(await app.services.redis.xlen(app.services.key("events")))


async def test_redis_stopped_error_acks_then_clients_resend(
    make_settings: Any, tmp_path: Path
) -> None:
    own = EmbeddedValkey(tmp_path / "own-valkey")
    await own.start()
    try:
        settings = make_settings(redis={"url": own.url}, flusher=FAST_FLUSH)
        async with running_app(settings) as (app, url):
            shoppers = [await shopper(url, 60, 150) for _ in range(2)]
            await asyncio.sleep(2)
            await own.stop()
            await asyncio.sleep(5)
            await own.start()
            reports = [await finished(process) for process, _ in shoppers]
            sent = sum(r["events"] for r in reports)
            events = app.services.pipeline.events

            async def all_landed() -> bool:
                return await events.count_events({}) >= sent

            await eventually(all_landed, timeout=60)
            # Anything extra would be written before the flusher acknowledges the last entry.
            await eventually(lambda: stream_drained(url), timeout=60)
            stored = await events.count_events({})
            rejected = app.services.pipeline.ingest.rejected
            print_counts("redis stopped 5 s", reports, stored,
                         unavailable_acks=rejected["unavailable"])  # fmt: skip
            assert stored == sent
            assert rejected["unavailable"] > 0  # error acks while Redis was down...
            assert sum(r["stats"]["retried"] for r in reports) > 0  # ...kept and resent
            assert len(await events.stored_batches({})) == sum(r["batches"] for r in reports)
    finally:
        await own.stop()


async def test_server_restarted_clients_reconnect_and_resend(
    valkey: EmbeddedValkey, tmp_path: Path, unique_name: str, models_dir: Path
) -> None:
    env = server_env(
        unique_name, tmp_path / "var", models_dir, valkey.url,
        VITRINE_ADMIN_USER="fault-admin", VITRINE_ADMIN_PASSWORD="fault-password-1",
        VITRINE_FLUSHER__BLOCK_MS="200",
        # Entries the stopped process read but never acknowledged are claimed after this.
        VITRINE_FLUSHER__CLAIM_IDLE_MS="3000",
    )  # fmt: skip
    server = ServerProcess(env, tmp_path / "server.log")
    await server.start()
    try:
        shoppers = [await shopper(server.url, 80, 100) for _ in range(2)]
        await asyncio.sleep(2.5)
        await server.stop()
        await asyncio.sleep(2)
        await server.start()  # same port, same data
        reports = [await finished(process) for process, _ in shoppers]
        sent = {me["session_id"]: r["events"] for r, (_, me) in zip(reports, shoppers, strict=True)}
        async with AdminClient(server.url, env["VITRINE_ADMIN_USER"],
                               env["VITRINE_ADMIN_PASSWORD"]) as admin:  # fmt: skip

            async def stored_events() -> dict[str, int]:
                counts = {}
                for sid in sent:
                    chunks = await admin.events(sid)
                    counts[sid] = sum(len(chunk["events"]) for chunk in chunks)
                return counts

            async def all_landed() -> bool:
                return await stored_events() == sent

            with contextlib.suppress(AssertionError):
                await eventually(all_landed, timeout=60, interval=1.0)
            stored = await stored_events()
        print_counts("server restarted", reports, sum(stored.values()))
        assert stored == sent
        assert all(r["stats"]["connects"] >= 2 for r in reports), reports  # reconnected
    finally:
        await server.stop()
