"""`python -m server worker flusher` as a child process, started in milliseconds.

Worker processes are forked by a server that imported the app once (multiprocessing's
forkserver, its modules preloaded): each is a fresh process that runs the main of
`python -m server worker flusher` with its own environment, without the seconds of imports
(scikit-learn, Socket.IO, ...) a loaded 2-core machine spends on every `python -m server`.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from pathlib import Path
from typing import Any

from server.settings import Settings
from server.workers.flusher import CRASH_AT_ENV

PRELOAD = ["server.__main__", "server.bootstrap", "server.sockets.admin",
           "tests.support.flusher_process"]  # fmt: skip
_FORKSERVER: list[Any] = []


def worker_context() -> Any:
    if not _FORKSERVER:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        _FORKSERVER.append(context)
    return _FORKSERVER[0]


def _run_worker(env: dict[str, str], log_path: str) -> None:
    """In the child: `python -m server worker flusher` with this environment and log."""
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.environ.clear()
    os.environ.update(env)
    from server.__main__ import main

    raise SystemExit(main(["worker", "flusher"]))


def worker_env(settings: Settings, **env: str) -> dict[str, str]:
    """The environment of a worker process sharing these settings' Redis and MongoDB."""
    merged = {
        **os.environ,
        "VITRINE_REDIS__URL": settings.redis.url,
        "VITRINE_REDIS__KEY_PREFIX": settings.redis.key_prefix,
        "VITRINE_REDIS__MAX_BACKLOG": str(settings.redis.max_backlog),
        "VITRINE_MONGODB__URI": settings.mongodb.uri,
        "VITRINE_MONGODB__DATABASE": settings.mongodb.database,
        "VITRINE_PATHS__VAR_DIR": str(settings.var_dir),
        "VITRINE_PATHS__MODELS_DIR": str(settings.models_dir),
        **env,
    }
    for name in (CRASH_AT_ENV, CRASH_AT_ENV + "_ONCE"):
        if name not in env:
            merged.pop(name, None)
    return merged


class FlusherProcess:
    """`python -m server worker flusher` (the flusher and the checkpointer) for one test."""

    def __init__(self, settings: Settings, log_path: Path, **env: str) -> None:
        self.env = worker_env(settings, **env)
        self.log_path = log_path
        self.process: Any = None

    async def start(self) -> None:
        """Start the process, off the event loop: the first start of a run launches the
        forkserver, whose preload imports take seconds, and `Process.start` blocks until the
        child is forked. On the loop, that stalled the test's in-process app and its Redis
        calls (measured: 8.4 s on an idle machine, 10.5 s for one XLEN reply during it)."""
        self.process = worker_context().Process(
            target=_run_worker, args=(self.env, str(self.log_path)), daemon=True
        )
        await asyncio.to_thread(self.process.start)

    async def exit_code(self, timeout: float) -> int:
        await asyncio.to_thread(self.process.join, timeout)
        if self.process.exitcode is None:
            raise AssertionError(f"still running after {timeout}s; log:\n{self.log()}")
        return int(self.process.exitcode)

    def running(self) -> bool:
        return self.process is not None and self.process.is_alive()

    async def stop(self) -> int:
        """SIGTERM (the worker stops gracefully: exit code 0), SIGKILL if it hangs."""
        if self.process is None:
            return 0
        if self.process.is_alive():
            self.process.terminate()
        await asyncio.to_thread(self.process.join, 30)
        if self.process.exitcode is None:
            self.process.kill()
            await asyncio.to_thread(self.process.join)
        return int(self.process.exitcode)

    def log(self) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-4000:]
