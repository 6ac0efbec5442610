"""Drive a simulated population of shoppers through a running shop, for the experiments page.

Each visitor is a real visitor of the server: GET /api/me gives it a vid cookie, a visit id,
a CSRF token and an arm (the server decides the arm from the vid). Its tracker batches come
from the persona simulator (personas_engine.simulate) with the visitor's real vid and visit
id, fresh page-view ids and timestamps moved to now, and go over Socket.IO /track like the
browser's. Then, with a probability that depends on the simulated persona (and on the arm,
by --treatment-lift, to stage an effect), it adds products to its cart and places an order.

    VITRINE_PATHS__VAR_DIR=/tmp/exp-var VITRINE_EXPERIMENTS__HOLDOUT_FRACTION=0.5 \\
        .venv/bin/python -m server run --port 5099
    .venv/bin/python scripts/simulate_population.py --url http://127.0.0.1:5099 \\
        --visitors 200 --seed 1 [--admin-user U --admin-password P]

With admin credentials it asks the server to recompute the experiment summary at the end
and prints it; otherwise the summary catches up within 30 s.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import socketio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from personas_engine.catalog import Product, load_catalog
from personas_engine.simulate import SimulatedVisit, simulate_visits

# Chance that a visitor of each (simulated) persona orders, before any treatment lift:
# hurried shoppers come to buy, explorers mostly browse.
ORDER_PROBABILITY = {"hurried": 0.40, "bargain_hunter": 0.28, "explorer": 0.15}
BATCHES_PER_SECOND = 15.0  # under the server's per-connection limit (20/s, burst 40)
SHIPPING = {"name": "Sim Shopper", "email": "sim@example.org", "address": "1 Test Street",
            "city": "Lyon", "zip": "69001", "country": "France"}  # fmt: skip


class Population:
    def __init__(self, url: str, catalog: list[Product], rng: random.Random, lift: float) -> None:
        self.url = url.rstrip("/")
        self.catalog = catalog
        self.on_sale = [p for p in catalog if p.discount > 0] or catalog
        self.rng = rng
        self.lift = lift
        self.tally: Counter[tuple[str, str, str]] = Counter()  # (persona, arm, outcome)
        self.errors: Counter[str] = Counter()

    async def visit(self, simulated: SimulatedVisit, order_roll: float) -> None:
        """One visitor: identity, tracker batches over /track, then maybe an order."""
        jar = aiohttp.CookieJar(unsafe=True)  # keep cookies from an IP-address host
        async with aiohttp.ClientSession(
            cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=30)
        ) as http:
            me = await self._json(http, "GET", "/api/me")
            cookie = "; ".join(f"{c.key}={c.value}" for c in jar)
            batches = self._as_visitor(simulated.batches, me)
            client = socketio.AsyncClient(reconnection=False)
            await client.connect(self.url, namespaces=["/track"], transports=["websocket"],
                                 headers={"Cookie": cookie})  # fmt: skip
            try:
                for batch in batches:
                    await self._send(client, batch)
                persona = await self._settled_persona(http)
                arm = me["arm"]
                lift = 1 + self.lift * (arm == "treatment")
                ordered: list[Product] = []
                if order_roll < ORDER_PROBABILITY[simulated.label] * lift:
                    ordered = await self._order(http, me["csrf_token"], simulated.label)
                # What the browser's tracker reports last: the cart and the order, or the tab
                # being hidden. Flushed after the persona settled, it also brings the
                # visitor's experiment record up to date.
                await self._send(client, closing_batch(batches, ordered))
            finally:
                await client.disconnect()
            outcome = "ordered" if ordered else "browsed"
            self.tally[(simulated.label, arm, outcome)] += 1
            self.tally[("predicted:" + persona, arm, outcome)] += 1

    async def _send(self, client: socketio.AsyncClient, batch: dict[str, Any]) -> None:
        ack = await client.call("batch", batch, namespace="/track", timeout=10)
        if not ack.get("ok"):
            self.errors["batch:" + str(ack.get("error"))] += 1
        await asyncio.sleep(1 / BATCHES_PER_SECOND)

    async def _json(self, http: aiohttp.ClientSession, method: str, path: str,
                    body: Any = None, csrf: str = "") -> Any:  # fmt: skip
        headers = {"X-CSRF-Token": csrf} if csrf else {}
        async with http.request(method, self.url + path, json=body, headers=headers) as reply:
            data = await reply.json(content_type=None)
            if reply.status >= 400:
                raise RuntimeError(f"{method} {path}: {reply.status} {data}")
            return data

    def _as_visitor(self, batches: Sequence[dict[str, Any]],
                    me: dict[str, Any]) -> list[dict[str, Any]]:  # fmt: skip
        # Fresh page-view ids: the server drops a (pvid, seq) it has seen, so a rerun with the
        # same seed must not reuse the simulator's. Times move to now, gaps kept.
        pvids: dict[str, str] = {}
        shift = int(time.time() * 1000) - min(b["t0"] for b in batches)
        out = []
        for batch in batches:
            pvid = pvids.setdefault(batch["pvid"], "pv" + secrets.token_hex(8))
            out.append({**batch, "vid": me["vid"], "sid": me["session_id"], "pvid": pvid,
                        "t0": batch["t0"] + shift})  # fmt: skip
        return out

    async def _settled_persona(self, http: aiohttp.ClientSession, wait_s: float = 6.0) -> str:
        # The persona worker reads the stream alongside the flusher; give it a moment so the
        # visitor's record (written at flush) can carry the persona and the order too.
        deadline = time.monotonic() + wait_s
        persona = "unknown"
        while time.monotonic() < deadline:
            persona = (await self._json(http, "GET", "/api/me"))["persona"]
            if persona != "unknown":
                break
            await asyncio.sleep(0.5)
        return str(persona)

    async def _order(self, http: aiohttp.ClientSession, csrf: str, persona: str) -> list[Product]:
        if persona == "hurried":
            picks = [self.rng.choice(self.catalog)]
        elif persona == "bargain_hunter":
            picks = self.rng.sample(self.on_sale, k=self.rng.randint(1, 2))
        else:
            picks = self.rng.sample(self.catalog, k=self.rng.randint(1, 3))
        try:
            for product in picks:
                body = {"product_id": product.id, "quantity": self.rng.choice((1, 1, 1, 2))}
                await self._json(http, "POST", "/add-to-cart", body, csrf)
            order = {"shipping": SHIPPING, "payment": {"method": "card"},
                     "idempotency_key": secrets.token_hex(12)}  # fmt: skip
            await self._json(http, "POST", "/process-order", order, csrf)
        except RuntimeError as error:
            self.errors["order:" + str(error)[:60]] += 1
            return []
        return picks


def closing_batch(batches: Sequence[dict[str, Any]], ordered: Sequence[Product]) -> dict[str, Any]:
    """One more batch on the last page view: cart adds and the order, or the tab hidden."""
    last = max(batches, key=lambda b: b["t0"])
    seq = 1 + max(b["seq"] for b in batches if b["pvid"] == last["pvid"])
    events: list[dict[str, Any]] = [
        {"k": "cart", "t": 100 * i, "op": "add", "pid": p.id, "q": 1} for i, p in enumerate(ordered)
    ]
    if ordered:
        events.append({"k": "cart", "t": 100 * len(ordered), "op": "order"})
    else:
        events.append({"k": "vis", "t": 0, "s": "hidden", "act_ms": 0})
    return {**last, "seq": seq, "t0": int(time.time() * 1000), "events": events}


async def wait_for_flush(url: str, timeout_s: float) -> None:
    """Wait until the flusher has written every batch (/healthz: stream lag and pending 0)."""
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            async with http.get(url + "/healthz") as reply:
                stream = (await reply.json(content_type=None)).get("stream", {})
            if not stream.get("lag") and not stream.get("pending"):
                return
            print(f"  flusher catching up: {stream.get('lag')} batches to go", flush=True)
            await asyncio.sleep(5)
    print("  gave up waiting for the flusher; the summary will lag behind", flush=True)


async def refresh_summary(url: str, user: str, password: str) -> dict[str, Any]:
    """Log in as an admin and recompute the experiment summary now."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(url + "/api/me") as reply:
            csrf = (await reply.json())["csrf_token"]
        form = {"username": user, "password": password, "csrf_token": csrf, "next": "/admin"}
        async with http.post(url + "/admin/login", data=form, allow_redirects=False) as reply:
            if reply.status != 302:
                raise RuntimeError(f"admin login failed: {reply.status}")
        headers = {"X-CSRF-Token": csrf}
        async with http.post(url + "/admin/api/experiments/refresh", json={},
                             headers=headers) as reply:  # fmt: skip
            return dict(await reply.json())


def print_report(report: dict[str, Any]) -> None:
    print("\npersona          arm        visitors  conv.rate  uplift (95% CI)")
    for row in report["personas"]:
        up = row["uplift"]["conversion_rate"]
        for arm in ("treatment", "control"):
            a = row["arms"][arm]
            rate = a["conversion_rate"]["value"]
            text = "" if arm == "control" or up["value"] is None else (
                f"{up['value'] * 100:+.1f} pp [{up['low'] * 100:+.1f}, {up['high'] * 100:+.1f}]"
                + ("  (too small)" if row["too_small"] else "")
            )  # fmt: skip
            shown = "—" if rate is None else f"{rate * 100:.1f} %"
            print(f"{row['persona']:<16} {arm:<10} {a['visitors']:>8}  {shown:>9}  {text}")


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:5099")
    parser.add_argument("--visitors", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=12)
    parser.add_argument(
        "--treatment-lift",
        type=float,
        default=0.0,
        help="relative increase of the order chance in treatment (staged effect)",
    )
    parser.add_argument("--admin-user")
    parser.add_argument("--admin-password")
    parser.add_argument(
        "--flush-timeout",
        type=float,
        default=900.0,
        help="with admin credentials: seconds to wait for the flusher before recomputing",
    )
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    visits = simulate_visits(args.visitors, args.seed)
    rolls = [rng.random() for _ in visits]
    population = Population(args.url, load_catalog(), rng, args.treatment_lift)
    gate = asyncio.Semaphore(args.concurrency)
    started = time.monotonic()

    async def one(i: int) -> None:
        async with gate:
            try:
                await population.visit(visits[i], rolls[i])
            except (aiohttp.ClientError, socketio.exceptions.SocketIOError, RuntimeError,
                    TimeoutError) as error:  # fmt: skip
                population.errors[type(error).__name__] += 1
            done = sum(population.tally[k] for k in population.tally if ":" not in k[0])
            if done and done % 25 == 0:
                print(f"  {done}/{len(visits)} visitors", flush=True)

    await asyncio.gather(*(one(i) for i in range(len(visits))))
    print(f"{len(visits)} visitors in {time.monotonic() - started:.0f}s")
    for (persona, arm, outcome), count in sorted(population.tally.items()):
        print(f"  {persona:<26} {arm:<10} {outcome:<8} {count}")
    if population.errors:
        print("errors:", dict(population.errors))
    if args.admin_user and args.admin_password:
        await wait_for_flush(args.url.rstrip("/"), args.flush_timeout)
        print_report(await refresh_summary(args.url, args.admin_user, args.admin_password))
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
