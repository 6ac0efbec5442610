"""Consent on real parts: the page, the beacon, the /track socket and the persona push.

These apps run with `privacy.consent_default = "ask"` (the shipped default), not the
"granted" the other tests use.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
import orjson
import pytest

from server.domain.consent import CONSENT_COOKIE, ConsentCookie
from tests.support.batches import batch, moves, page_event, page_view_id, replay_as
from tests.support.live_server import consenting_visitor, running_app, visitor_cookie
from tests.support.polling import eventually
from tests.support.settings import UNLIMITED
from tests.support.shopper import Shopper, new_shopper
from tests.support.sockets import connect, refusal

ASK = {"consent_default": "ask"}


def meta_consent(html: str) -> str:
    match = re.search(r'<meta name="vitrine-consent" content="(\w+)">', html)
    assert match, "no vitrine-consent meta"
    return match.group(1)


async def page(shopper: Shopper, path: str = "/", **headers: str) -> str:
    response = await shopper.get(path, headers=headers)
    assert response.status_code == 200
    return str(await response.get_data(as_text=True))


@pytest.fixture
async def ask_app(make_settings: Any) -> Any:
    from server.app import create_app

    vitrine = create_app(make_settings(privacy=ASK))
    async with vitrine.quart.test_app_class(vitrine.quart, startup_timeout=120):
        yield vitrine


async def test_without_a_choice_the_page_asks_and_only_the_cart_cookie_is_set(ask_app: Any) -> None:
    client = ask_app.quart.test_client()
    first = await client.get("/")
    cookies = [h.split("=", 1)[0] for h in first.headers.getlist("Set-Cookie")]
    assert cookies == ["vid"], "only the strictly necessary visitor (cart) cookie"
    html = await first.get_data(as_text=True)
    assert meta_consent(html) == "ask"
    for action in ("consent-accept", "consent-decline", "privacy-settings"):
        assert f'data-action="{action}"' in html
    assert "Demo mode" not in html

    shopper = await new_shopper(ask_app)
    good = batch(shopper.vid, "sessionNoConsent01", page_view_id(), 0, [page_event()])
    response = await shopper.post("/record-session-data", good, csrf=False)
    assert response.status_code == 403
    assert await response.get_json() == {"ok": False, "error": "no_consent"}
    assert await ask_app.services.redis.xlen(ask_app.services.key("events")) == 0
    assert ask_app.services.pipeline.ingest.rejected["no_consent"] == 1


async def test_a_choice_is_stored_with_its_time_and_can_be_changed(ask_app: Any) -> None:
    shopper = await new_shopper(ask_app)
    services = ask_app.services
    response = await shopper.post("/api/consent", {"analytics": True, "personalization": False})
    assert response.status_code == 200
    reply = await response.get_json()
    assert reply["analytics"] is True and reply["personalization"] is False
    assert reply["state"] == "granted" and reply["source"] == "choice"
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(CONSENT_COOKIE))
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Max-Age=15552000" in header

    html = await page(shopper)
    assert meta_consent(html) == "granted" and "data-consent-banner" not in html
    flag = (await services.redis.get(services.key("consent", shopper.vid))).decode()
    assert re.fullmatch(r"a1p0t\d{10}", flag)
    record = await services.privacy.consent.record_of(shopper.vid)
    assert record["consent"]["analytics"] is True and record["consent"]["where"] == "banner"

    # Changed from the privacy settings page (the footer link): both kept, newest last.
    await asyncio.sleep(1.05)
    response = await shopper.post(
        "/api/consent", {"analytics": False, "personalization": False, "where": "settings"}
    )
    assert (await response.get_json())["state"] == "denied"
    record = await services.privacy.consent.record_of(shopper.vid)
    assert [entry["analytics"] for entry in record["consent_history"]] == [True, False]
    assert record["consent_history"][1]["at"] > record["consent_history"][0]["at"]
    settings_page = await page(shopper, "/privacy")
    assert meta_consent(settings_page) == "denied"
    assert "Analytics off, personalization off (chosen" in settings_page
    assert (await (await shopper.get("/api/consent")).get_json())["recorded"]["at"]


@pytest.mark.parametrize("header", ["DNT", "Sec-GPC"])
async def test_do_not_track_and_gpc_count_as_a_decline(ask_app: Any, header: str) -> None:
    shopper = await new_shopper(ask_app)
    await shopper.post("/api/consent", {"analytics": True, "personalization": True})
    html = await page(shopper, "/", **{header: "1"})
    assert meta_consent(html) == "denied" and "data-consent-banner" not in html
    assert 'data-privacy-signal="' in await page(shopper, "/privacy", **{header: "1"})
    good = batch(shopper.vid, "sessionSignal0001", page_view_id(), 0, [page_event()])
    response = await shopper.post("/record-session-data", good, csrf=False, headers={header: "1"})
    assert await response.get_json() == {"ok": False, "error": "no_consent"}
    # Without the header the stored choice applies again.
    assert meta_consent(await page(shopper)) == "granted"
    response = await shopper.post("/record-session-data", good, csrf=False)
    assert await response.get_json() == {"ok": True, "seq": 0}


async def test_a_forged_or_borrowed_consent_cookie_counts_for_nothing(ask_app: Any) -> None:
    owner, other = await new_shopper(ask_app), await new_shopper(ask_app)
    response = await owner.post("/api/consent", {"analytics": True, "personalization": True})
    value = response.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    other.http.set_cookie("localhost", CONSENT_COOKIE, value)
    assert meta_consent(await page(other)) == "ask"
    other.http.set_cookie("localhost", CONSENT_COOKIE, "a1p1t1764158400")
    assert meta_consent(await page(other)) == "ask"


async def test_bad_consent_bodies_are_refused(ask_app: Any) -> None:
    shopper = await new_shopper(ask_app)
    for body in ({"analytics": "yes", "personalization": True}, {"analytics": True},
                 {"analytics": True, "personalization": True, "where": "elsewhere"},
                 {"analytics": True, "personalization": True, "$set": {}}, [True, True]):  # fmt: skip
        response = await shopper.post("/api/consent", body)
        assert response.status_code == 400, body
        assert (await response.get_json())["error"] in ("invalid_field", "invalid_json")
    no_csrf = await shopper.post("/api/consent", {"analytics": True, "personalization": True},
                                 csrf=False)  # fmt: skip
    assert no_csrf.status_code == 403
    assert await ask_app.services.privacy.consent.record_of(shopper.vid) is None


async def test_the_demo_switch_defaults_to_consent_and_says_so(make_settings: Any) -> None:
    from server.app import create_app

    vitrine = create_app(make_settings(privacy={"consent_default": "granted"}))
    async with vitrine.quart.test_app_class(vitrine.quart, startup_timeout=120):
        shopper = await new_shopper(vitrine)
        html = await page(shopper)
        assert meta_consent(html) == "granted" and "data-consent-banner" not in html
        assert "Demo mode: consent assumed" in html
        await shopper.post("/api/consent", {"analytics": False, "personalization": False})
        assert meta_consent(await page(shopper)) == "denied"


# Over real sockets: the /track handshake reads the same cookie and headers.


async def test_track_refuses_connections_without_consent_dnt_or_gpc(make_settings: Any) -> None:
    async with running_app(make_settings(privacy=ASK, tracking=UNLIMITED)) as (_app, url):
        cookie, _ = await visitor_cookie(url)
        assert await refusal(url, {"Cookie": cookie}) == {"message": "no_consent"}
        cookie, me = await consenting_visitor(url, True, False)
        for header in ("DNT", "Sec-GPC"):
            assert await refusal(url, {"Cookie": cookie, header: "1"}) == {"message": "no_consent"}
        assert await refusal(url, {"Cookie": cookie}) is None
        client = await connect(url, cookie)
        pvid = page_view_id()
        good = batch(me["vid"], me["session_id"], pvid, 0, [page_event()])
        assert await client.call("batch", good, namespace="/track") == {"ok": True, "seq": 0}

        # Declining later (another tab) stops this open connection within seconds.
        cookie_declined, _ = await _decline(url, cookie, me)
        await asyncio.sleep(2.2)
        later = batch(me["vid"], me["session_id"], pvid, 1, moves(3))
        assert await client.call("batch", later, namespace="/track") == {
            "ok": False,
            "error": "no_consent",
        }
        await client.disconnect()
        assert await refusal(url, {"Cookie": cookie_declined}) == {"message": "no_consent"}


async def _decline(url: str, cookie: str, me: dict[str, Any]) -> tuple[str, Any]:
    async with aiohttp.ClientSession(headers={"Cookie": cookie}) as http:
        async with http.post(
            url + "/api/consent",
            json={"analytics": False, "personalization": False},
            headers={"X-CSRF-Token": me["csrf_token"]},
        ) as response:
            assert response.status == 200
            value = response.cookies[CONSENT_COOKIE].value
    vid_part = next(part for part in cookie.split("; ") if part.startswith("vid="))
    return f"{vid_part}; {CONSENT_COOKIE}={value}", me


async def send_scripted(url: str, cookie: str, me: dict[str, Any]) -> list[dict[str, Any]]:
    """Send the bargain hunter's scripted visit; return the list the server's pushes to it go
    to (the socket stays open)."""
    pushes: list[dict[str, Any]] = []
    client = await connect(url, cookie, on={
        "persona": lambda data: pushes.append({"event": "persona", **data}),
        "adapt": lambda data: pushes.append({"event": "adapt", **data}),
    })  # fmt: skip
    fresh: dict[str, str] = {}  # new page views: the same (pvid, seq) twice is a duplicate
    for scripted in replay_as(me, "bargain_scripted.json"):
        item = {**scripted, "pvid": fresh.setdefault(scripted["pvid"], page_view_id())}
        assert (await client.call("batch", item, namespace="/track"))["ok"]
    return pushes


async def test_no_persona_push_or_adaptation_without_personalization_consent(
    make_settings: Any,
) -> None:
    settings = make_settings(
        privacy=ASK, tracking=UNLIMITED, experiments={"force_arm": "treatment"}
    )
    async with running_app(settings) as (app, url):
        history = app.services.personas.history
        cookie, me = await consenting_visitor(url, analytics=True, personalization=False)
        pushes = await send_scripted(url, cookie, me)

        async def predicted() -> bool:
            docs = await history.of_session(me["session_id"])
            return any(doc["changed"] for doc in docs)

        await eventually(predicted, timeout=30)  # the worker did decide a persona...
        # The same visit by someone who said yes to personalization gets both pushes. The
        # worker reads the stream in order: once these came, any push for the first visit
        # would have come too.
        yes_cookie, yes_me = await consenting_visitor(url, analytics=True, personalization=True)
        yes_pushes = await send_scripted(url, yes_cookie, yes_me)
        await eventually(lambda: _events(yes_pushes, {"persona", "adapt"}), timeout=30)
        assert pushes == []  # ...and told the shopper's pages nothing
        async with aiohttp.ClientSession(headers={"Cookie": cookie}) as http:
            async with http.get(url + "/") as response:
                html = await response.text()
            async with http.get(url + "/recommendations") as response:
                recommendations = await response.json()
        assert 'data-persona="unknown"' in html
        state = orjson.loads(re.search(r'id="vitrine-state">(.*?)</script>', html, re.S).group(1))
        assert state["adaptations"] == [] and recommendations["adaptations"] == []
        exposures = await app.services.store["exposures"].count_documents({"vid": me["vid"]})
        assert exposures == 0


async def _events(pushes: list[dict[str, Any]], wanted: set[str]) -> bool:
    return wanted <= {push["event"] for push in pushes}


def test_the_cookie_binds_the_choice_to_the_visitor() -> None:
    from server.domain.consent import Choice

    codec = ConsentCookie("secret")
    value = codec.dump("visitorAAAA0001", Choice(True, False, 1_764_158_400))
    assert codec.load("visitorAAAA0001", value) == Choice(True, False, 1_764_158_400)
    assert codec.load("visitorBBBB0002", value) is None
    assert ConsentCookie("other").load("visitorAAAA0001", value) is None
