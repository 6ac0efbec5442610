"""The flush path under faults: the flusher process SIGKILLed at random, MongoDB stopped mid-round.

The web app serves shoppers in this process and runs no workers; the flusher and the
checkpointer run as their own process (`python -m server worker flusher`), with a stable
consumer name, so a restarted process resumes its own pending round. The shoppers are the
real browser transport in node (tests/integration/test_fault_kills_client.mjs): they keep
every batch until it is acknowledged, and send page views, moves, clicks, scrolls,
visibility and cart events, so sessions, visitors, heatmap bins and scroll documents all
change while the faults happen.

After the faults, once the stream is drained and the ledger has nothing left to checkpoint
(conditions, not a time), four things must agree exactly: the events each client had
acknowledged, the raw events stored, the aggregate documents in MongoDB, and the documents
recomputed from the stored raw events (tests/support/recompute.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from server.adapters.embedded_valkey import free_port
from server.settings import REPO_ROOT, Settings
from server.workers.checkpointer import LEASE_MS
from server.workers.flusher import GROUP
from tests.support.live_server import port_open, running_app
from tests.support.node_shoppers import NODE, finished, print_counts, start_node_shopper
from tests.support.polling import eventually
from tests.support.recompute import expected_documents, stored_documents
from tests.support.settings import REAL_MONGODB_URI

DRIVER = Path(__file__).with_name("test_fault_kills_client.mjs")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is needed for the real client")
GUARD_S = 180.0  # only against hanging: every wait below is for a condition
CONSUMER = "flusher-0"
HOUR_MS = 3_600_000
# Many small rounds (a frame per session per round), checkpoints often.
FLUSH = {"block_ms": 200, "read_count": 8, "max_round": 64, "checkpoint_every_s": 0.3}


@pytest.fixture(scope="session")
def pycache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the flusher processes of this run keep their compiled bytecode."""
    return tmp_path_factory.mktemp("pycache")


def bytecode_env(pycache: Path) -> dict[str, str]:
    """This environment, keeping compiled bytecode in `pycache` (a test directory, not the
    shared venv): processes restarted many times would otherwise compile scikit-learn and
    friends again at every start (~5 s on a loaded machine)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**env, "PYTHONPYCACHEPREFIX": str(pycache)}


class FlusherProcess:
    """`python -m server worker flusher` as a child process (own process group)."""

    def __init__(self, settings: Settings, log_path: Path, pycache: Path) -> None:
        flusher = settings.flusher
        self.env = {
            **bytecode_env(pycache),
            "VITRINE_PATHS__VAR_DIR": str(settings.var_dir),
            "VITRINE_PATHS__MODELS_DIR": str(settings.models_dir),
            "VITRINE_REDIS__URL": settings.redis.url,
            "VITRINE_REDIS__KEY_PREFIX": settings.redis.key_prefix,
            "VITRINE_MONGODB__URI": settings.mongodb.uri,
            "VITRINE_MONGODB__DATABASE": settings.mongodb.database,
            "VITRINE_SECURITY__SECRET_KEY": settings.security.secret_key,
            "VITRINE_PERSONAS__ENABLED": "false",
            "VITRINE_FLUSHER_CONSUMER": CONSUMER,
            "VITRINE_FLUSHER__BLOCK_MS": str(flusher.block_ms),
            "VITRINE_FLUSHER__READ_COUNT": str(flusher.read_count),
            "VITRINE_FLUSHER__MAX_ROUND": str(flusher.max_round),
            "VITRINE_FLUSHER__CHECKPOINT_EVERY_S": str(flusher.checkpoint_every_s),
        }
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.started_at = 0.0
        self.startup_s: list[float] = []  # start to first finished round, per start

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "server", "worker", "flusher"],
                cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.starts += 1
        self.started_at = time.monotonic()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    async def running(self, app: Any) -> None:
        """Wait until this process has finished a flush round (its heartbeat names its pid)."""

        async def beating() -> bool:
            assert self.alive(), f"the flusher process exited:\n{self.log_tail()}"
            state = (await app.services.pipeline.heartbeat.read()).get("flusher") or {}
            return state.get("pid") == self.pid

        await eventually(
            beating, what="the restarted flusher's first round", timeout=GUARD_S, interval=0.05
        )
        self.startup_s.append(round(time.monotonic() - self.started_at, 1))

    def kill(self) -> None:
        """SIGKILL, wherever it is (mid-round, mid-checkpoint, starting up)."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)
        self.process = None

    async def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(self.process.wait, 20)
        except subprocess.TimeoutExpired:
            self.kill()
        self.process = None


class WireServer:
    """mongoeco's wire server, stopped and started again on the same port and data file."""

    def __init__(self, data: Path, pycache: Path) -> None:
        self.port = free_port()
        self.data = data
        self.env = bytecode_env(pycache)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    async def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "server.adapters.mongo_wire", "--port", str(self.port),
             "--path", str(self.data)],
            cwd=REPO_ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        await port_open(self.port, timeout=60)

    async def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            await asyncio.to_thread(self.process.wait, 20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            await asyncio.to_thread(self.process.wait)
        self.process = None


async def kill_shopper(url: str, index: int, interval_ms: int, max_batches: int = 3000) -> Any:
    """Start one node shopper that streams until told to stop; returns (process, /api/me)."""
    return await start_node_shopper(DRIVER, url, max_batches, interval_ms, 120, index, stdin=True)


async def stop_shoppers(shoppers: list[Any]) -> list[dict[str, Any]]:
    """Tell every shopper to stop sending; each then waits for its acknowledgements."""
    for process, _ in shoppers:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            process.stdin.write(b"stop\n")
            await process.stdin.drain()
    return [await finished(process) for process, _ in shoppers]


async def abandon(shoppers: list[Any]) -> None:
    """Kill shoppers still running (a test that failed midway)."""
    for process, _ in shoppers:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


async def drained(app: Any) -> dict[str, float]:
    """Wait until the flusher acknowledged every entry and the ledger has nothing dirty;
    returns how long each took."""
    buffer, ledger = app.services.pipeline.buffer, app.services.pipeline.ledger
    started = time.monotonic()
    took: dict[str, float] = {}
    last: dict[str, Any] = {}

    async def done() -> bool:
        last.update(await buffer.lag(GROUP))
        if last["lag"] or last["pending"]:
            return False
        # And exactly: the group has been handed the stream's last entry (lag can read 0
        # when Redis cannot tell).
        groups = await app.services.redis.xinfo_groups(buffer.stream)
        delivered = next(_text(g["last-delivered-id"]) for g in groups if _text(g["name"]) == GROUP)
        newest = _text((await app.services.redis.xinfo_stream(buffer.stream))["last-generated-id"])
        if delivered != newest:
            last["delivered"], last["newest"] = delivered, newest
            return False
        took.setdefault("stream_s", round(time.monotonic() - started, 1))
        last["dirty"] = await ledger.backlog()  # after the stream: the last commit is in it
        return last["dirty"] == 0

    try:
        await eventually(
            done, what="stream drained and every aggregate checkpointed", timeout=GUARD_S,
            interval=0.3,
        )  # fmt: skip
    except AssertionError as error:
        lock_ttl = await app.services.redis.pttl(ledger.lock_key)
        raise AssertionError(
            f"{error}; last state {last}, checkpoint lease ttl {lock_ttl} ms"
        ) from None
    took["dirty_s"] = round(time.monotonic() - started, 1)
    return took


async def lease_taken_since(app: Any, started_at: float) -> bool:
    """Whether the checkpoint lease was taken after `started_at` (monotonic): by a pass of the
    flusher process started then, not left behind by one killed before."""
    ttl_ms = await app.services.redis.pttl(app.services.pipeline.ledger.lock_key)
    return ttl_ms > 0 and (LEASE_MS - ttl_ms) / 1000 < time.monotonic() - started_at


async def in_flight(app: Any, mode: str, flusher: FlusherProcess) -> None:
    """Wait (polling Redis) for a round ("round") or a checkpoint pass ("checkpoint") to be
    under way in the flusher process; "anywhere" waits for nothing."""
    redis, stream = app.services.redis, app.services.pipeline.buffer.stream

    async def round_read() -> bool:
        return bool(await redis.xpending_range(stream, GROUP, "-", "+", 1, CONSUMER))

    async def lease_taken() -> bool:
        return await lease_taken_since(app, flusher.started_at)

    if mode != "anywhere":
        probe = round_read if mode == "round" else lease_taken
        await eventually(probe, what=f"a {mode} under way", timeout=60, interval=0.002)


async def own_pending(app: Any) -> int:
    """Entries the stable consumer read and never acknowledged (its interrupted round)."""
    summary = await app.services.redis.xpending(app.services.pipeline.buffer.stream, GROUP)
    return sum(int(c["pending"]) for c in summary["consumers"] if _text(c["name"]) == CONSUMER)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def hourly(documents: dict[str, Any]) -> dict[str, Any]:
    """The documents with each visitor's `last_seen` as its hour."""
    visitors = {
        vid: {**doc, "last_seen": doc["last_seen"] // HOUR_MS}
        for vid, doc in documents["visitors"].items()
    }
    return {**documents, "visitors": visitors}


async def check_everything(app: Any, shoppers: list[Any], reports: list[dict[str, Any]]) -> int:
    """The four-way agreement; returns the number of aggregate documents compared."""
    events = app.services.pipeline.events
    redis = app.services.redis
    sent = {me["session_id"]: r["events"] for r, (_, me) in zip(reports, shoppers, strict=True)}
    assert all(r["stats"]["rejected"] == 0 and r["stats"]["overflow"] == 0 for r in reports)
    stored = {sid: await events.count_events({"sid": sid}) for sid in sent}
    assert stored == sent  # per session: nothing lost, nothing doubled
    assert await events.count_events({}) == sum(sent.values())
    assert len(await events.stored_batches({})) == sum(r["batches"] for r in reports)
    for sid, count in sent.items():
        session = await events.session(sid)
        assert session is not None, sid
        assert session["events"] == count, (sid, session["events"], count)
    expected = await expected_documents(events)
    actual = await stored_documents(events)
    # A visitor's `last_seen` is exact to the hour by design (a MAX_HOURLY op, see
    # server/pipeline/ledger.py): a later batch moves it in Redis without making the document
    # dirty. Stored, it is in the same hour as the true latest, and not later than it.
    for vid, doc in expected["visitors"].items():
        held = actual["visitors"].get(vid, {}).get("last_seen")
        assert held is not None and doc["first_seen"] <= held <= doc["last_seen"], (vid, doc)
    expected, actual = hourly(expected), hourly(actual)
    for name in expected:
        assert set(actual[name]) == set(expected[name]), name
        for doc_id, doc in expected[name].items():
            assert actual[name][doc_id] == doc, (name, doc_id)
    assert actual == expected
    assert len(expected["sessions"]) == len(shoppers)
    assert expected["heatmap_bins"] and expected["scroll_depth"]
    # No entry left unacknowledged in the stream.
    stream = app.services.pipeline.buffer.stream
    pending = await redis.xpending(stream, GROUP)
    assert pending["pending"] == 0, pending
    return sum(len(docs) for docs in expected.values())


async def test_flusher_sigkilled_at_random_moments_loses_and_doubles_nothing(
    make_settings: Any, tmp_path: Path, pycache: Path
) -> None:
    seed = int(os.environ.get("VITRINE_TEST_KILL_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    # Each kill comes after a random sleep; then a third of them strike at once, another
    # third wait for a round in flight (entries read, not yet committed) and the rest for a
    # checkpoint pass in flight (its lease taken), each plus a random 0-5 ms.
    modes = ["anywhere", "round", "checkpoint"] * 4
    rng.shuffle(modes)
    kills = len(modes)
    settings = make_settings(workers={"mode": "none"}, personas={"enabled": False}, flusher=FLUSH)
    flusher = FlusherProcess(settings, tmp_path / "flusher.log", pycache)
    started = time.monotonic()
    shoppers: list[Any] = []
    async with running_app(settings) as (app, url):
        flusher.start()
        try:
            await flusher.running(app)
            shoppers.extend([await kill_shopper(url, i, interval_ms=120) for i in range(4)])
            mid_round = mid_checkpoint = 0
            for mode in modes:
                await asyncio.sleep(rng.uniform(0.1, 1.2))
                await in_flight(app, mode, flusher)
                await asyncio.sleep(rng.uniform(0.0, 0.005))
                lived_from = flusher.started_at
                flusher.kill()
                # What the kill interrupted: a round read and not committed leaves entries
                # pending; a checkpoint pass leaves its lease behind.
                mid_round += await own_pending(app) > 0
                mid_checkpoint += await lease_taken_since(app, lived_from)
                await asyncio.sleep(rng.uniform(0.0, 0.5))
                flusher.start()
                await flusher.running(app)
            faults_s = time.monotonic() - started
            reports = await stop_shoppers(shoppers)
            drain = await drained(app)
            compared = await check_everything(app, shoppers, reports)
            stored = await app.services.pipeline.events.count_events({})
            checkpointer = (await app.services.pipeline.heartbeat.read()).get("checkpointer")
        finally:
            await flusher.stop()
            await abandon(shoppers)
    print_counts("flusher SIGKILLed", reports, stored, kills=kills, mid_round=mid_round,
                 mid_checkpoint=mid_checkpoint, starts=flusher.starts,
                 startup_s=flusher.startup_s,
                 documents_compared=compared, seed=seed,
                 checkpoints_merged=(checkpointer or {}).get("merged"),
                 faults_s=round(faults_s, 1), drain_s=drain,
                 run_s=round(time.monotonic() - started, 1))  # fmt: skip


@pytest.mark.skipif(
    bool(REAL_MONGODB_URI),
    reason="VITRINE_TEST_MONGODB_URI names a real MongoDB, which this test cannot stop and "
    "start (the SIGKILL test above runs against it)",
)
async def test_mongodb_stopped_mid_round_flusher_retries_and_loses_nothing(
    make_settings: Any, tmp_path: Path, pycache: Path
) -> None:
    seed = int(os.environ.get("VITRINE_TEST_KILL_SEED") or random.randrange(1 << 30))
    rng = random.Random(seed)
    # Stopped after a random sleep, and then (but for one) once a round or a checkpoint pass
    # is under way: its writes are cut off mid-flight.
    modes = ["round", "round", "checkpoint", "anywhere"]
    rng.shuffle(modes)
    stops = len(modes)
    wire = WireServer(tmp_path / "wire.sqlite3", pycache)
    await wire.start()
    settings = make_settings(
        workers={"mode": "none"}, personas={"enabled": False}, flusher=FLUSH,
        mongodb={"uri": wire.uri},
    )  # fmt: skip
    flusher = FlusherProcess(settings, tmp_path / "flusher.log", pycache)
    started = time.monotonic()
    shoppers: list[Any] = []
    try:
        async with running_app(settings) as (app, url):
            flusher.start()
            try:
                await flusher.running(app)
                pid = flusher.pid
                shoppers.extend([await kill_shopper(url, i, interval_ms=150) for i in range(3)])
                outages = []
                for n, mode in enumerate(modes):
                    await asyncio.sleep(rng.uniform(1.0, 3.0))
                    await in_flight(app, mode, flusher)
                    await wire.stop()  # whatever the flusher or the checkpointer was writing
                    # One outage outlasts the driver's server selection timeout (5 s).
                    outage = 6.0 if n == 1 else rng.uniform(0.5, 3.0)
                    outages.append(round(outage, 1))
                    await asyncio.sleep(outage)
                    await wire.start()  # same port, same data file
                faults_s = time.monotonic() - started
                reports = await stop_shoppers(shoppers)
                drain = await drained(app)
                compared = await check_everything(app, shoppers, reports)
                stored = await app.services.pipeline.events.count_events({})
                beats = await app.services.pipeline.heartbeat.read()
                assert flusher.alive() and flusher.pid == pid, flusher.log_tail()  # never died
                assert beats["flusher"]["pid"] == pid
                errors = beats["flusher"]["errors_by_kind"]
                assert sum(errors.values()) > 0, beats["flusher"]  # it failed, and retried
            finally:
                await flusher.stop()
                await abandon(shoppers)
    finally:
        await wire.stop()
    print_counts("mongodb stopped mid-round", reports, stored, stops=stops, modes=modes,
                 outages_s=outages,
                 flusher_errors=errors,
                 checkpointer_errors=beats.get("checkpointer", {}).get("errors_by_kind"),
                 documents_compared=compared, seed=seed,
                 faults_s=round(faults_s, 1), drain_s=drain,
                 run_s=round(time.monotonic() - started, 1))  # fmt: skip
