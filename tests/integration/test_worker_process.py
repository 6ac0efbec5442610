"""`[workers] mode = "process"` (the default of `make run`): the workers run as a child process.

`python -m server run` on the embedded MongoDB engine starts `python -m server worker all`
as its child; both open the same SQLite file, and everything high-volume reaches the child
through Redis. These tests check that from outside: batches land and are counted once,
replay chunks are stored by the child, the admin's live heatmap deltas still arrive (emitted
by the child through Redis), /healthz names the child's workers, and a killed child is
restarted without losing anything acknowledged.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import orjson

from server.adapters.embedded_valkey import EmbeddedValkey
from tests.support.admin_client import ADMIN_COOKIE, AdminClient
from tests.support.batches import batch, click, moves, page_event, page_view_id, rrweb_events
from tests.support.live_server import ServerProcess, visitor_cookie
from tests.support.polling import eventually
from tests.support.settings import server_env
from tests.support.sockets import connect

ADMIN = ("process-admin", "process-password-1")


def process_env(tmp_path: Path, valkey: EmbeddedValkey, name: str, models: Path) -> dict[str, str]:
    """Workers as a child process of the server, flushing in small rounds, no personas."""
    return server_env(
        name, tmp_path / "var", models, valkey.url,
        VITRINE_ADMIN_USER=ADMIN[0], VITRINE_ADMIN_PASSWORD=ADMIN[1],
        VITRINE_WORKERS__MODE="process", VITRINE_FLUSHER__BLOCK_MS="200",
        VITRINE_FLUSHER__CHECKPOINT_EVERY_S="0.3", VITRINE_PERSONAS__ENABLED="false",
    )  # fmt: skip


async def admin_cookie(admin: AdminClient) -> str:
    jar = {cookie.key: cookie.value for cookie in admin.http.cookie_jar}
    return f"{ADMIN_COOKIE}={jar[ADMIN_COOKIE]}"


async def send_clicks(url: str, cookie: str, me: dict[str, Any], batches: int) -> int:
    shopper = await connect(url, cookie)
    pvid, sent = page_view_id(), 0
    try:
        for seq in range(batches):
            events = ([page_event("/catalog")] if seq == 0 else []) + moves(3) + [click(90)]
            ack = await shopper.call(
                "batch", batch(me["vid"], me["session_id"], pvid, seq, events, path="/catalog"),
                namespace="/track",
            )  # fmt: skip
            assert ack == {"ok": True, "seq": seq}
            sent += len(events)
    finally:
        await shopper.disconnect()
    return sent


async def test_workers_in_a_child_process_store_push_and_survive_a_kill(
    valkey: EmbeddedValkey, tmp_path: Path, unique_name: str, models_dir: Path
) -> None:
    server = ServerProcess(process_env(tmp_path, valkey, unique_name, models_dir),
                           tmp_path / "server.log")  # fmt: skip
    await server.start()
    try:
        async with AdminClient(server.url, *ADMIN) as admin:
            health = await admin.health()
            workers = health["workers"]
            assert {"flusher", "checkpointer", "writer"} <= set(workers), health
            child_pid = workers["flusher"]["pid"]
            assert child_pid != server.process.pid  # type: ignore[union-attr]
            assert all(w["pid"] == child_pid for w in workers.values())

            watcher = await connect(server.url, await admin_cookie(admin), "/admin")
            deltas: list[dict[str, Any]] = []
            watcher.on("heatmap", deltas.append, namespace="/admin")
            ack = await watcher.call("subscribe", {"channel": "heatmap"}, namespace="/admin")
            assert ack == {"ok": True}
            cookie, me = await visitor_cookie(server.url)
            sent = await send_clicks(server.url, cookie, me, 20)
            # Live deltas come from the child's flusher, through Redis, to this process's socket.
            await eventually(lambda: bool(deltas), timeout=60)
            assert sum(b["total"] for d in deltas for b in d["bins"] if b["kind"] == "click") == 20

            # A replay chunk is queued by the web process and stored by the child.
            shopper = await connect(server.url, cookie)
            chunk = {"sid": me["session_id"], "pvid": page_view_id(), "seq": 0,
                     "events": rrweb_events(1_764_000_000_000, 3)}  # fmt: skip
            assert (await shopper.call("replay", chunk, namespace="/track"))["ok"]
            await shopper.disconnect()

            async def session_events() -> int:
                session = await admin.session(me["session_id"])
                return int(session["events"]) if session else 0

            await eventually(lambda: _equals(session_events, sent), timeout=60)

            # The child is killed: the web process starts another, and nothing is lost.
            os.kill(child_pid, signal.SIGKILL)
            more = await send_clicks(server.url, cookie, me, 10)

            async def restarted() -> bool:
                state = (await admin.health())["workers"]["flusher"]
                return bool(state.get("pid") not in (None, child_pid))

            await eventually(restarted, timeout=120)
            await eventually(lambda: _equals(session_events, sent + more), timeout=90)
            health = await admin.health()
            assert health["worker_process"]["restarts"] >= 1
            assert health["status"] == "ok", health
            status, body = await admin._get(f"/admin/api/sessions/{me['session_id']}/replay")
            assert status == 200 and len(orjson.loads(body)["events"]) == 3
            await watcher.disconnect()
    finally:
        await server.stop()


async def _equals(read: Any, expected: int) -> bool:
    return bool(await read() == expected)
