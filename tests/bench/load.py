"""The orchestrator's side of the load generators: spawn, command, merge their results."""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import psutil

from server.settings import REPO_ROOT


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (nearest rank) of `values`, or None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return round(ordered[rank - 1], 2)


class GeneratorProcess:
    """One `python -m tests.bench.shoppers` child, spoken to one JSON line at a time."""

    def __init__(self, log_path: Any) -> None:
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.bench.shoppers", cwd=REPO_ROOT,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
            env={**os.environ, "PYTHONUNBUFFERED": "1"}, limit=64 * 1024 * 1024,
        )  # fmt: skip
        log.close()
        await self._read()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    async def _read(self) -> dict[str, Any]:
        assert self.process is not None and self.process.stdout is not None
        line = await self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"load generator exited; see {self.log_path}")
        reply: dict[str, Any] = orjson.loads(line)
        if "error" in reply:
            raise RuntimeError(f"load generator: {reply['error']} (log {self.log_path})")
        return reply

    async def call(self, **cmd: Any) -> dict[str, Any]:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(orjson.dumps(cmd) + b"\n")
        await self.process.stdin.drain()
        return await self._read()

    async def stop(self) -> None:
        if self.process is None:
            return
        try:
            await asyncio.wait_for(self.call(cmd="quit"), 0.1)
        except (TimeoutError, RuntimeError, BrokenPipeError, ConnectionResetError):
            pass
        try:
            await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        self.process = None


@dataclass
class PhaseResult:
    shoppers: int
    events_per_s: float
    batches_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    errors: dict[str, int]
    server_cpu_pct: float | None
    generator_cpu_pct: float
    probes: dict[str, Any]
    worker_cpu_pct: float | None = None  # the workers' process (flusher, checkpointer, ...)
    stream_lag: dict[str, Any] | None = None  # what the flusher had not stored at the end

    def to_dict(self) -> dict[str, Any]:
        out = {
            "shoppers": self.shoppers, "events_per_s": round(self.events_per_s),
            "batches_per_s": round(self.batches_per_s, 1), "ack_p50_ms": self.p50_ms,
            "ack_p99_ms": self.p99_ms, "errors": self.errors,
            "server_cpu_pct": self.server_cpu_pct, "generator_cpu_pct": self.generator_cpu_pct,
        }  # fmt: skip
        if self.worker_cpu_pct is not None:
            out["worker_cpu_pct"] = self.worker_cpu_pct
        if self.stream_lag is not None:
            out["stream_lag"] = self.stream_lag
        return out


class Load:
    """A fleet of generator processes sharing the shoppers between them."""

    def __init__(self, processes: int, log_dir: Any) -> None:
        self.generators = [GeneratorProcess(log_dir / f"shoppers{i}.log") for i in range(processes)]
        self.connected = 0

    async def start(self) -> None:
        await asyncio.gather(*(g.start() for g in self.generators))

    async def stop(self) -> None:
        await asyncio.gather(*(g.stop() for g in self.generators))

    async def connect(
        self, urls: Sequence[str], idents: Sequence[dict[str, str]]
    ) -> dict[str, Any]:
        """Connect shoppers, spread evenly; generator i talks to urls[i % len(urls)]."""
        n = len(self.generators)
        replies = await asyncio.gather(
            *(g.call(cmd="connect", url=urls[i % len(urls)], idents=list(idents[i::n]))
              for i, g in enumerate(self.generators))
        )  # fmt: skip
        self.connected = sum(r["connected"] for r in replies)
        return {"connected": self.connected, "failed": sum(r["failed"] for r in replies),
                "seconds": max(r["seconds"] for r in replies)}  # fmt: skip

    async def keep(self, shoppers: int) -> None:
        """Disconnect all but `shoppers` (spread evenly across the generators)."""
        n = len(self.generators)
        replies = await asyncio.gather(
            *(g.call(cmd="disconnect", keep=shoppers // n + (1 if i < shoppers % n else 0))
              for i, g in enumerate(self.generators))
        )  # fmt: skip
        self.connected = sum(r["connected"] for r in replies)

    async def run(
        self, *, interval: float, warmup: float, duration: float, server_pids: Sequence[int] = (),
        probes: Sequence[dict[str, str]] = (), probe_url: str = "", probe_gap: float = 3.0,
        worker_pids: Sequence[int] = (),
    ) -> PhaseResult:  # fmt: skip
        servers = [psutil.Process(pid) for pid in server_pids]
        cpu0 = [sum(s.cpu_times()[:2]) for s in servers]
        workers = [psutil.Process(pid) for pid in worker_pids]
        wcpu0 = [sum(w.cpu_times()[:2]) for w in workers]
        started = time.monotonic()
        n = len(self.generators)
        replies = await asyncio.gather(
            *(g.call(cmd="run", interval=interval, warmup=warmup, duration=duration,
                     url=probe_url, probes=list(probes[i::n]), probe_gap=probe_gap)
              for i, g in enumerate(self.generators))
        )  # fmt: skip
        wall = time.monotonic() - started
        server_cpu = (
            round(sum(sum(s.cpu_times()[:2]) - c for s, c in zip(servers, cpu0, strict=True))
                  / wall * 100)
            if servers else None
        )  # fmt: skip
        worker_cpu = (
            round(sum(sum(w.cpu_times()[:2]) - c for w, c in zip(workers, wcpu0, strict=True))
                  / wall * 100)
            if workers else None
        )  # fmt: skip
        latencies = [v for r in replies for v in r["latencies_ms"]]
        errors: dict[str, int] = {}
        for reply in replies:
            for code, count in reply["errors"].items():
                errors[code] = errors.get(code, 0) + count
        probe_out = {"push_ms": [v for r in replies for v in r["probes"]["push_ms"]]}
        for key in ("visits", "no_push", "errors"):
            probe_out[key] = sum(r["probes"][key] for r in replies)
        return PhaseResult(
            shoppers=sum(r["shoppers"] for r in replies),
            events_per_s=sum(r["acked_events"] for r in replies) / duration,
            batches_per_s=sum(r["acked_batches"] for r in replies) / duration,
            p50_ms=percentile(latencies, 50), p99_ms=percentile(latencies, 99), errors=errors,
            server_cpu_pct=server_cpu,
            generator_cpu_pct=round(sum(r["cpu_s"] for r in replies) / wall * 100),
            probes=probe_out, worker_cpu_pct=worker_cpu,
        )  # fmt: skip
