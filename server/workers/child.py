"""The workers as one child process of the web server (`[workers] mode = "process"`).

Why a process and not tasks: the embedded MongoDB engine runs in the process that opens it
and its writes cost CPU there. With the flusher, checkpointer, persona worker and the other
high-volume writers in a child, the web process's event loop only validates and appends
shoppers' batches. Both processes open the same SQLite file (WAL mode lets one write while
the other reads); everything high-volume reaches the child through Redis streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable

from server.adapters.embedded_valkey import die_with_parent
from server.settings import REPO_ROOT, SETTINGS_JSON_ENV, Settings

log = logging.getLogger(__name__)

RESTART_AFTER_S = 1.0
READY_TIMEOUT_S = 90.0


class WorkerProcess:
    def __init__(self, settings: Settings, redis_url: str) -> None:
        # The child gets the parent's settings as they are (files, overrides and all), with
        # Redis pointed at the parent's (possibly embedded) server.
        data = settings.model_dump(mode="json")
        data["redis"]["url"] = redis_url
        data["workers"]["mode"] = "inline"
        self.settings_json = Settings.model_validate(data).model_dump_json()
        self.process: asyncio.subprocess.Process | None = None
        self.restarts = 0
        self._stopping = False

    async def start(self) -> None:
        env = {**os.environ, SETTINGS_JSON_ENV: self.settings_json}
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "server", "worker", "all",
            cwd=REPO_ROOT, env=env, preexec_fn=die_with_parent,
        )  # fmt: skip
        log.info("worker process started (pid %d)", self.process.pid)

    async def wait_ready(
        self, workers_started_since: Callable[[float], Awaitable[bool]], since: float
    ) -> bool:
        """Wait until the child's workers report they are running (False: gave up)."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process is not None and self.process.returncode is not None:
                return False
            if await workers_started_since(since):
                return True
            await asyncio.sleep(0.1)
        return False

    async def supervise(self) -> None:
        """Start the child again whenever it ends (a crash must not stop the pipeline)."""
        while True:
            process = self.process
            if process is None:
                await self.start()
                continue
            code = await process.wait()
            if self._stopping:
                return
            self.restarts += 1
            log.error("worker process exited with %s; restarting", code)
            self.process = None
            await asyncio.sleep(RESTART_AFTER_S)

    async def stop(self) -> None:
        self._stopping = True
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
