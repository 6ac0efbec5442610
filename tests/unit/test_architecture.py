"""The layers of the code, checked from its import graph (docs/architecture.md).

Python, lowest to highest: the core (`server/domain`, `server/pipeline`, `server/settings`,
`personas_engine`), the adapters, the application (`server/services`, `server/workers`, the
typed `server/container`), the edges (`server/web`, `server/sockets`), and the entry points
(`server/bootstrap`, `server/app`, `server/__main__`). A module may import its own layer
and those below it, never one above, and no two modules may import each other, even
through others. Imports under `if TYPE_CHECKING:` are types only: they run never and count
for neither rule. Lazy imports inside functions count: they are dependencies all the same.

The browser code in client/src is checked the same way (its layers are below).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PY_LAYERS: tuple[tuple[str, ...], ...] = (
    ("server.domain", "server.pipeline", "server.settings", "personas_engine"),
    ("server.adapters",),
    ("server.services", "server.workers", "server.container"),
    ("server.web", "server.sockets"),
    ("server.bootstrap", "server.app", "server.__main__", "server.seed"),
)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _python_modules() -> dict[str, Path]:
    files = [*(ROOT / "server").rglob("*.py"), *(ROOT / "personas_engine").rglob("*.py")]
    return {_module_name(path): path for path in files}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Every module named by an import statement, outside `if TYPE_CHECKING:` blocks."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            yield from (
                name for child in node.orelse for name in _imports(child, module, is_package)
            )
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join([*package, *([base] if base else [])])
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)
        yield from _imports(node, module, is_package)


def python_graph() -> dict[str, set[str]]:
    modules = _python_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        targets = set(_imports(tree, name, path.name == "__init__.py"))
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def layer_of(module: str, layers: tuple[tuple[str, ...], ...]) -> int:
    for index, prefixes in enumerate(layers):
        # A Python package covers its modules ("server.web" → "server.web.x"); a client
        # prefix ending in "/" covers its folder.
        if any(module == p or module.startswith(p + ".") or (p.endswith("/") and
               module.startswith(p)) for p in prefixes):  # fmt: skip
            return index
    raise AssertionError(f"{module} belongs to no layer: add it to the layer table")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def upward(graph: dict[str, set[str]], layers: tuple[tuple[str, ...], ...]) -> list[str]:
    return sorted(
        f"{source} ({layer_of(source, layers)}) imports {target} ({layer_of(target, layers)})"
        for source, targets in graph.items()
        for target in targets
        if layer_of(target, layers) > layer_of(source, layers)
    )


def test_python_has_no_import_cycle() -> None:
    assert cycles(python_graph()) == []


def test_python_imports_only_downwards() -> None:
    assert upward(python_graph(), PY_LAYERS) == []


def test_the_socket_edge_goes_through_the_application_layer_not_the_web_one() -> None:
    # Same layer, but the sockets must not borrow HTTP handlers' code: what both need is a
    # service (server/services).
    graph = python_graph()
    assert (
        sorted(
            f"{source} imports {target}"
            for source, targets in graph.items()
            if source.startswith("server.sockets")
            for target in targets
            if target.startswith("server.web")
        )
        == []
    )


# ---- client/src: ES modules ------------------------------------------------------------

CLIENT = ROOT / "client" / "src"
JS_IMPORT = re.compile(
    r"""^\s*(?:import|export)\b[^'"]*?from\s*['"](\.[^'"]+)['"]|^\s*import\s*['"](\.[^'"]+)['"]""",
    re.M,
)
JS_DYNAMIC = re.compile(r"""import\(\s*['"](\.[^'"]+)['"]\s*\)""")


def js_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in CLIENT.rglob("*.js"):
        name = path.relative_to(CLIENT).as_posix()
        text = path.read_text()
        targets = {a or b for a, b in JS_IMPORT.findall(text)} | set(JS_DYNAMIC.findall(text))
        graph[name] = {
            (path.parent / target).resolve().relative_to(CLIENT.resolve()).as_posix()
            for target in targets
        }
    return graph


# Lowest to highest: shared helpers; the shop page's parts and the admin console's common
# module; the admin pages; the browser's composition root (main.js, which nothing imports).
JS_LAYERS: tuple[tuple[str, ...], ...] = (
    ("schema.js", "dom.js", "http.js", "url_scrub.js", "anchors.js", "admin/projection.js"),
    ("transport.js", "tracker.js", "recorder.js", "push.js", "shop.js", "consent.js", "adapt.js",
     "admin/common.js"),
    ("admin/",),
    ("main.js",),
)  # fmt: skip
SHARED = JS_LAYERS[0]


def test_client_has_no_import_cycle() -> None:
    graph = js_graph()
    assert graph, "no client modules found"
    assert cycles(graph) == []


def test_client_imports_only_downwards_and_the_console_stays_apart() -> None:
    graph = js_graph()
    assert upward(graph, JS_LAYERS) == []
    # The admin console and the shop share only the helpers, never each other's parts.
    crossing = sorted(
        f"{source} imports {target}"
        for source, targets in graph.items()
        for target in targets
        if target not in SHARED and source.startswith("admin/") != target.startswith("admin/")
    )
    assert crossing == []


@pytest.mark.parametrize("graph_of", [python_graph, js_graph])
def test_the_cycle_finder_finds_cycles(graph_of: object) -> None:
    # The checks above would pass vacuously if the finder found nothing ever.
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert upward({"server.web.x": {"server.app"}}, PY_LAYERS) == [
        "server.web.x (3) imports server.app (4)"
    ]
