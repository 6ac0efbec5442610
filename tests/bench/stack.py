"""The stack under test: embedded Valkey, `python -m server run` processes, the bare baseline."""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import psutil

from personas_engine.train import ensure_model
from server.adapters.embedded_valkey import free_port
from server.settings import REPO_ROOT
from tests.support.live_server import ServerProcess, wait_healthy

ADMIN_USER = "bench-admin"
ADMIN_PASSWORD = "bench-password-123"
SECRET = "bench-secret-key-not-for-production"
# The load generator sends far faster than one browser tab: the per-connection limits are
# raised for the benchmark (not removed: the token buckets still run on every batch).
RAISED_LIMITS = {
    "VITRINE_TRACKING__RATE_LIMIT_BATCHES_PER_SECOND": "100000",
    "VITRINE_TRACKING__RATE_LIMIT_BURST": "100000",
    "VITRINE_TRACKING__RATE_LIMIT_EVENTS_PER_SECOND": "10000000",
}


def raise_fd_limit() -> int:
    """3,000 shoppers need more than the usual 1,024 descriptors (children inherit this)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def server_env(var_dir: Path, redis_url: str, prefix: str, **extra: str) -> dict[str, str]:
    return {
        "VITRINE_PATHS__VAR_DIR": str(var_dir),
        "VITRINE_PATHS__MODELS_DIR": str(REPO_ROOT / "var" / "models"),
        "VITRINE_REDIS__URL": redis_url,
        "VITRINE_REDIS__KEY_PREFIX": prefix,
        "VITRINE_MONGODB__URI": "embedded",
        "VITRINE_SECURITY__SECRET_KEY": SECRET,
        "VITRINE_ADMIN_USER": ADMIN_USER,
        "VITRINE_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "VITRINE_PRIVACY__CONSENT_DEFAULT": "granted",
        **RAISED_LIMITS,
        **extra,
    }


async def start_server(env: dict[str, str], log_path: Path) -> ServerProcess:
    # Train the persona model here, once, if the models folder has none: a server that has
    # to train it first (about a minute on this machine) would not answer /healthz in time.
    models = env.get("VITRINE_PATHS__MODELS_DIR")
    if models:
        await asyncio.to_thread(ensure_model, Path(models))
    server = ServerProcess(env, log_path)
    try:
        await server.start()
    except BaseException:
        await server.stop(signal.SIGKILL)
        raise
    return server


async def health(url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "/healthz") as response:
            result: dict[str, Any] = await response.json()
            return result


async def shopper_identities(url: str, count: int, concurrency: int = 32) -> list[dict[str, str]]:
    """GET /api/me once per simulated shopper: its signed vid cookie, vid and visit id."""
    gate = asyncio.Semaphore(concurrency)
    out: list[dict[str, str]] = []
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector,
                                     cookie_jar=aiohttp.DummyCookieJar()) as http:  # fmt: skip

        async def one() -> None:
            async with gate:
                async with http.get(url + "/api/me") as response:
                    me = await response.json()
                    cookie = response.cookies["vid"].value
            out.append({"cookie": f"vid={cookie}", "vid": me["vid"], "sid": me["session_id"]})

        await asyncio.gather(*(one() for _ in range(count)))
    return out


def rss_mib(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 2**20


class BaselineServer:
    """`python -m tests.bench.baseline`: python-socketio whose handler only acknowledges."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.baseline", "--port", str(self.port)],
            cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        await wait_healthy(self.url, timeout=30)

    async def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.terminate()
        try:
            await asyncio.to_thread(self.process.wait, 15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            await asyncio.to_thread(self.process.wait)
        self.process = None


class FlusherProcess:
    """`python -m tests.bench.flushers`: flushers in a process of their own (embedded store)."""

    def __init__(self, env: dict[str, str], log_path: Path, consumers: int) -> None:
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.consumers = consumers
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.flushers", "--consumers", str(self.consumers)],
            cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        await asyncio.sleep(0.5)
        if self.process.poll() is not None:
            raise RuntimeError(f"the flusher process exited at start; see {self.log_path}")

    async def stop(self) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(self.process.wait, 20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            await asyncio.to_thread(self.process.wait)
        self.process = None
