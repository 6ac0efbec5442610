"""Strict readers for untrusted JSON: exact types, bounded sizes, no operator objects."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from server.domain.errors import InvalidInput

PRODUCT_ID = re.compile(r"^p\d{3}$")
SLUG = re.compile(r"^[a-z0-9-]{1,40}$")
TOKEN = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def require_object(value: Any, what: str = "body") -> Mapping[str, Any]:
    """Return `value` if it is a JSON object, else raise invalid_json."""
    if not isinstance(value, dict):
        raise InvalidInput("invalid_json", f"{what} must be a JSON object")
    return value


def read_str(
    data: Mapping[str, Any],
    key: str,
    *,
    pattern: re.Pattern[str] | None = None,
    max_len: int = 200,
    min_len: int = 1,
    required: bool = True,
) -> str | None:
    """Read a string field; objects such as {"$gt": ""} are rejected, never interpreted."""
    value = data.get(key)
    if value is None:
        if required:
            raise InvalidInput("missing_field", f"{key} is required")
        return None
    if not isinstance(value, str):
        raise InvalidInput("invalid_field", f"{key} must be a string")
    if not min_len <= len(value) <= max_len:
        raise InvalidInput("invalid_field", f"{key} must be {min_len}..{max_len} characters")
    if pattern is not None and not pattern.fullmatch(value):
        raise InvalidInput("invalid_field", f"{key} has an invalid format")
    return value


def read_int(
    data: Mapping[str, Any], key: str, *, minimum: int, maximum: int, required: bool = True
) -> int | None:
    """Read an integer field: true JSON integers only (not 1.5, "2", true, or 1e20)."""
    value = data.get(key)
    if value is None:
        if required:
            raise InvalidInput("missing_field", f"{key} is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput("invalid_field", f"{key} must be an integer")
    if not minimum <= value <= maximum:
        raise InvalidInput("invalid_field", f"{key} must be between {minimum} and {maximum}")
    return value


def read_product_id(data: Mapping[str, Any], key: str = "product_id") -> str:
    """Read a product id such as "p012"."""
    value = read_str(data, key, pattern=PRODUCT_ID, max_len=8)
    assert value is not None
    return value
