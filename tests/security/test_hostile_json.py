"""Every JSON endpoint under hostile bodies, paths and query strings (in-process test client).

Each case must get a 4xx with a stable error code, never a 500, and leave every piece of
stored state this visitor could reach exactly as it was.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlencode

import orjson
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from server.domain.errors import VitrineError
from server.domain.validation import read_int, read_product_id, require_object
from server.pipeline.batch_schema import REJECTION_CODES, BatchRejected, validate_batch
from server.web.privacy_api import read_choice
from tests.security.hostile import CASES, SUITE, bodies, encode, field_values, json_values
from tests.support.batches import batch, page_event
from tests.support.settings import CONSENT_GRANTED, UNLIMITED, build_settings, unique_name
from tests.support.shopper import Shopper

ADMIN = ("hostile-admin", "hostile-password-1")
ERROR_CODE = r"^[a-z_]{3,40}$"
SHIPPING = {"name": "A B", "email": "a@b.example", "address": "1 Road", "city": "Town",
            "zip": "12345", "country": "France"}  # fmt: skip
ORDER = {"shipping": SHIPPING, "payment": {"method": "card"}, "idempotency_key": "hostile-key-01"}


def accepts(check: Any, body: bytes) -> bool:
    """Would this body pass the endpoint's own reader? (Such cases are not hostile.)"""
    try:
        check(orjson.loads(body))
    except (orjson.JSONDecodeError, VitrineError, BatchRejected, TypeError, AttributeError):
        return False
    return True


def cart_line(data: Any) -> None:
    data = require_object(data)
    read_product_id(data)
    read_int(data, "quantity", minimum=1, maximum=99)


def opt_out(data: Any) -> None:
    if not isinstance(require_object(data).get("opt_out"), bool):
        raise TypeError


# path -> (a valid body, the reader that says whether a body is valid: then it is skipped)
ENDPOINTS: dict[str, tuple[dict[str, Any], Any]] = {
    "/add-to-cart": ({"product_id": "p001", "quantity": 1}, cart_line),
    "/update-cart": ({"product_id": "p001", "quantity": 1}, cart_line),
    "/remove-from-cart": ({"product_id": "p001"}, lambda d: read_product_id(require_object(d))),
    # The cart stays empty: even a valid coupon or order leaves nothing changed.
    "/apply-coupon": ({"code": "WELCOME10"}, None),
    "/process-order": (ORDER, None),
    "/api/personalization": ({"opt_out": True}, opt_out),
    "/api/consent": ({"analytics": True, "personalization": True}, read_choice),
}


@pytest.fixture(scope="module")
async def hostile_app(
    valkey: Any, models_dir: Any, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Any]:
    """One app for the module, limits off (every case must reach the validators)."""
    from server.app import create_app

    name = unique_name()
    settings_ = build_settings(
        name, tmp_path_factory.mktemp(name), models_dir, valkey.url,
        privacy=CONSENT_GRANTED, rate_limits={"enabled": False}, tracking=UNLIMITED,
    )  # fmt: skip
    vitrine = create_app(settings_)
    async with vitrine.quart.test_app_class(vitrine.quart, startup_timeout=120):
        await vitrine.services.admins.create(*ADMIN, "admin")
        yield vitrine


@pytest.fixture(scope="module")
async def shopper(hostile_app: Any) -> Shopper:
    visitor = Shopper(hostile_app.quart.test_client())
    await visitor.start()
    return visitor


@pytest.fixture(scope="module")
async def admin(hostile_app: Any) -> Shopper:
    visitor = Shopper(hostile_app.quart.test_client())
    await visitor.start()
    form = {"username": ADMIN[0], "password": ADMIN[1], "csrf_token": visitor.csrf}
    assert (await visitor.http.post("/admin/login", form=form)).status_code == 302
    return visitor


async def snapshot(app: Any, vid: str) -> dict[str, Any]:
    """Everything a hostile request by `vid` could have changed."""
    services = app.services
    store = services.store
    coupons = await store["coupons"].find({}, {"uses": 1}).sort("_id", 1).to_list()
    return {
        "cart": await store["carts"].find_one({"_id": vid}),
        "orders": await store["orders"].count_documents({}),
        "coupons": coupons,
        "prefs": await store["visitor_prefs"].find_one({"_id": vid}),
        "stock": sum(d["stock"] for d in await store["products"].find({}, {"stock": 1}).to_list()),
        "stream": await services.redis.xlen(services.key("events")),
        "flags": [
            await services.redis.get(services.key(name, vid))
            for name in ("optout", "consent", "erased")
        ],
    }


_BASELINE: dict[tuple[int, str], dict[str, Any]] = {}


async def baseline(app: Any, vid: str) -> dict[str, Any]:
    """The state before any case ran (no case may change it, so it is read once)."""
    key = (id(app), vid)
    if key not in _BASELINE:
        _BASELINE[key] = await snapshot(app, vid)
    return dict(_BASELINE[key])


def check_error(status: int, reply: Any, case: Any) -> None:
    assert 400 <= status < 500, (status, reply, case)
    assert isinstance(reply, dict) and isinstance(reply.get("error"), str), (reply, case)
    assert reply["error"].replace("_", "").isalpha() and len(reply["error"]) <= 40, reply


@pytest.mark.parametrize("path", sorted(ENDPOINTS))
@settings(SUITE, max_examples=100)
@given(data=st.data())
async def test_json_endpoints_answer_hostile_bodies_with_a_4xx(
    hostile_app: Any, shopper: Shopper, path: str, data: st.DataObject
) -> None:
    valid, reader = ENDPOINTS[path]
    body = data.draw(bodies(valid))
    if reader is not None:
        assume(not accepts(reader, body))
    CASES[f"POST {path}"] += 1
    before = await baseline(hostile_app, shopper.vid)
    response = await shopper.post(path, body)
    check_error(response.status_code, await response.get_json(silent=True), body[:200])
    assert await snapshot(hostile_app, shopper.vid) == before, body[:200]


@settings(SUITE, max_examples=100)
@given(
    where=st.sampled_from(["shipping", "payment"]),
    name=st.sampled_from([*SHIPPING, "method"]),
    value=field_values,
)
async def test_nested_order_fields_are_checked(
    hostile_app: Any, shopper: Shopper, where: str, name: str, value: Any
) -> None:
    CASES["POST /process-order (nested)"] += 1
    body = {**ORDER, where: {**ORDER[where], name: value}}
    before = await baseline(hostile_app, shopper.vid)
    response = await shopper.post("/process-order", encode(body))
    check_error(response.status_code, await response.get_json(silent=True), body)
    assert await snapshot(hostile_app, shopper.vid) == before


def batch_reader(vid: str) -> Any:
    return lambda data: validate_batch(data, vid)


@settings(SUITE, max_examples=200)
@given(data=st.data())
async def test_the_beacon_answers_hostile_batches_with_an_ack_code(
    hostile_app: Any, shopper: Shopper, data: st.DataObject
) -> None:
    good = batch(shopper.vid, "sessionHostile0001", "pageviewHostile0001", 0, [page_event()])
    in_event = st.builds(
        lambda name, value: encode({**good, "events": [{**page_event(), name: value}]}),
        st.sampled_from(sorted(page_event())), field_values,
    )  # fmt: skip
    body = data.draw(bodies(good) | in_event)
    assume(not accepts(batch_reader(shopper.vid), body))
    CASES["POST /record-session-data"] += 1
    before = await baseline(hostile_app, shopper.vid)
    response = await shopper.post("/record-session-data", body, csrf=False)
    reply = await response.get_json(silent=True)
    assert 400 <= response.status_code < 500, (response.status_code, reply)
    assert reply["ok"] is False and reply["error"] in REJECTION_CODES, reply
    assert await snapshot(hostile_app, shopper.vid) == before


segments = st.one_of(
    st.text(min_size=1, max_size=80),
    st.sampled_from(
        [
            "$where",
            '{"$gt": ""}',
            "..",
            "%2e%2e",
            "__proto__",
            "<script>",
            "a" * 3000,
            "p001\x00",
            "NaN",
        ]
    ),
).map(lambda text: quote(text, safe=""))


ROUTES = [("GET", "/predict-persona/{}", "shopper"), ("GET", "/get-user-sessions/{}/1", "admin"),
          ("GET", "/api/sessions/{}", "admin"), ("GET", "/admin/api/sessions/{}/events", "admin"),
          ("GET", "/admin/api/sessions/{}/replay", "admin"),
          ("DELETE", "/admin/api/visitors/{}", "admin")]  # fmt: skip


@settings(SUITE, max_examples=200)
@given(route=st.sampled_from(ROUTES), segment=segments)
async def test_hostile_path_parameters(
    hostile_app: Any, shopper: Shopper, admin: Shopper, route: tuple[str, str, str], segment: str
) -> None:
    method, template, role = route
    who = admin if role == "admin" else shopper
    CASES[f"{method} {template}"] += 1
    before = await baseline(hostile_app, shopper.vid)
    url = template.format(segment)
    headers = {"X-CSRF-Token": who.csrf, "Accept": "application/json"}
    response = await who.http.open(url, method=method, headers=headers)
    status = response.status_code
    assert status < 500, (status, url)
    if status >= 400:  # (a 3xx is routing: werkzeug merging slashes, say)
        check_error(status, await response.get_json(silent=True), url)
    after = await snapshot(hostile_app, shopper.vid)
    # (A well-formed id is a real, audited erasure of a visitor who has nothing stored.)
    assert after == before, url


QUERY_PARAMS = {
    "/catalog": ["category", "sort", "q", "on_sale", "page"],
    "/admin/api/heatmap": ["page", "kind", "from", "to", "viewport_class", "persona", "arm"],
    "/admin/api/heatmap/pages": ["from", "to"],
    "/admin/api/sessions": ["persona", "arm", "converted", "vid", "from", "to", "page"],
    "/admin/api/audit": ["target", "limit"],
    "/admin/api/experiments": ["from", "to"],
}
QUERY_VALUES = st.one_of(
    json_values.map(lambda v: v if isinstance(v, str) else encode(v).decode()),
    st.sampled_from(["-1", "0", "99999999999999999999", "NaN", "1e999", "2024-02-30",
                     "9999-12-31", "$gt", "true", "<img src=x onerror=alert(1)>"]),
)  # fmt: skip


@settings(SUITE, max_examples=200)
@given(path=st.sampled_from(sorted(QUERY_PARAMS)), data=st.data())
async def test_hostile_query_strings(
    hostile_app: Any, shopper: Shopper, admin: Shopper, path: str, data: st.DataObject
) -> None:
    chosen = data.draw(st.dictionaries(st.sampled_from(QUERY_PARAMS[path]), QUERY_VALUES,
                                       max_size=4))  # fmt: skip
    CASES[f"GET {path}?…"] += 1
    who = shopper if path == "/catalog" else admin
    before = await baseline(hostile_app, shopper.vid)
    query = urlencode({k: v.replace("\x00", "") for k, v in chosen.items()})
    response = await who.get(f"{path}?{query}", headers={"Accept": "application/json"})
    assert response.status_code < 500, (path, chosen, response.status_code)
    if response.status_code >= 400 and path != "/catalog":
        check_error(response.status_code, await response.get_json(silent=True), chosen)
    assert await snapshot(hostile_app, shopper.vid) == before


def test_nan_and_infinity_never_parse() -> None:
    for text in (b"NaN", b"[Infinity]", b'{"a": -Infinity}'):
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(text)
    assert not math.isfinite(float("nan"))
