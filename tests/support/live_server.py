"""Real servers for tests: Hypercorn in this event loop, or `python -m server run` as a process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
from hypercorn.asyncio import serve
from hypercorn.config import Config

from server.adapters.embedded_valkey import free_port
from server.app import VitrineApp, create_app
from server.bootstrap import stop_services
from server.settings import REPO_ROOT, Settings
from tests.support.polling import eventually


@contextlib.asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[tuple[VitrineApp, str]]:
    """Serve the app with Hypercorn on a free port inside the current event loop."""
    app = create_app(settings)
    port = free_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = 1
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app.asgi, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_healthy(url, task=task)
        yield app, url
    finally:
        stop.set()
        # Open client connections (a test that failed midway) must not hang the teardown:
        # Hypercorn waits for them, so give it a moment, then stop the services ourselves.
        done, _ = await asyncio.wait({task}, timeout=5)
        if not done:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            services = app.quart.extensions.pop("vitrine", None)
            if services is not None:
                await stop_services(services)


async def wait_healthy(url: str, timeout: float = 60.0, task: Any = None) -> None:
    """Wait until `/healthz` answers (200, or 503 while a worker starts); a server `task`
    that ended meanwhile raises its own error instead."""
    async with aiohttp.ClientSession() as http:

        async def answering() -> bool:
            if task is not None and task.done():
                task.result()
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(url + "/healthz") as response:
                    return response.status in (200, 503)
            return False

        await eventually(answering, timeout=timeout, interval=0.1, what=f"{url}/healthz")


async def port_open(port: int, timeout: float = 30.0) -> None:
    """Wait until something accepts TCP connections on 127.0.0.1:`port`."""

    async def accepting() -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return False
        writer.close()
        return True

    await eventually(accepting, timeout=timeout, interval=0.1, what=f"port {port} open")


class ServerProcess:
    """`python -m server run` in a child process (its own process group, killed at the end)."""

    def __init__(self, env: dict[str, str], log_path: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.env = {**os.environ, **env}
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "server", "run", "--port", str(self.port)],
            cwd=REPO_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        await wait_healthy(self.url)

    async def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process is None:
            return 0
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(sig)
        try:
            code = await asyncio.to_thread(self.process.wait, 20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            code = await asyncio.to_thread(self.process.wait)
        self.process = None
        return code


async def visitor_cookie(url: str) -> tuple[str, dict[str, Any]]:
    """Become a visitor: return the Cookie header value and /api/me."""
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "/api/me") as response:
            me = await response.json()
            cookie = response.cookies["vid"]
    return f"vid={cookie.value}", me


async def consenting_visitor(url: str, analytics: bool, personalization: bool) -> tuple[str, Any]:
    """A visitor who answered the banner: (Cookie header, /api/me)."""
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(url + "/api/me") as response:
            me = await response.json()
        async with http.post(
            url + "/api/consent",
            json={"analytics": analytics, "personalization": personalization},
            headers={"X-CSRF-Token": me["csrf_token"]},
        ) as response:
            assert response.status == 200, await response.text()
        cookie = "; ".join(f"{c.key}={c.value}" for c in jar)
    return cookie, me


@contextlib.contextmanager
def mongo_wire_process(data_dir: Path) -> Iterator[str]:
    """mongoeco's wire server as a child process (a MongoDB several processes can share)."""
    port = free_port()
    wire = subprocess.Popen(
        [sys.executable, "-m", "server.adapters.mongo_wire", "--port", str(port),
         "--path", str(data_dir / "wire.sqlite3")],
        cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield f"mongodb://127.0.0.1:{port}/?directConnection=true"
    finally:
        wire.terminate()
        wire.wait(10)


def shared_services_env(
    redis_url: str, mongo_uri: str, name: str, models_dir: Path
) -> dict[str, str]:
    """Settings for server and worker processes that share one Redis, one MongoDB and the
    run's trained persona model (a process with none trains its own when it starts: 10 s
    alone here, but two servers training at once took over the 60 s a test waits)."""
    return {
        "VITRINE_PATHS__MODELS_DIR": str(models_dir),
        "VITRINE_MONGODB__URI": mongo_uri,
        "VITRINE_MONGODB__DATABASE": name,
        "VITRINE_REDIS__URL": redis_url,
        "VITRINE_REDIS__KEY_PREFIX": f"{name}:",
        "VITRINE_SECURITY__SECRET_KEY": "shared-secret-" + name,
        "VITRINE_ADMIN_USER": "admin",
        "VITRINE_ADMIN_PASSWORD": "correct-horse-battery",
        "VITRINE_PRIVACY__CONSENT_DEFAULT": "granted",
    }
