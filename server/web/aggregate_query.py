"""Reads of the daily aggregates (heatmap bins, scroll depth, frustration, zones): the
days and filters every such query takes, read and checked one way for every route."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from quart import request

from personas_engine.vocabulary import PERSONAS, UNKNOWN
from server.domain.errors import InvalidInput
from server.domain.events import PATH_PATTERN
from server.domain.heatmap import DEVICE_CLASSES_FOR_FILTER, merge_bins, merge_scroll
from server.domain.validation import read_str, require_object
from server.web.common import services

MAX_RANGE_DAYS = 92
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def query_args() -> dict[str, str]:
    """The request's query string, empty values left out (a blank filter is no filter)."""
    return {key: value for key, value in request.args.items() if value}


def read_page_query(data: dict[str, Any]) -> tuple[str, list[str], dict[str, str]]:
    """The page, the days and the filters of a read of one page's aggregates."""
    path = read_str(data, "page", pattern=PATH_PATTERN, max_len=200)
    days, filters = read_aggregate_filters(data)
    return path, days, filters


def day_range(start: str | None, end: str | None) -> list[str]:
    """Expand an inclusive YYYY-MM-DD range (default: the last 7 days) into day keys."""
    today = datetime.now(UTC).date()
    try:
        last = date.fromisoformat(end) if end else today
        first = date.fromisoformat(start) if start else last - timedelta(days=6)
    except ValueError:
        raise InvalidInput("invalid_field", "from and to are YYYY-MM-DD dates") from None
    if last >= date.max - timedelta(days=1) or first <= date.min + timedelta(days=7):
        # Readers add a day to the end (and take days off the start): keep both in range.
        raise InvalidInput("invalid_field", "from and to are dates between years 1 and 9999")
    if first > last or (last - first).days >= MAX_RANGE_DAYS:
        raise InvalidInput("invalid_field", f"a range of 1..{MAX_RANGE_DAYS} days")
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def read_heatmap_query(body: Any) -> dict[str, Any]:
    data = require_object(body)
    kind = read_str(data, "kind", max_len=10)
    if kind not in ("click", "move", "scroll"):
        raise InvalidInput("invalid_field", "kind is click, move or scroll")
    path, days, filters = read_page_query(data)
    return {"path": path, "kind": kind, "days": days, "filters": filters}


def read_aggregate_filters(data: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """The days and the filters (viewport class, persona, arm) of a read of aggregates."""
    filters: dict[str, str] = {}
    viewport = read_str(data, "viewport_class", max_len=10, required=False)
    if viewport is not None:
        if viewport not in DEVICE_CLASSES_FOR_FILTER:
            raise InvalidInput("invalid_field", "viewport_class is mobile, tablet or desktop")
        filters["vc"] = viewport
    persona = read_str(data, "persona", max_len=20, required=False)
    if persona is not None:
        if persona not in (*PERSONAS, UNKNOWN):
            raise InvalidInput("invalid_field", "unknown persona")
        filters["persona"] = persona
    arm = read_str(data, "arm", max_len=10, required=False)
    if arm is not None:
        if arm not in ("treatment", "control"):
            raise InvalidInput("invalid_field", "arm is treatment or control")
        filters["arm"] = arm
    days = day_range(
        read_str(data, "from", pattern=DAY, max_len=10, required=False),
        read_str(data, "to", pattern=DAY, max_len=10, required=False),
    )
    return days, filters


async def heatmap_data(query: dict[str, Any]) -> dict[str, Any]:
    """Read pre-aggregated bins only: one indexed query, summed in memory."""
    events = services().pipeline.events
    if query["kind"] == "scroll":
        docs = await events.scroll_documents(query["path"], query["days"], query["filters"])
        return {"page": query["path"], "kind": "scroll", **merge_scroll(docs)}
    docs = await events.heatmap_documents(
        query["path"], query["kind"], query["days"], query["filters"]
    )
    return {"page": query["path"], "kind": query["kind"], **merge_bins(docs)}
