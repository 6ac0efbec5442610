"""Screenshot /admin/experiments: the whole page and one row of each state, for the docs.

Run it against a server the population simulator has filled, e.g. after
`scripts/simulate_population.py --scenario states` (docs/experiments.md):

    .venv/bin/python scripts/capture_experiments.py --url http://127.0.0.1:5099 \\
        --admin-user demo-admin --admin-password demo-password-123

It logs in, recomputes the summary, waits for the charts, and writes
docs/screenshots/experiments-page.png and experiments-<state>.png, one per row state
(the first row in that state, `section[data-state=...]`). It exits 1 when a wanted state
has no row. Chromium is the system one (/usr/bin/chromium, or $CHROMIUM), never downloaded.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from playwright.async_api import Page, async_playwright
from playwright.async_api import TimeoutError as PlaywrightTimeout

ROOT = Path(__file__).resolve().parent.parent
STATES = ("verdict", "not_yet", "srm", "too_small")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


def shrink(path: Path) -> None:
    """Re-save a screenshot with a 256-colour palette (a UI survives it; a third the size)."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    small.save(path, optimize=True)


async def log_in(page: Page, url: str, user: str, password: str) -> None:
    await page.goto(url + "/admin/login")
    await page.fill('[name="username"]', user)
    await page.fill('[name="password"]', password)
    await page.click('button[type="submit"]')
    await page.wait_for_url(url + "/admin")


async def recompute(page: Page, url: str) -> None:
    """POST /admin/api/experiments/refresh with the page's session and CSRF token."""
    token = await page.evaluate(
        "() => fetch('/api/me').then((reply) => reply.json()).then((me) => me.csrf_token)"
    )
    reply = await page.request.post(
        url + "/admin/api/experiments/refresh", data={}, headers={"X-CSRF-Token": token}
    )
    if not reply.ok:
        raise RuntimeError(f"recompute failed: {reply.status}")


async def open_experiments(page: Page, url: str, charts_timeout_ms: float) -> None:
    await page.goto(url + "/admin/experiments")
    try:
        await page.wait_for_selector(
            '[data-chart][data-rendered="true"]', timeout=charts_timeout_ms
        )
        await page.wait_for_timeout(500)  # let the last chart settle
    except PlaywrightTimeout:
        print("  the charts did not draw in time; capturing the tables anyway", flush=True)


async def capture(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    url = args.url.rstrip("/")
    problems: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            context = await browser.new_context(
                viewport={"width": args.width, "height": 900}, device_scale_factor=1
            )
            page = await context.new_page()
            page.on(
                "console",
                lambda message: problems.append(message.text) if message.type == "error" else None,
            )
            await log_in(page, url, args.admin_user, args.admin_password)
            if not args.no_refresh:
                await recompute(page, url)
            await open_experiments(page, url, args.charts_timeout * 1000)
            rows: list[dict[str, Any]] = await page.eval_on_selector_all(
                "section[data-state]",
                "(sections) => sections.map((s) => ({persona: s.dataset.persona,"
                " group: s.dataset.group, state: s.dataset.state}))",
            )
            for row in rows:
                print(f"  row {row['persona']:<16} {row['group']:<14} {row['state']}")
            target = out / "experiments-page.png"
            await page.screenshot(path=str(target), full_page=True)
            shrink(target)
            print(f"wrote {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
            missing = []
            for state in args.states:
                section = page.locator(f'section[data-state="{state}"]').first
                if await section.count() == 0:
                    missing.append(state)
                    continue
                persona = await section.get_attribute("data-persona")
                target = out / f"experiments-{state}.png"
                await section.scroll_into_view_if_needed()
                await section.screenshot(path=str(target))
                shrink(target)
                shown = target.relative_to(ROOT) if target.is_relative_to(ROOT) else target
                print(f"wrote {shown} (row {persona})")
        finally:
            await browser.close()
    if problems:
        print("console errors:", *problems, sep="\n  ")
    if missing:
        print(f"no row in state: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:5099")
    parser.add_argument("--admin-user", required=True)
    parser.add_argument("--admin-password", required=True)
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--width", type=int, default=1280, help="viewport width in CSS pixels")
    parser.add_argument(
        "--states",
        type=lambda text: [s.strip() for s in text.split(",") if s.strip()],
        default=list(STATES),
        help=f"comma-separated row states to capture (default {','.join(STATES)})",
    )
    parser.add_argument("--charts-timeout", type=float, default=20.0, help="seconds")
    parser.add_argument(
        "--no-refresh", action="store_true", help="do not recompute the summary first"
    )
    return asyncio.run(capture(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main())
