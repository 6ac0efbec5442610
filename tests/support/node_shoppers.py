"""Shoppers run by node: the real browser transport over socket.io-client, one process each.

The drivers are tests/integration/*_client.mjs (their shared setup: tests/support/
node_shopper.mjs). Each prints JSON lines; the last one is its report: batches and events
sent, and the transport's counters (`stats`).
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import orjson

from tests.support.live_server import visitor_cookie

NODE = shutil.which("node")


async def start_node_shopper(
    driver: Path, url: str, *args: object, stdin: bool = False
) -> tuple[Any, dict[str, Any]]:
    """Become a new visitor and run `driver` for them (node <driver> <url> <cookie> <vid> <sid>
    <args...>); returns (process, /api/me). Read its report with `finished`."""
    cookie, me = await visitor_cookie(url)
    process = await asyncio.create_subprocess_exec(
        NODE or "node", str(driver), url, cookie, me["vid"], me["session_id"],
        *(str(arg) for arg in args),
        stdin=asyncio.subprocess.PIPE if stdin else None,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    return process, me


async def finished(process: Any) -> dict[str, Any]:
    """The shopper's last report, once it exited cleanly with everything acknowledged."""
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()[-2000:]
    report: dict[str, Any] = orjson.loads(out.strip().splitlines()[-1])
    assert report["stats"]["pending"] == 0, report  # everything acknowledged in the end
    return report


def print_counts(name: str, reports: list[dict[str, Any]], stored: int, **extra: Any) -> None:
    """One line for the test log: what the shoppers sent and retried, and what was stored."""
    sent = sum(r["events"] for r in reports)
    retried = sum(r["stats"]["retried"] for r in reports)
    print(f"\n[fault: {name}] events sent {sent}, stored {stored}; batches "
          f"{sum(r['batches'] for r in reports)}, retried {retried}, "
          f"reconnects {sum(r['stats']['connects'] for r in reports) - len(reports)}"
          + "".join(f", {k} {v}" for k, v in extra.items()))  # fmt: skip
