"""What every handler needs: the shared services, the current visitor, JSON in and out."""

from __future__ import annotations

from typing import Any

import orjson
from quart import Response, current_app, g, request

from server.bootstrap import Services
from server.domain.errors import InvalidInput
from server.web.identity import Visitor

MAX_JSON_BYTES = 64 * 1024


def services() -> Services:
    return current_app.extensions["vitrine"]  # type: ignore[no-any-return]


def visitor() -> Visitor:
    return g.visitor  # type: ignore[no-any-return]


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status=status, mimetype="application/json")


async def read_json(max_bytes: int = MAX_JSON_BYTES) -> Any:
    """Parse the request body as strict JSON (no NaN, bounded size and depth)."""
    length = request.content_length
    if length is not None and length > max_bytes:
        raise InvalidInput("too_large", f"body over {max_bytes} bytes")
    body = await request.get_data(cache=False)
    if len(body) > max_bytes:
        raise InvalidInput("too_large", f"body over {max_bytes} bytes")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidInput("invalid_json", "the body is not valid JSON") from None
