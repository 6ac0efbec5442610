"""What every handler needs: the shared services, the current visitor, JSON in and out."""

from __future__ import annotations

from typing import Any

import orjson
from quart import Response, current_app, g, request

from server.container import Services
from server.domain.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
    Unavailable,
    Unprocessable,
    VitrineError,
)
from server.domain.visitor import Visitor

MAX_JSON_BYTES = 64 * 1024
# The HTTP status of each kind of domain error (the core knows no HTTP).
HTTP_STATUS: dict[type[VitrineError], int] = {
    InvalidInput: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Unprocessable: 422,
    Unavailable: 503,
}


def http_status(error: VitrineError) -> int:
    """The status for an error: its own kind's, else the nearest base class's, else 400."""
    for kind in type(error).__mro__:
        if kind in HTTP_STATUS:
            return HTTP_STATUS[kind]  # type: ignore[index]
    return 400


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
