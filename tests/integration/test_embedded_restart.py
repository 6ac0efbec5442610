"""The embedded services (valkey-server child process, mongoeco over SQLite) keep their data
across a restart, and stopping leaves no child process behind."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from server.app import create_app
from server.settings import load_settings
from tests.support.shopper import Shopper


def embedded_settings(var_dir: Path, models_dir: Path) -> Any:
    return load_settings(
        environ={},
        paths={"var_dir": str(var_dir), "models_dir": str(models_dir)},
        redis={"url": "embedded"},
        mongodb={"uri": "embedded"},
    )


def valkey_children() -> list[int]:
    """valkey-server processes whose parent is this test process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and b"valkey-server" in cmdline:
            found.append(int(entry.name))
    return found


async def test_embedded_services_restart_with_data_intact(tmp_path: Path, models_dir: Path) -> None:
    settings = embedded_settings(tmp_path / "var", models_dir)
    others = set(valkey_children())  # the suite's shared Valkey is a child of this process too
    first = create_app(settings)
    async with first.quart.test_app():
        assert len(set(valkey_children()) - others) == 1
        shopper = Shopper(first.quart.test_client())
        await shopper.start()
        status, _ = await shopper.json(
            "POST", "/add-to-cart", {"product_id": "p001", "quantity": 3}
        )
        assert status == 200
        await first.services.redis.set(first.services.key("restart-check"), "still here")
        cookie_jar = shopper.http.cookie_jar
        vid = shopper.vid
    assert set(valkey_children()) == others  # stopped with the app, no orphan

    second = create_app(settings)
    async with second.quart.test_app():
        assert (
            await second.services.redis.get(second.services.key("restart-check")) == b"still here"
        )
        items, _ = await second.services.carts.load(vid)
        assert items == {"p001": 3}
        assert (
            await second.services.store["products"].count_documents({}) == 72
        )  # not reseeded twice
        again = Shopper(second.quart.test_client())
        again.http.cookie_jar = cookie_jar
        await again.start()
        assert again.vid == vid  # the signing key survived too (var/secret_key)
        _, cart = await again.json("GET", "/api/cart")
        assert cart["item_count"] == 3
    assert set(valkey_children()) == others
