"""`make soak`: 1,000 shoppers at tracker pace for 10 minutes; lag, memory and writes per minute.

python -m tests.bench.soak                      # 1,000 shoppers, 10 minutes
python -m tests.bench.soak --shoppers 200 --minutes 2

The stack is `make run`'s: embedded Valkey, `python -m server run` on the embedded MongoDB
engine, its workers in their child process. Each minute prints the flusher's lag (entries
and seconds of traffic), the resident memory of the web process, the workers' process and
Valkey, and how many events and MongoDB writes the store took. At the end each series is
judged flat or not: the lag stays under 5 s of traffic, memory grows by less than 10 %
from the second minute to the last (the first one warms caches up), and the store's event
rate in the last minutes is within 10 % of the acknowledged rate.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
from typing import Any

import orjson
import psutil

from server.adapters.embedded_valkey import EmbeddedValkey
from server.settings import REPO_ROOT
from tests.bench.load import Load
from tests.bench.run import PREFIX, lag_in_seconds, log
from tests.bench.stack import health, raise_fd_limit, server_env, shopper_identities, start_server

MAX_LAG_S = 5.0
MAX_RSS_GROWTH = 0.10
MIN_STORE_SHARE = 0.90


def rss(pid: int) -> float:
    try:
        return round(psutil.Process(pid).memory_info().rss / 2**20, 1)
    except psutil.Error:
        return 0.0


def verdict(minutes: list[dict[str, Any]]) -> dict[str, Any]:
    """Flat or not, for each series (the first minute is warm-up for memory)."""
    steady = minutes[1:] or minutes
    lag_ok = all((m["lag_s"] or 0) <= MAX_LAG_S for m in minutes)
    growth = {
        name: round(steady[-1][name] / steady[0][name] - 1, 3) if steady[0][name] else None
        for name in ("web_rss_mib", "workers_rss_mib", "valkey_rss_mib")
    }
    rss_ok = all(g is None or g < MAX_RSS_GROWTH for g in growth.values())
    tail = minutes[-3:]
    acked = sum(m["acked_events"] for m in tail)
    stored = sum(m["stored_events"] for m in tail)
    store_share = round(stored / acked, 3) if acked else None
    writes_ok = store_share is not None and store_share >= MIN_STORE_SHARE
    return {"lag_flat": lag_ok, "rss_growth": growth, "rss_flat": rss_ok,
            "store_share_last_minutes": store_share, "writes_flat": writes_ok,
            "flat": lag_ok and rss_ok and writes_ok}  # fmt: skip


async def soak(shoppers: int, minutes: int, generators: int) -> dict[str, Any]:
    work = REPO_ROOT / "var" / "bench" / "soak"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    raise_fd_limit()
    valkey = EmbeddedValkey(work / "valkey")
    await valkey.start()
    load = Load(generators, work)
    await load.start()
    server = await start_server(server_env(work / "var", valkey.url, PREFIX), work / "server.log")
    rows: list[dict[str, Any]] = []
    try:
        assert server.process is not None and valkey._process is not None
        web_pid, valkey_pid = server.process.pid, valkey._process.pid
        idents = await shopper_identities(server.url, shoppers)
        log(f"connected {await load.connect([server.url], idents)}")
        before = (await health(server.url))["workers"]["flusher"]
        for minute in range(1, minutes + 1):
            result = await load.run(interval=1.0, warmup=0.0, duration=60.0,
                                    server_pids=[web_pid])  # fmt: skip
            state = await health(server.url)
            flusher = state["workers"]["flusher"]
            lag = await lag_in_seconds(valkey.url, result.batches_per_s)
            row = {
                "minute": minute,
                "acked_events": round(result.events_per_s * 60),
                "stored_events": flusher["events"] - before["events"],
                "write_ops": flusher["write_ops"] - before["write_ops"],
                "lag_entries": lag["entries"], "lag_s": lag["seconds_of_traffic"],
                "ack_p99_ms": result.p99_ms,
                "web_rss_mib": rss(web_pid), "workers_rss_mib": rss(int(flusher["pid"])),
                "valkey_rss_mib": rss(valkey_pid),
            }  # fmt: skip
            before = flusher
            rows.append(row)
            print(orjson.dumps(row).decode(), flush=True)
    finally:
        await server.stop()
        await load.stop()
        await valkey.stop()
    return {"shoppers": shoppers, "minutes": rows, "verdict": verdict(rows),
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    parser.add_argument("--shoppers", type=int, default=1000)
    parser.add_argument("--minutes", type=int, default=10)
    parser.add_argument("--generators", type=int, default=2)
    args = parser.parse_args(argv)
    result = asyncio.run(soak(args.shoppers, args.minutes, args.generators))
    out = REPO_ROOT / "var" / "bench" / "soak.json"
    out.write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    print(orjson.dumps(result["verdict"]).decode())
    print(f"wrote {out}")
    return 0 if result["verdict"]["flat"] else 1


if __name__ == "__main__":
    sys.exit(main())
