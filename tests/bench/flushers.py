"""Flushers as a process of their own, over the embedded store: the two-process benchmark.

Like `python -m server worker flusher`, with `--consumers` flushers in the consumer group
"flusher" in one process (one checkpointer), over the embedded store's file, while two web
processes (`[workers] mode = "none"`) ingest into the same Redis stream.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from server.bootstrap import make_flusher, start_services, start_worker, stop_services
from server.settings import load_settings


async def main(consumers: int) -> None:
    settings = load_settings(flusher={"enabled": True}, personas={"enabled": False})
    services = await start_services(settings, seed=False, worker_process=True)
    for i in range(1, consumers):
        flusher = make_flusher(services)
        flusher.name = f"flusher{i}"
        start_worker(services, flusher)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(f"{consumers} flushers running", flush=True)
    try:
        await stop.wait()
    finally:
        await stop_services(services)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m tests.bench.flushers")
    parser.add_argument("--consumers", type=int, default=2)
    asyncio.run(main(parser.parse_args().consumers))
