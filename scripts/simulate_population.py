"""Drive a simulated population of shoppers through a running shop, for the experiments page.

Each visitor is a real visitor of the server: GET /api/me gives it a vid cookie, a visit id,
a CSRF token and an arm (the server decides the arm from the vid); it accepts the consent
banner (POST /api/consent: analytics and personalization). Its tracker batches come from the
persona simulator (personas_engine.simulate) with the visitor's real vid and visit id, fresh
page-view ids and timestamps moved to now, and go over Socket.IO /track like the browser's.
Then, with a probability that depends on the simulated persona (and on the arm, by
--treatment-lift, to stage an effect), it adds products to its cart and places an order.

    VITRINE_PATHS__VAR_DIR=/tmp/exp-var VITRINE_EXPERIMENTS__HOLDOUT_FRACTION=0.5 \\
        .venv/bin/python -m server run --port 5099
    .venv/bin/python scripts/simulate_population.py --url http://127.0.0.1:5099 \\
        --visitors 200 --seed 1 [--admin-user U --admin-password P]

With admin credentials it asks the server to recompute the experiment summary at the end
and prints it; otherwise the summary catches up within 30 s.

`--scenario states` stages, in one population, every state a row of /admin/experiments can
be in (see STATES below): a real effect on hurried shoppers (verdict), none on explorers
(not yet), control bargain hunters whose tracker never reports (sample ratio mismatch) and
a few visitors who bounce before any persona (never qualified: too small). Rows are keyed
by the persona the server predicted, so check what it says:
`--expect-states verdict,not_yet,srm,too_small` exits 1 when one of them is missing.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import socketio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from personas_engine.catalog import Product, load_catalog
from personas_engine.simulate import TRAIN_MIXTURE, SimulatedVisit, simulate_visit, simulate_visits

# Chance that a visitor of each (simulated) persona orders, before any treatment lift:
# hurried shoppers come to buy, explorers mostly browse.
ORDER_PROBABILITY = {"hurried": 0.40, "bargain_hunter": 0.28, "explorer": 0.15}
BATCHES_PER_SECOND = 15.0  # under the server's per-connection limit (20/s, burst 40)
SHIPPING = {"name": "Sim Shopper", "email": "sim@example.org", "address": "1 Test Street",
            "city": "Lyon", "zip": "69001", "country": "France"}  # fmt: skip
ROW_STATES = ("verdict", "not_yet", "too_small", "srm")
# A page every persona qualifies on (explorer: catalog; hurried and bargain hunter: all pages).
REVISIT_PATH = "/catalog"
STOCK_RETRIES = 4


class HttpError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Role:
    """A group of staged shoppers: their simulated persona and what they do."""

    name: str
    persona: str
    count: int
    order_chance: tuple[float, float]  # (control, treatment)
    lost_control: float = 0.0  # share of control visitors whose tracker never reports
    bounce: bool = False  # one page view, too little for any persona, no order


# --scenario states: one population showing every row state (sequential analysis, 50 % holdout).
STATES = (
    # Order chance more than doubled by the adaptations: ~120 a side gives an always-valid
    # p far under Holm's bar for the ~7 tests of the family, even on an unlucky draw.
    Role("effect", "hurried", 240, (0.30, 0.80)),
    # No effect and enough of both (>= 30 visitors and >= 5 converters a side): not yet.
    Role("no-effect", "explorer", 130, (0.22, 0.22)),
    # 70 % of control never sends a batch (an ad blocker on the tracker, say): about 100
    # treatment for 30 control visitors, a chi-square p near 1e-9. Their orders still reach
    # the shop, without a tracked visitor (counted as unattributed).
    Role("lost-tracking", "bargain_hunter", 200, (0.28, 0.28), lost_control=0.7),
    # Never get a persona, so never qualify: the not-qualified row, no converters.
    Role("bounce", "explorer", 14, (0.0, 0.0), bounce=True),
)


@dataclass(frozen=True)
class Shopper:
    visit: SimulatedVisit
    order_roll: float
    lost_roll: float
    role: Role | None = None  # None: a plain run (ORDER_PROBABILITY and --treatment-lift)


class Population:
    def __init__(self, url: str, catalog: list[Product], rng: random.Random, lift: float,
                 revisit: bool = False) -> None:  # fmt: skip
        self.url = url.rstrip("/")
        self.catalog = catalog
        self.on_sale = [p for p in catalog if p.discount > 0] or catalog
        self.rng = rng
        self.lift = lift
        self.revisit = revisit
        self.tally: Counter[tuple[str, str, str]] = Counter()  # (persona, arm, outcome)
        self.errors: Counter[str] = Counter()
        self.notes: Counter[str] = Counter()

    def order_chance(self, shopper: Shopper, arm: str) -> float:
        if shopper.role is not None:
            return shopper.role.order_chance[arm == "treatment"]
        return ORDER_PROBABILITY[shopper.visit.label] * (1 + self.lift * (arm == "treatment"))

    async def visit(self, shopper: Shopper) -> None:
        """One visitor: identity, consent, tracker batches over /track, then maybe an order."""
        simulated, role = shopper.visit, shopper.role
        label = role.name if role is not None else simulated.label
        jar = aiohttp.CookieJar(unsafe=True)  # keep cookies from an IP-address host
        async with aiohttp.ClientSession(
            cookie_jar=jar, timeout=aiohttp.ClientTimeout(total=30)
        ) as http:
            me = await self._json(http, "GET", "/api/me")
            arm = me["arm"]
            csrf = me["csrf_token"]
            choice = {"analytics": True, "personalization": True, "where": "banner"}
            await self._json(http, "POST", "/api/consent", choice, csrf)
            ordering = shopper.order_roll < self.order_chance(shopper, arm)
            if role is not None and arm == "control" and shopper.lost_roll < role.lost_control:
                # The tracker never reports: no batch, so never a visitor of the experiment.
                bought = await self._order(http, csrf, simulated.label) if ordering else []
                self.tally[(label, arm, "untracked" + ("+order" if bought else ""))] += 1
                return
            cookie = "; ".join(f"{c.key}={c.value}" for c in jar)
            batches = self._as_visitor(simulated.batches, me)
            if role is not None and role.bounce:
                batches = bounced(batches)
                await self._page(http, batches[0]["path"])  # the one page it saw
            client = socketio.AsyncClient(reconnection=False)
            await client.connect(self.url, namespaces=["/track"], transports=["websocket"],
                                 headers={"Cookie": cookie})  # fmt: skip
            try:
                for batch in batches:
                    await self._send(client, batch)
                persona = await self._settled_persona(http, 2.0 if role and role.bounce else 6.0)
                if self.revisit and persona != "unknown":
                    # Another page, rendered with the persona now known: a page render also
                    # records the visitor's qualification (and its tracker reports the view).
                    await self._page(http, REVISIT_PATH)
                    batches.append(page_view(batches, REVISIT_PATH, "Catalog"))
                    await self._send(client, batches[-1])
                ordered: list[Product] = []
                if ordering and not (role is not None and role.bounce):
                    ordered = await self._order(http, csrf, simulated.label)
                # What the browser's tracker reports last: the cart and the order, or the tab
                # being hidden. Flushed after the persona settled, it also brings the
                # visitor's experiment record up to date.
                await self._send(client, closing_batch(batches, ordered))
            finally:
                await client.disconnect()
            outcome = "ordered" if ordered else "browsed"
            self.tally[(label, arm, outcome)] += 1
            self.tally[("predicted:" + persona, arm, outcome)] += 1

    async def _send(self, client: socketio.AsyncClient, batch: dict[str, Any]) -> None:
        ack = await client.call("batch", batch, namespace="/track", timeout=10)
        if not ack.get("ok"):
            self.errors["batch:" + str(ack.get("error"))] += 1
        await asyncio.sleep(1 / BATCHES_PER_SECOND)

    async def _page(self, http: aiohttp.ClientSession, path: str) -> None:
        async with http.get(self.url + path) as reply:
            await reply.read()
            if reply.status >= 400:
                self.errors[f"page:{reply.status}"] += 1

    async def _json(self, http: aiohttp.ClientSession, method: str, path: str,
                    body: Any = None, csrf: str = "") -> Any:  # fmt: skip
        headers = {"X-CSRF-Token": csrf} if csrf else {}
        async with http.request(method, self.url + path, json=body, headers=headers) as reply:
            data = await reply.json(content_type=None)
            if reply.status >= 400:
                raise HttpError(reply.status, f"{method} {path}: {reply.status} {data}")
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
        pool = self.on_sale if persona == "bargain_hunter" else self.catalog
        if persona == "hurried":
            picks = [self.rng.choice(self.catalog)]
        elif persona == "bargain_hunter":
            picks = self.rng.sample(self.on_sale, k=self.rng.randint(1, 2))
        else:
            picks = self.rng.sample(self.catalog, k=self.rng.randint(1, 3))
        added: list[Product] = []
        try:
            for product in picks:
                added.append(await self._add_to_cart(http, csrf, product, pool))
            order = {"shipping": SHIPPING, "payment": {"method": "card"},
                     "idempotency_key": secrets.token_hex(12)}  # fmt: skip
            await self._json(http, "POST", "/process-order", order, csrf)
        except RuntimeError as error:
            self.errors["order:" + str(error)[:60]] += 1
            return []
        return added

    async def _add_to_cart(self, http: aiohttp.ClientSession, csrf: str, product: Product,
                           pool: Sequence[Product]) -> Product:  # fmt: skip
        # Some products are sold out (the seed has a few at 0, more run out as the population
        # buys): like a shopper, take another one instead.
        for attempt in range(STOCK_RETRIES + 1):
            body = {"product_id": product.id, "quantity": self.rng.choice((1, 1, 1, 2))}
            try:
                await self._json(http, "POST", "/add-to-cart", body, csrf)
                return product
            except HttpError as error:
                if error.status != 409 or attempt == STOCK_RETRIES:
                    raise
                self.notes["sold out, took another product"] += 1
                product = self.rng.choice(pool)
        raise AssertionError("unreachable")


def bounced(batches: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first batch's page view alone: one signal, under the model's minimum evidence."""
    first = batches[0]
    page = next(e for e in first["events"] if e["k"] == "page")
    return [{**first, "seq": 0, "events": [page]}]


def page_view(batches: Sequence[dict[str, Any]], path: str, title: str) -> dict[str, Any]:
    """The tracker's first batch on a new page, after the visitor's last one."""
    last = max(batches, key=lambda b: b["t0"])
    first_page = next(e for b in batches for e in b["events"] if e["k"] == "page")
    event = {**first_page, "t": 0, "path": path, "title": title, "ref": last["path"]}
    return {**last, "pvid": "pv" + secrets.token_hex(8), "seq": 0, "path": path,
            "t0": max(int(time.time() * 1000), last["t0"] + 1000), "events": [event]}  # fmt: skip


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
    t0 = max(int(time.time() * 1000), last["t0"] + 500)
    return {**last, "seq": seq, "t0": t0, "events": events}


def plain_shoppers(n: int, seed: int, rng: random.Random) -> list[Shopper]:
    visits = simulate_visits(n, seed)
    return [Shopper(visit, rng.random(), 1.0) for visit in visits]


def staged_shoppers(roles: Sequence[Role], seed: int, rng: random.Random,
                    catalog: list[Product]) -> list[Shopper]:  # fmt: skip
    """Every role's shoppers, interleaved in a seeded order."""
    master = random.Random(seed)
    shoppers = []
    for role in roles:
        for _ in range(role.count):
            visit = simulate_visit(
                random.Random(master.getrandbits(64)), catalog, role.persona, TRAIN_MIXTURE
            )
            shoppers.append(Shopper(visit, rng.random(), rng.random(), role))
    rng.shuffle(shoppers)
    return shoppers


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
    print(f"\nanalysis: {report.get('analysis')}, correction: {report.get('correction')}, "
          f"control share: {report.get('holdout_fraction')}, unattributed orders: "
          f"{report.get('unattributed_orders', 0)}")  # fmt: skip
    print("row              state      arm        visitors  conv.  conv.rate  uplift (95% CI)")
    for row in report["personas"]:
        up = row["uplift"]["conversion_rate"]
        for arm in ("treatment", "control"):
            a = row["arms"][arm]
            rate = a["conversion_rate"]["value"]
            text = "" if arm == "control" or up["value"] is None else (
                f"{up['value'] * 100:+.1f} pp [{up['low'] * 100:+.1f}, {up['high'] * 100:+.1f}]"
                + (f"  p {up['p']:.2g}" if up.get("p") is not None else "")
                + (f" (adjusted {up['p_adjusted']:.2g})" if up.get("p_adjusted") is not None
                   else "")
            )  # fmt: skip
            shown = "—" if rate is None else f"{rate * 100:.1f} %"
            state = row.get("state", "") if arm == "treatment" else ""
            print(f"{row['persona']:<16} {state:<10} {arm:<10} {a['visitors']:>8}  "
                  f"{a['converters']:>5}  {shown:>9}  {text}")  # fmt: skip
        if row.get("note"):
            print(f"{'':<16} note: {row['note']}")


def missing_states(report: dict[str, Any], wanted: Sequence[str]) -> list[str]:
    seen = {row.get("state") for row in report.get("personas", [])}
    return [state for state in wanted if state not in seen]


def state_list(text: str) -> list[str]:
    states = [s.strip() for s in text.split(",") if s.strip()]
    unknown = sorted(set(states) - set(ROW_STATES))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown state(s) {unknown}; known: {ROW_STATES}")
    return states


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:5099")
    parser.add_argument("--scenario", choices=("plain", "states"), default="plain",
                        help="plain: --visitors shoppers, a third of each persona; states: "
                        "the staged population of STATES (--visitors and --treatment-lift "
                        "are ignored)")  # fmt: skip
    parser.add_argument("--visitors", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=12)
    parser.add_argument(
        "--treatment-lift",
        type=float,
        default=0.0,
        help="relative increase of the order chance in treatment (staged effect)",
    )
    parser.add_argument(
        "--revisit",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"once the persona is known, render {REVISIT_PATH} (which records the visitor's "
        "qualification); on by default with --scenario states",
    )
    parser.add_argument("--admin-user")
    parser.add_argument("--admin-password")
    parser.add_argument(
        "--flush-timeout",
        type=float,
        default=900.0,
        help="with admin credentials: seconds to wait for the flusher before recomputing",
    )
    parser.add_argument(
        "--expect-states",
        type=state_list,
        default=[],
        help=f"comma-separated row states ({','.join(ROW_STATES)}) the report must show; "
        "exit 1 if one is missing (needs admin credentials)",
    )
    args = parser.parse_args(argv)
    if args.expect_states and not (args.admin_user and args.admin_password):
        parser.error("--expect-states needs --admin-user and --admin-password")

    rng = random.Random(args.seed)
    catalog = load_catalog()
    staged = args.scenario == "states"
    shoppers = (staged_shoppers(STATES, args.seed, rng, catalog) if staged
                else plain_shoppers(args.visitors, args.seed, rng))  # fmt: skip
    revisit = staged if args.revisit is None else args.revisit
    population = Population(args.url, catalog, rng, args.treatment_lift, revisit)
    gate = asyncio.Semaphore(args.concurrency)
    started = time.monotonic()
    done = 0

    async def one(shopper: Shopper) -> None:
        nonlocal done
        async with gate:
            try:
                await population.visit(shopper)
            except (aiohttp.ClientError, socketio.exceptions.SocketIOError, RuntimeError,
                    TimeoutError) as error:  # fmt: skip
                population.errors[type(error).__name__] += 1
            done += 1
            if done % 25 == 0:
                print(f"  {done}/{len(shoppers)} visitors", flush=True)

    await asyncio.gather(*(one(shopper) for shopper in shoppers))
    print(f"{len(shoppers)} visitors in {time.monotonic() - started:.0f}s")
    for (persona, arm, outcome), count in sorted(population.tally.items()):
        print(f"  {persona:<26} {arm:<10} {outcome:<13} {count}")
    if population.notes:
        print("notes:", dict(population.notes))
    if population.errors:
        print("errors:", dict(population.errors))
    if not (args.admin_user and args.admin_password):
        return 0
    await wait_for_flush(args.url.rstrip("/"), args.flush_timeout)
    report = await refresh_summary(args.url, args.admin_user, args.admin_password)
    print_report(report)
    print("states:", ", ".join(f"{row['persona']}={row['state']}" for row in report["personas"]))
    print(f"done in {time.monotonic() - started:.0f}s")
    missing = missing_states(report, args.expect_states)
    if missing:
        print(f"missing states: {', '.join(missing)}", file=sys.stderr)
        return 1
    if args.expect_states:
        print(f"every expected state is shown: {', '.join(args.expect_states)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
