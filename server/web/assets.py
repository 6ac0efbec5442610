"""Serve the client's ES modules and the browser builds of its npm dependencies."""

from __future__ import annotations

from typing import Any

from quart import Blueprint, abort, send_from_directory

from server.settings import REPO_ROOT

blueprint = Blueprint("assets", __name__)

CLIENT_SRC = REPO_ROOT / "client" / "src"
NODE_MODULES = REPO_ROOT / "client" / "node_modules"

# Only these built files leave node_modules; nothing else there is reachable.
VENDOR_FILES = {
    "socket.io.esm.min.js": "socket.io-client/dist/socket.io.esm.min.js",
    "rrweb.min.js": "rrweb/dist/rrweb.umd.min.cjs",
    "rrweb-player.min.js": "rrweb-player/dist/rrweb-player.umd.min.cjs",
    "rrweb-player.css": "rrweb-player/dist/style.min.css",
    "simpleheat.js": "simpleheat/simpleheat.js",
    # Plot's UMD build reads the global `d3`: load d3.min.js first (admin/experiments.js does).
    "d3.min.js": "d3/dist/d3.min.js",
    "plot.min.js": "@observablehq/plot/dist/plot.umd.min.js",
}


@blueprint.get("/client/<path:filename>")
async def client_module(filename: str) -> Any:
    if not filename.endswith(".js"):
        abort(404)
    response = await send_from_directory(CLIENT_SRC, filename, mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    return response


@blueprint.get("/vendor/<name>")
async def vendor(name: str) -> Any:
    relative = VENDOR_FILES.get(name)
    if relative is None:
        abort(404)
    path = NODE_MODULES / relative
    mimetype = "text/css" if name.endswith(".css") else "text/javascript"
    response = await send_from_directory(path.parent, path.name, mimetype=mimetype)
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response
