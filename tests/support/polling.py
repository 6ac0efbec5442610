"""Wait for a condition, not for a time: the one polling helper of the test suite."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

Condition = Callable[[], Awaitable[Any] | Any]


async def eventually(
    condition: Condition,
    *,
    timeout: float = 20.0,
    interval: float = 0.2,
    what: str | None = None,
) -> Any:
    """Call `condition` until it returns something truthy, and return that value.

    `condition` takes no argument and returns a value or an awaitable (an async function,
    or a lambda around a coroutine). The last call is made after the deadline, so a slow
    machine gets its last look; then the test fails naming `what` (by default the
    condition's name) and the last value seen.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            name = what or getattr(condition, "__qualname__", repr(condition))
            raise AssertionError(f"{name}: not true after {timeout:g} s (last value {value!r})")
        await asyncio.sleep(interval)
