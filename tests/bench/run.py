"""`make bench`: run every measurement of issue 7, print the table, write the results.

python -m tests.bench.run            # the full benchmark (about 10 minutes on 2 cores)
python -m tests.bench.run --smoke    # seconds, small load: var/bench/smoke.json, docs untouched

Order (each part on a fresh stack where it needs one):
 1. embedded Valkey; 1,000,000 events binned into a fresh store (heatmap seed)
 2. `python -m server run` on that store: heatmap API timing, tracker cost in Chromium
 3. shoppers connect (3,000): idle memory; then at 3,000, 1,000 (+ persona probes) and 100
    shoppers, saturated and paced ingest; flush rate and stream lag over the whole load
 4. the bare python-socketio server, same load
 5. two server processes (ingest + persona workers) and a process with two flushers
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psutil
import redis.asyncio as aioredis

from server.adapters.embedded_valkey import EmbeddedValkey
from server.settings import REPO_ROOT
from tests.bench import browser, heatmap
from tests.bench.load import Load, PhaseResult, percentile
from tests.bench.report import render_text, targets, write_docs
from tests.bench.stack import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    BaselineServer,
    FlusherProcess,
    health,
    raise_fd_limit,
    rss_mib,
    server_env,
    shopper_identities,
    start_server,
)

PREFIX = "bench:"


@dataclass(frozen=True)
class Config:
    counts: tuple[int, ...] = (3000, 1000, 100)  # descending: connect once, then let go
    persona_at: int = 1000
    warmup_s: float = 3.0
    duration_s: float = 12.0
    interval_s: float = 1.0  # the tracker's cadence in paced phases
    generators: int = 2
    probes: int = 20
    probe_gap_s: float = 3.0
    persona_s: float = 20.0  # the paced phase with persona probes runs this long
    heatmap_events: int = 1_000_000
    heatmap_repeat: int = 15
    browser_s: float = 60.0
    out: str = "var/bench/latest.json"
    docs: bool = True
    overlap_starts: bool = False
    skip: tuple[str, ...] = ()  # parts left out of a partial run (never in make bench)


SMOKE = Config(counts=(20, 5), persona_at=20, warmup_s=0.5, duration_s=1.5, generators=1,
               probes=2, probe_gap_s=2.0, persona_s=6.0, heatmap_events=5_000, heatmap_repeat=3, browser_s=3.0,
               out="var/bench/smoke.json", docs=False, overlap_starts=True)  # fmt: skip


class OtherLoad:
    """CPU used by processes outside the benchmark while it runs (other work on the machine)."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def _ours(self) -> set[int]:
        me = psutil.Process()
        return {me.pid, *(child.pid for child in me.children(recursive=True))}

    async def _sample(self) -> None:
        while True:
            ours = self._ours()
            total = psutil.cpu_times()
            before = {p.pid: sum(p.cpu_times()[:2]) for p in map(_proc, ours) if p}
            await asyncio.sleep(2.0)
            after = psutil.cpu_times()
            mine = sum(sum(p.cpu_times()[:2]) - before.get(p.pid, 0.0)
                       for p in map(_proc, ours) if p)  # fmt: skip
            busy = (after.user + after.system + after.nice) - (
                total.user + total.system + total.nice
            )
            self.samples.append(max(0.0, (busy - mine) / 2.0 * 100))

    def start(self) -> None:
        self._task = asyncio.create_task(self._sample())

    async def stop(self) -> float | None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        return round(sum(self.samples) / len(self.samples)) if self.samples else None


def _proc(pid: int) -> psutil.Process | None:
    try:
        process = psutil.Process(pid)
        process.cpu_times()
        return process
    except psutil.Error:
        return None


def machine() -> dict[str, Any]:
    model = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    cores = os.cpu_count() or 0
    mem = psutil.virtual_memory().total / 2**30
    summary = (f"{cores} cores ({model}), {mem:.0f} GiB, Python {platform.python_version()}, "
               f"{platform.system()} {platform.release()}")  # fmt: skip
    return {"cores": cores, "cpu": model, "memory_gib": round(mem, 1),
            "python": platform.python_version(), "os": f"{platform.system()} {platform.release()}",
            "loadavg_at_start": [round(x, 2) for x in os.getloadavg()], "summary": summary}  # fmt: skip


async def lag_in_seconds(redis_url: str, batches_per_s: float) -> dict[str, Any]:
    """The flusher's lag at the end of a load, and how many seconds of that load it is."""
    lag = await stream_lag(redis_url, "flusher")
    entries = lag["lag"] + lag["pending"]
    seconds = round(entries / batches_per_s, 2) if batches_per_s else None
    return {"entries": entries, "seconds_of_traffic": seconds}


async def stream_lag(redis_url: str, group: str) -> dict[str, int]:
    """Entries the group has not read yet plus those read and not acknowledged."""
    client = aioredis.Redis.from_url(redis_url)
    try:
        groups = await client.xinfo_groups(PREFIX + "events")
    finally:
        await client.aclose()
    for info in groups:
        name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
        if name == group:
            return {"lag": int(info.get("lag") or 0), "pending": int(info.get("pending") or 0)}
    return {"lag": 0, "pending": 0}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Bench:
    def __init__(self, config: Config, work: Path) -> None:
        self.config = config
        self.work = work
        self.result: dict[str, Any] = {}

    async def ingest_series(
        self, load: Load, urls: list[str], pids: list[int], idents: list[dict[str, str]],
        *, probes: list[dict[str, str]] | None = None, memory: bool = False,
        worker_pids: list[int] | None = None, redis_url: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Connect the most shoppers once; run each count saturated and paced, largest first."""
        c = self.config
        series: dict[str, Any] = {}
        before = sum(rss_mib(pid) for pid in pids)
        connected = await load.connect(urls, idents[: max(c.counts)])
        log(f"connected {connected}")
        if memory:
            await asyncio.sleep(2.0)
            after = sum(rss_mib(pid) for pid in pids)
            n = connected["connected"]
            self.result["memory"] = {"rss_before_mib": round(before, 1),
                                     "rss_idle_mib": round(after, 1), "connections": n}  # fmt: skip
            self.result["rss_per_1000_conn_mib"] = (
                round((after - before) / n * 1000, 2) if n else None
            )
        for count in c.counts:
            await load.keep(count)
            phases: dict[str, Any] = {}
            for mode, interval in (("saturated", 0.0), ("paced", c.interval_s)):
                with_probes = probes if (mode == "paced" and count == c.persona_at) else []
                result = await load.run(interval=interval, warmup=c.warmup_s,
                                        duration=c.persona_s if with_probes else c.duration_s,
                                        server_pids=pids, worker_pids=worker_pids or [],
                                        probes=with_probes or [], probe_url=urls[0],
                                        probe_gap=c.probe_gap_s)  # fmt: skip
                if redis_url is not None:
                    result.stream_lag = await lag_in_seconds(redis_url, result.batches_per_s)
                phases[mode] = result.to_dict()
                log(f"{count} shoppers {mode}: {phases[mode]}")
                if with_probes:
                    self._persona(result)
            series[str(count)] = phases
        await load.keep(0)
        return series

    def _persona(self, result: PhaseResult) -> None:
        pushes = result.probes["push_ms"]
        self.result["persona_push_ms"] = {
            "p50": percentile(pushes, 50), "p99": percentile(pushes, 99),
            "samples": len(pushes), "visits": result.probes["visits"],
            "no_push": result.probes["no_push"], "errors": result.probes["errors"],
            "shoppers": result.shoppers, "probe_gap_s": self.config.probe_gap_s,
        }  # fmt: skip

    async def main_stack(self, valkey: EmbeddedValkey, load: Load) -> None:
        c = self.config
        var = self.work / "main"
        log(f"seeding {c.heatmap_events:,} heatmap events through the flusher's binning")
        seeded = await heatmap.seed(var, valkey.url, PREFIX, c.heatmap_events)
        log(f"seeded {seeded}")
        server = await start_server(server_env(var, valkey.url, PREFIX), self.work / "server.log")
        try:
            assert server.process is not None
            pid = server.process.pid
            timing = await heatmap.time_api(
                server.url, ADMIN_USER, ADMIN_PASSWORD, c.heatmap_repeat
            )
            slowest = max(timing[kind]["p50_ms"] for kind in ("move", "click", "scroll"))
            self.result["heatmap_ms"] = {**timing, **seeded, "page": heatmap.PAGE,
                                         "slowest_p50_ms": slowest}  # fmt: skip
            log(f"heatmap {self.result['heatmap_ms']}")
            log(f"tracker cost in Chromium, {c.browser_s:.0f} s per run")
            self.result["tracker"] = (
                {"skipped": "--skip browser"}
                if "browser" in c.skip
                else await browser.measure(server.url, c.browser_s)
            )
            log(f"tracker {self.result['tracker']}")
            idents = await shopper_identities(server.url, max(c.counts) + c.probes)
            shoppers, probes = idents[: max(c.counts)], idents[max(c.counts) :]
            start_health, started = await health(server.url), time.monotonic()
            worker_pid = int(start_health["workers"]["flusher"]["pid"])
            self.result["ingest"] = await self.ingest_series(
                load, [server.url], [pid], shoppers, probes=probes, memory=True,
                worker_pids=[worker_pid], redis_url=valkey.url,
            )  # fmt: skip
            end_health, elapsed = await health(server.url), time.monotonic() - started
            self.result["flush"] = await self._flush(valkey, start_health, end_health, elapsed)
            log(f"flush {self.result['flush']}")
        finally:
            await server.stop()

    async def _flush(self, valkey: EmbeddedValkey, start: dict[str, Any], end: dict[str, Any],
                     elapsed: float) -> dict[str, Any]:  # fmt: skip
        flushed = end["workers"]["flusher"]["events"] - start["workers"]["flusher"]["events"]
        writes = end["workers"]["flusher"]["write_ops"] - start["workers"]["flusher"]["write_ops"]
        rounds = end["workers"]["flusher"]["flushes"] - start["workers"]["flusher"]["flushes"]
        accepted = end["ingest"]["accepted_events"] - start["ingest"]["accepted_events"]
        batches = end["ingest"]["accepted_batches"] - start["ingest"]["accepted_batches"]
        lag = await stream_lag(valkey.url, "flusher")
        entries = lag["lag"] + lag["pending"]
        per_batch = accepted / batches if batches else 0
        rate = flushed / elapsed if elapsed else 0
        personas = await stream_lag(valkey.url, "personas")
        return {
            "events_per_s": round(rate), "seconds": round(elapsed, 1), "flushed_events": flushed,
            "accepted_events": accepted,
            "write_ops_per_1000_events": round(writes / flushed * 1000, 2) if flushed else None,
            "flush_rounds": rounds, "write_ops": writes,
            "write_ops_per_round": round(writes / rounds, 2) if rounds else None,
            "stream_lag_end": {"entries": entries, "events": round(entries * per_batch),
                               "drain_s": round(entries * per_batch / rate) if rate else None},
            "persona_lag_end": personas,
        }  # fmt: skip

    async def baseline(self, load: Load, idents: list[dict[str, str]]) -> None:
        server = BaselineServer(self.work / "baseline.log")
        await server.start()
        try:
            assert server.process is not None
            self.result["ingest_baseline"] = await self.ingest_series(
                load, [server.url], [server.process.pid], idents
            )
        finally:
            await server.stop()

    async def start_two(self, valkey: EmbeddedValkey) -> tuple[list[Any], FlusherProcess]:
        """Two web processes (ingest, persona workers) and one process with two flushers."""
        prefix = "bench2:"
        web = {"VITRINE_WORKERS__MODE": "none"}
        flushers = FlusherProcess(server_env(self.work / "p2-store", valkey.url, prefix),
                                  self.work / "p2-flushers.log", consumers=2)  # fmt: skip
        envs = [server_env(self.work / f"p2-web{i}", valkey.url, prefix, **web) for i in range(2)]
        started = await asyncio.gather(
            *(start_server(env, self.work / f"p2-web{i}.log") for i, env in enumerate(envs)),
            flushers.start(), return_exceptions=True,
        )  # fmt: skip
        servers = [s for s in started[:2] if not isinstance(s, BaseException)]
        for outcome in started:
            if isinstance(outcome, BaseException):
                await self.stop_two((servers, flushers))
                raise outcome
        return servers, flushers

    async def stop_two(self, stack: tuple[list[Any], FlusherProcess]) -> None:
        servers, flushers = stack
        await flushers.stop()
        for server in servers:
            await server.stop()

    async def two_processes(self, stack: tuple[list[Any], FlusherProcess], load: Load) -> None:
        servers, _ = stack
        idents = await shopper_identities(servers[0].url, max(self.config.counts))
        pids = [s.process.pid for s in servers if s.process is not None]
        self.result["ingest_2proc"] = await self.ingest_series(
            load, [s.url for s in servers], pids, idents
        )

    async def run(self) -> dict[str, Any]:
        c = self.config
        started = time.monotonic()
        self.result.update(
            command="make bench" if c.docs else "python -m tests.bench.run --smoke",
            date=datetime.now(UTC).replace(microsecond=0).isoformat(), machine=machine(),
            config=asdict(c), fd_limit=raise_fd_limit(),
        )  # fmt: skip
        other = OtherLoad()
        other.start()
        valkey = EmbeddedValkey(self.work / "valkey")
        await valkey.start()
        load = Load(c.generators, self.work)
        await load.start()
        # The smoke run starts the two-process stack early, alongside the rest (its figures
        # are not read as measurements); the full run starts it alone, after the others.
        early = asyncio.create_task(self.start_two(valkey)) if c.overlap_starts else None
        stack = None
        try:
            await self.main_stack(valkey, load)
            cookies = [{"cookie": "", "vid": f"vbase{i:06d}", "sid": f"sbase{i:06d}"}
                       for i in range(max(c.counts))]  # fmt: skip
            if "baseline" not in c.skip:
                log("bare python-socketio baseline")
                await self.baseline(load, cookies)
            if "2proc" not in c.skip:
                log("two server processes, two flushers")
                stack = await early if early is not None else await self.start_two(valkey)
                await self.two_processes(stack, load)
        finally:
            if early is not None and stack is None:
                early.cancel()
                with contextlib.suppress(BaseException):
                    stack = await early
            if stack is not None:
                await self.stop_two(stack)
            await load.stop()
            await valkey.stop()
            self.result["machine"]["other_cpu_pct"] = await other.stop()
        self.result["ingest_ratio"] = {
            n: round(ours["saturated"]["events_per_s"] / base["saturated"]["events_per_s"], 3)
            for n, ours in self.result["ingest"].items()
            if (base := self.result.get("ingest_baseline", {}).get(n)) and base["saturated"]["events_per_s"]
        }  # fmt: skip
        self.result["wall_s"] = round(time.monotonic() - started)
        self.result["targets"] = targets(self.result)
        return self.result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--smoke", action="store_true", help="seconds-long run, small load")
    parser.add_argument("--out", help="where to write the JSON results")
    parser.add_argument("--no-docs", action="store_true", help="leave docs/benchmarks.md alone")
    parser.add_argument("--skip", default="", help="comma-separated: browser,baseline,2proc")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    if args.out:
        config = Config(**{**asdict(config), "out": args.out})
    if args.no_docs or args.skip:
        config = Config(**{**asdict(config), "docs": False})
    skip = {part for part in args.skip.split(",") if part}
    if skip:
        config = Config(**{**asdict(config), "skip": tuple(sorted(skip))})
    work = REPO_ROOT / "var" / "bench" / ("smoke-run" if args.smoke else "run")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    result = asyncio.run(Bench(config, work).run())
    out = REPO_ROOT / config.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(render_text(result), flush=True)
    print(f"\nwrote {out}", flush=True)
    if config.docs:
        write_docs(result)
        print("wrote docs/benchmarks.md", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
