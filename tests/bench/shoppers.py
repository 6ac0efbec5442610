"""A load-generator process: many python-socketio shoppers, driven over stdin/stdout.

`python -m tests.bench.shoppers` reads one JSON command per line and answers one JSON line:

  {"cmd": "connect", "url": ..., "idents": [{"cookie", "vid", "sid"}, ...]}
  {"cmd": "run", "interval": 0 | seconds, "warmup": s, "duration": s, "probes": [...]}
  {"cmd": "disconnect", "keep": n}      keep the first n shoppers connected
  {"cmd": "quit"}

`run` has every connected shopper send 50-event batches, one at a time (wait for the ack),
either back to back (interval 0: the most the server acknowledges) or one per interval
(the tracker's pace). Probes replay clear-cut visits and time the persona push.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import resource
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import socketio

from server.sockets.server import OrjsonPackets
from tests.bench.traffic import ShopperTraffic, load_page_views, probe_visits, visit_batches

NAMESPACE = "/track"
ACK_TIMEOUT_S = 30.0


@dataclass
class Recorder:
    """Acks counted inside the measurement window; latencies of batches sent inside it."""

    start: float = 0.0
    end: float = 0.0
    acked_events: int = 0
    acked_batches: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def record(self, sent: float, done: float, ack: Any, events: int) -> None:
        if not self.start <= sent < self.end:
            return
        if isinstance(ack, dict) and ack.get("ok"):
            if done < self.end:
                self.acked_batches += 1
                self.acked_events += events
            self.latencies_ms.append(round((done - sent) * 1000, 3))
        else:
            code = ack.get("error", "?") if isinstance(ack, dict) else str(ack)
            self.errors[code] = self.errors.get(code, 0) + 1


@dataclass
class Shopper:
    ident: dict[str, str]
    client: socketio.AsyncClient
    traffic: ShopperTraffic


class Generator:
    def __init__(self) -> None:
        self.shoppers: list[Shopper] = []
        self.http: aiohttp.ClientSession | None = None
        self.views = load_page_views()
        self.probe_pool = probe_visits()

    async def session(self) -> aiohttp.ClientSession:
        if self.http is None:
            # One session for every client; no connection cap (a websocket holds one).
            self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        return self.http

    async def _client(self, url: str, cookie: str) -> socketio.AsyncClient:
        client = socketio.AsyncClient(
            reconnection=False, json=OrjsonPackets, handle_sigint=False,
            http_session=await self.session(), request_timeout=30,
        )  # fmt: skip
        await client.connect(url, headers={"Cookie": cookie}, transports=["websocket"],
                             namespaces=[NAMESPACE], wait_timeout=30)  # fmt: skip
        return client

    async def connect(
        self, url: str, idents: list[dict[str, str]], concurrency: int = 64
    ) -> dict[str, Any]:
        started = time.perf_counter()
        gate = asyncio.Semaphore(concurrency)
        failures: list[str] = []

        async def one(index: int, ident: dict[str, str]) -> None:
            async with gate:
                try:
                    client = await self._client(url, ident["cookie"])
                except Exception as error:  # counted and reported, never fatal
                    failures.append(type(error).__name__)
                    return
                traffic = ShopperTraffic(ident["vid"], ident["sid"], self.views,
                                         len(self.shoppers) + index)  # fmt: skip
                self.shoppers.append(Shopper(ident, client, traffic))

        await asyncio.gather(*(one(i, ident) for i, ident in enumerate(idents)))
        return {"connected": len(self.shoppers), "failed": len(failures),
                "seconds": round(time.perf_counter() - started, 2)}  # fmt: skip

    async def disconnect(self, keep: int = 0) -> dict[str, Any]:
        leaving, self.shoppers = self.shoppers[keep:], self.shoppers[:keep]
        for chunk in range(0, len(leaving), 200):
            await asyncio.gather(
                *(s.client.disconnect() for s in leaving[chunk : chunk + 200]),
                return_exceptions=True,
            )
        return {"connected": len(self.shoppers)}

    async def _shop(self, shopper: Shopper, rec: Recorder, stop: float, interval: float) -> None:
        next_at = time.perf_counter() + random.random() * interval
        while True:
            now = time.perf_counter()
            if now >= stop:
                return
            if interval:
                if next_at > now:
                    await asyncio.sleep(next_at - now)
                next_at = max(next_at + interval, time.perf_counter())
            batch = shopper.traffic.next_batch()
            sent = time.perf_counter()
            try:
                ack = await shopper.client.call("batch", batch, namespace=NAMESPACE,
                                                timeout=ACK_TIMEOUT_S)  # fmt: skip
            except socketio.exceptions.TimeoutError:
                ack = {"ok": False, "error": "timeout"}
            except Exception as error:
                ack = {"ok": False, "error": type(error).__name__}
                await asyncio.sleep(0.5)
            rec.record(sent, time.perf_counter(), ack, len(batch["events"]))

    async def _probe(self, ident: dict[str, str], url: str, stop: float, gap: float,
                     out: dict[str, Any]) -> None:  # fmt: skip
        """Replay clear-cut visits; after each batch wait `gap` s for a persona push."""
        pushed = asyncio.Event()
        arrived = [0.0]

        client = await self._client(url, ident["cookie"])

        def on_persona(_data: Any) -> None:
            arrived[0] = time.perf_counter()
            pushed.set()

        client.on("persona", on_persona, namespace=NAMESPACE)
        rng = random.Random(ident["vid"])
        try:
            while time.perf_counter() < stop:
                visit = visit_batches(ident["vid"], rng.choice(self.probe_pool))
                for batch in visit:
                    if time.perf_counter() >= stop:
                        return
                    pushed.clear()
                    sent = time.perf_counter()
                    ack = await client.call("batch", batch, namespace=NAMESPACE,
                                            timeout=ACK_TIMEOUT_S)  # fmt: skip
                    if not ack.get("ok"):
                        out["errors"] += 1
                        continue
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(pushed.wait(), gap)
                    if pushed.is_set():
                        out["push_ms"].append(round((arrived[0] - sent) * 1000, 2))
                        break
                else:
                    out["no_push"] += 1
                out["visits"] += 1
        finally:
            await client.disconnect()

    async def run(self, cmd: dict[str, Any]) -> dict[str, Any]:
        interval = float(cmd.get("interval", 0))
        warmup, duration = float(cmd.get("warmup", 2)), float(cmd["duration"])
        now = time.perf_counter()
        rec = Recorder(start=now + warmup, end=now + warmup + duration)
        probes: dict[str, Any] = {"push_ms": [], "visits": 0, "no_push": 0, "errors": 0}
        cpu = time.process_time()
        tasks = [self._shop(s, rec, rec.end, interval) for s in self.shoppers]
        tasks += [
            self._probe(ident, cmd["url"], rec.end, float(cmd.get("probe_gap", 3.0)), probes)
            for ident in cmd.get("probes", [])
        ]
        await asyncio.gather(*tasks)
        return {
            "window_s": duration, "shoppers": len(self.shoppers),
            "acked_events": rec.acked_events, "acked_batches": rec.acked_batches,
            "latencies_ms": rec.latencies_ms, "errors": rec.errors, "probes": probes,
            "cpu_s": round(time.process_time() - cpu, 2),
        }  # fmt: skip


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def serve() -> None:
    _raise_fd_limit()
    generator = Generator()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024 * 1024)  # a connect line lists 1,500 cookies
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print(orjson.dumps({"ready": True}).decode(), flush=True)
    while line := await reader.readline():
        cmd = orjson.loads(line)
        if cmd["cmd"] == "quit":
            break
        try:
            if cmd["cmd"] == "connect":
                reply = await generator.connect(cmd["url"], cmd["idents"])
            elif cmd["cmd"] == "run":
                reply = await generator.run(cmd)
            elif cmd["cmd"] == "disconnect":
                reply = await generator.disconnect(int(cmd.get("keep", 0)))
            else:
                reply = {"error": f"unknown command {cmd['cmd']!r}"}
        except Exception as error:  # reported to the orchestrator, which decides
            reply = {"error": f"{type(error).__name__}: {error}"}
        print(orjson.dumps(reply).decode(), flush=True)
    await generator.disconnect()
    if generator.http is not None:
        await generator.http.close()


if __name__ == "__main__":
    asyncio.run(serve())
