"""mongoeco's wire server as a process: a small MongoDB stand-in several processes can share.

For driver-compatibility and two-process tests only: its inserts slow down as a
collection grows (DESIGN.md §2), so it never backs `make run`.
Run: python -m server.adapters.mongo_wire --port 27099 --path var/wire.sqlite3
"""

from __future__ import annotations

import argparse
import asyncio
import signal


async def serve(port: int, path: str) -> None:
    from mongoeco.engines.sqlite import SQLiteEngine
    from mongoeco.wire import AsyncMongoEcoProxyServer

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with AsyncMongoEcoProxyServer(
        engine=SQLiteEngine(path), port=port, pymongo_profile="auto-installed"
    ) as server:
        print(f"mongoeco wire server on {server.address.uri}", flush=True)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default=":memory:")
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.path))


if __name__ == "__main__":
    main()
