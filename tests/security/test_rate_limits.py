"""Rate limits: admin login, /apply-coupon and /process-order (Redis windows), and /track
(token buckets per connection) under a 10,000 events/s flood while another shopper shops."""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any

import pytest
import socketio

from tests.support.batches import batch, moves, page_event, page_view_id
from tests.support.live_server import running_app, visitor_cookie
from tests.support.polling import eventually
from tests.support.shopper import Shopper, new_shopper
from tests.support.sockets import connect

LIMITS = {"window_seconds": 5, "login_per_ip": 5, "apply_coupon_per_visitor": 3,
          "apply_coupon_per_ip": 5, "process_order_per_visitor": 3, "process_order_per_ip": 5}  # fmt: skip
ORDER = {"shipping": {"name": "A B", "email": "a@b.example", "address": "1 Road", "city": "Town",
                      "zip": "12345", "country": "France"},
         "payment": {"method": "card"}, "idempotency_key": "rate-limit-key-01"}  # fmt: skip


@pytest.fixture
async def limited_app(make_settings: Any) -> Any:
    from server.app import create_app

    vitrine = create_app(make_settings(rate_limits=LIMITS))
    async with vitrine.quart.test_app_class(vitrine.quart, startup_timeout=120):
        yield vitrine


async def window_start(window: float, needed: float) -> None:
    """Wait for a fresh window when fewer than `needed` seconds are left in this one."""
    left = window - time.time() % window
    if left < needed:
        await asyncio.sleep(left + 0.05)


async def statuses(visitor: Shopper, path: str, body: Any, times: int) -> list[int]:
    return [(await visitor.post(path, body)).status_code for _ in range(times)]


async def test_coupon_and_order_attempts_are_limited_per_visitor_and_per_address(
    limited_app: Any,
) -> None:
    first, second = await new_shopper(limited_app), await new_shopper(limited_app)
    window = LIMITS["window_seconds"]
    await window_start(window, 4.0)
    # Unknown codes (404) count like any attempt: guessing codes is what this stops.
    assert await statuses(first, "/apply-coupon", {"code": "GUESS-0001"}, 3) == [404] * 3
    response = await first.post("/apply-coupon", {"code": "GUESS-0002"})
    assert response.status_code == 429 and 1 <= int(response.headers["Retry-After"]) <= window
    assert (await response.get_json())["error"] == "rate_limited"
    # Another visitor from the same address: one more (5 in all), then the address is full.
    assert await statuses(second, "/apply-coupon", {"code": "GUESS-0003"}, 2) == [404, 429]
    assert await statuses(first, "/process-order", ORDER, 4) == [422] * 3 + [429]
    await asyncio.sleep(window - time.time() % window + 0.05)  # the next window
    assert (await first.post("/apply-coupon", {"code": "GUESS-0004"})).status_code == 404


async def test_login_attempts_are_limited_per_address(make_settings: Any) -> None:
    from server.app import create_app

    vitrine = create_app(make_settings(rate_limits={**LIMITS, "window_seconds": 60}))
    async with vitrine.quart.test_app_class(vitrine.quart, startup_timeout=120):
        visitor = await new_shopper(vitrine)
        await window_start(60, 20.0)
        assert await login_codes(visitor) == [401] * 5 + [429]


async def login_codes(visitor: Shopper) -> list[int]:
    codes = []
    for attempt in range(6):  # a different name each time: spraying, not one account
        form = {"username": f"sprayed-{attempt}", "password": "wrong-password",
                "csrf_token": visitor.csrf}  # fmt: skip
        codes.append((await visitor.http.post("/admin/login", form=form)).status_code)
    return codes


async def test_a_10000_events_per_second_flood_is_throttled_without_slowing_others(
    make_settings: Any,
) -> None:
    async with running_app(make_settings()) as (_, url):
        flood_cookie, flood_me = await visitor_cookie(url)
        calm_cookie, calm_me = await visitor_cookie(url)
        flood, calm = await connect(url, flood_cookie), await connect(url, calm_cookie)
        calm_pvid = page_view_id()
        calm_seq = 0

        async def calm_round(count: int) -> list[float]:
            nonlocal calm_seq
            latencies = []
            for _ in range(count):
                events = [page_event()] if calm_seq == 0 else moves(5)
                started = time.perf_counter()
                ack = await calm.call("batch", batch(calm_me["vid"], calm_me["session_id"],
                                                     calm_pvid, calm_seq, events),
                                      namespace="/track")  # fmt: skip
                latencies.append(time.perf_counter() - started)
                assert ack == {"ok": True, "seq": calm_seq}, ack
                calm_seq += 1
                await asyncio.sleep(0.1)
            return latencies

        before = await calm_round(10)
        acks: list[dict[str, Any]] = []
        sent_events = 0

        async def flood_for(seconds: float) -> None:
            nonlocal sent_events
            pvid, seq = page_view_id(), 0
            tick = time.perf_counter()
            deadline = tick + seconds
            while tick < deadline:
                for _ in range(20):  # 20 batches of 50 events every 0.1 s: 10,000 events/s
                    await flood.emit("batch", batch(flood_me["vid"], flood_me["session_id"], pvid,
                                                    seq, moves(50)),
                                     namespace="/track", callback=acks.append)  # fmt: skip
                    seq += 1
                    sent_events += 50
                tick += 0.1
                await asyncio.sleep(max(0.0, tick - time.perf_counter()))

        flooding = asyncio.create_task(flood_for(4.0))
        during = await calm_round(30)
        await flooding
        # Every batch is answered (accepted or rate_limited): count once all answers are in.
        await eventually(lambda: len(acks) == sent_events // 50, what="an ack for every batch")
        accepted = sum(1 for ack in acks if ack.get("ok"))
        limited = sum(1 for ack in acks if ack.get("error") == "rate_limited")
        print(f"\nflood: {sent_events} events sent in 4 s, {accepted * 50} accepted, "
              f"{limited} batches rate_limited; calm median {statistics.median(before) * 1000:.1f}"
              f" ms before, {statistics.median(during) * 1000:.1f} ms during")  # fmt: skip
        assert sent_events >= 40_000
        # At most the per-connection budget: 20 batches/s (burst 40), 1000 events/s (burst 2000).
        assert accepted * 50 <= 1000 * 5 + 2000
        assert limited >= len(acks) * 0.8
        # The calm shopper is not slowed down: every batch acknowledged, quickly.
        assert statistics.median(during) < max(0.1, 4 * statistics.median(before))
        assert max(during) < 1.0
        await flood.disconnect()
        await calm.disconnect()


async def test_a_flood_on_many_connections_of_one_visitor_is_throttled_per_connection(
    make_settings: Any,
) -> None:
    """Each connection has its own budget (docs/privacy.md says what that means)."""
    async with running_app(make_settings()) as (_, url):
        cookie, me = await visitor_cookie(url)
        clients: list[socketio.AsyncClient] = [await connect(url, cookie) for _ in range(3)]
        pvid = page_view_id()
        results = await asyncio.gather(*(
            client.call("batch", batch(me["vid"], me["session_id"], pvid, seq, moves(10)),
                        namespace="/track")
            for seq, client in ((s, clients[s % 3]) for s in range(300))
        ))  # fmt: skip
        accepted = sum(1 for ack in results if ack.get("ok"))
        assert 3 * 40 * 0.5 <= accepted <= 3 * (40 + 20 * 5)
        for client in clients:
            await client.disconnect()
