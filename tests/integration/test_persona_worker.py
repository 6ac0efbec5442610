"""The persona worker on real parts: batches in over Socket.IO, a persona pushed back,
every prediction recorded, and Mistral (a local fake server) as a second opinion."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.batches import replay_as
from tests.support.fake_mistral import API_KEY, FakeMistral
from tests.support.live_server import running_app, visitor_cookie
from tests.support.polling import eventually
from tests.support.settings import UNLIMITED
from tests.support.sockets import connect


async def send_visit(
    url: str, fixture: str, cookie_and_me: tuple[str, dict[str, Any]] | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Send a scripted visit; return the visitor and the persona pushes it received."""
    cookie, me = cookie_and_me or await visitor_cookie(url)
    pushes: list[dict[str, Any]] = []
    client = await connect(url, cookie, on={"persona": pushes.append})
    for batch in replay_as(me, fixture):
        assert (await client.call("batch", batch, namespace="/track"))["ok"]
    await eventually(lambda: _has(pushes), timeout=20)
    await client.disconnect()
    return me, pushes


async def _has(items: list[Any]) -> bool:
    return bool(items)


@pytest.mark.parametrize(
    ("fixture", "persona"),
    [("bargain_scripted.json", "bargain_hunter"), ("hurried_scripted.json", "hurried"),
     ("explorer_scripted.json", "explorer")],
)  # fmt: skip
async def test_scripted_visit_gets_its_persona_pushed_and_recorded(
    make_settings: Any, fixture: str, persona: str
) -> None:
    async with running_app(make_settings(tracking=UNLIMITED)) as (app, url):
        me, pushes = await send_visit(url, fixture)
        assert pushes[-1]["persona"] == persona
        assert pushes[-1]["reasons"] and pushes[-1]["model_version"]
        history = await app.services.personas.history.of_session(me["session_id"])
        assert history and all(doc["source"] == "local" for doc in history)
        assert [doc["shown"] for doc in history if doc["changed"]][-1] == persona
        async with __import__("aiohttp").ClientSession(headers={"Cookie": ""}) as http:
            async with http.get(f"{url}/predict-persona/{me['vid']}") as response:
                assert response.status == 403  # not that visitor, not an admin


@pytest.fixture
async def fake_mistral() -> Any:
    fake = FakeMistral()
    await fake.start()
    yield fake
    await fake.stop()


async def test_mistral_second_opinion_is_recorded(
    make_settings: Any, fake_mistral: FakeMistral, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", API_KEY)
    fake_mistral.verdict = {"persona": "bargain_hunter", "confidence": 0.93,
                            "rationale": "Sorted by price and hovered discounts."}  # fmt: skip
    settings = make_settings(
        tracking=UNLIMITED,
        mistral={"mode": "always", "server_url": fake_mistral.url, "cooldown_seconds": 0},
    )
    async with running_app(settings) as (app, url):
        me, _ = await send_visit(url, "bargain_scripted.json")
        history = app.services.personas.history

        async def second_opinion() -> list[dict[str, Any]]:
            docs = await history.of_session(me["session_id"])
            return [doc for doc in docs if doc["source"] == "mistral"]

        docs = await eventually(second_opinion, timeout=20)
        assert docs[0]["persona"] == "bargain_hunter"
        assert docs[0]["reasons"] == ["Sorted by price and hovered discounts."]
        assert fake_mistral.requests["chat"] >= 1 and fake_mistral.requests["embeddings"] >= 1


async def test_mistral_failure_falls_back_to_the_local_model(
    make_settings: Any, fake_mistral: FakeMistral, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MISTRAL_API_KEY", API_KEY)
    fake_mistral.behaviour["chat"] = "500"
    settings = make_settings(
        tracking=UNLIMITED,
        mistral={"mode": "always", "server_url": fake_mistral.url, "max_retries": 0},
    )
    async with running_app(settings) as (app, url):
        me, pushes = await send_visit(url, "bargain_scripted.json")
        assert pushes[-1]["persona"] == "bargain_hunter"  # the local model still decides
        advisor = app.services.personas.advisor
        await eventually(lambda: _positive(advisor.stats.to_dict()), timeout=10)
        docs = await app.services.personas.history.of_session(me["session_id"])
        assert all(doc["source"] == "local" for doc in docs)


async def _positive(stats: dict[str, Any]) -> bool:
    await asyncio.sleep(0)
    return sum(stats.get("fallbacks", {}).values()) > 0 and stats.get("failures", 0) > 0


async def test_a_page_that_connects_after_the_change_is_sent_what_it_missed(
    make_settings: Any,
) -> None:
    # A page opens its socket on its first send, about a second after loading: a persona
    # decided in that second (a hurried shopper reaching the checkout) went to nobody.
    settings = make_settings(tracking=UNLIMITED, experiments={"force_arm": "treatment"})
    async with running_app(settings) as (_app, url):
        cookie, me = await visitor_cookie(url)
        _, pushes = await send_visit(url, "hurried_scripted.json", (cookie, me))
        assert pushes[-1]["persona"] == "hurried"
        missed: dict[str, list[Any]] = {"persona": [], "adapt": []}
        late = await connect(url, cookie, auth={"persona": "unknown"},
                             on={name: box.append for name, box in missed.items()})  # fmt: skip
        await eventually(lambda: _has(missed["adapt"]), timeout=10)
        await late.disconnect()
        assert [p["persona"] for p in missed["persona"]] == ["hurried"]
        assert missed["adapt"][0]["persona"] == "hurried"
        assert "express-checkout" in {a["name"] for a in missed["adapt"][0]["adaptations"]}


async def test_missed_pushes_are_none_when_the_page_is_current_or_not_personalized(
    make_settings: Any,
) -> None:
    from server.services.adaptation import missed_pushes

    async with running_app(make_settings(tracking=UNLIMITED)) as (app, url):
        me, _ = await send_visit(url, "hurried_scripted.json")
        services = app.services
        assert await missed_pushes(services, me["vid"], "hurried", personalization=True) == []
        assert await missed_pushes(services, me["vid"], "unknown", personalization=False) == []
        sent = await missed_pushes(services, me["vid"], "unknown", personalization=True)
        assert sent and sent[0][0] == "persona" and sent[0][1]["persona"] == "hurried"
        nobody = await missed_pushes(services, "v" + "0" * 20, "unknown", personalization=True)
        assert nobody == []  # no persona yet: nothing to catch up on
