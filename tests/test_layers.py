"""The layering rules, checked on the source (docs/ARCHITECTURE.md, "Layers", says the same).

Third-party libraries: the core and the flows import no messenger, web or database
library; each adapter imports only its own. The project's own layers: a module imports
its own layer and the layers below it, never one above (channels and web are side by
side: neither imports the other); only storage and composition import the SQLite
backend; storage uses nothing of the core but the records and helpers named below.

Every import statement counts, including those inside functions.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIBRARIES = frozenset(
    {"telegram", "twilio", "starlette", "aiosqlite", "asyncpg", "aiohttp", "httpx", "uvicorn"}
)

# Which libraries a module under a path may use, by the longest matching prefix.
ALLOWED: dict[str, frozenset[str]] = {
    "bot/storage/sqlite/": frozenset({"aiosqlite"}),
    "bot/storage/postgres/": frozenset({"asyncpg"}),
    # Adapters serve their own webhook routes, so they may use starlette too.
    "bot/channels/telegram/": frozenset({"telegram", "aiohttp", "httpx", "starlette"}),
    "bot/channels/whatsapp/": frozenset({"twilio", "aiohttp", "httpx", "starlette"}),
    "bot/web/": frozenset({"starlette"}),
    "bot/app.py": frozenset({"starlette"}),
    # The command line starts the web server; nothing else may.
    "bot/cli.py": frozenset({"uvicorn"}),
}

# The project's layers, top first, by the longest matching path prefix. A module may
# import a module of its own layer or of a layer with a higher rank.
LAYERS: dict[str, tuple[str, int]] = {
    # Composition: builds the runtime from the settings and wires everything together.
    "bot/__main__.py": ("composition", 0),
    "bot/app.py": ("composition", 0),
    "bot/cli.py": ("composition", 0),
    "bot/admin_cli.py": ("composition", 0),
    "bot/keys_cli.py": ("composition", 0),
    "bot/campaigns/cli.py": ("composition", 0),
    "bot/runtime.py": ("composition", 0),
    "bot/channels/": ("channels", 1),
    "bot/web/": ("web", 1),
    "handlers/": ("flows", 2),
    "bot/": ("core", 3),
    "bot/storage/": ("storage", 4),
}
# The backends, and the SQL stores both of them run: only storage and composition know them.
BACKENDS = ("bot.storage.sqlite", "bot.storage.sql", "bot.storage.postgres")
# All storage uses of the core: records that cross the storage boundary and helpers with
# no service behind them. Anything else (a translator, a policy, a service) is the core's.
STORAGE_USES = frozenset(
    {
        "bot.crypto",  # sealing at rest
        "bot.private",  # file modes of the database
        "bot.tasks",  # stopping the checkpoint task
        "bot.staff.records",
        "bot.staff.throttle",  # pure; its `Count` record is what the throttle rows hold
        "bot.campaigns.model",
        "bot.campaigns.records",
        "bot.whatsapp_ids",  # pure: which WhatsApp keys are numbers, which account ids
    }
)
# Imports the rules above forbid, each with the issue that removes it. Add none.
KNOWN: dict[tuple[str, str], str] = {
    # By design: the web app's pages find the Runtime on Starlette's app.state, where the
    # composition root (bot/app.py) put it; the adapters get ChannelServices instead.
    ("bot/web/health.py", "bot.runtime"): "app.state",
    ("bot/web/staff/common.py", "bot.runtime"): "app.state",
}


def _calls_import_module(node: ast.AST) -> str | None:
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute | ast.Name)
        and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return node.args[0].value
    return None


def imported_roots(path: Path) -> set[str]:
    """Top-level package of every absolute import in the module, wherever it occurs."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif (name := _calls_import_module(node)) is not None:
            roots.add(name.split(".")[0])
    return roots


def _is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def project_imports(rel: str) -> set[str]:
    """Every bot.* or handlers.* module the file imports (relative imports resolved;
    `from package import name` counts as the submodule when `name` is one)."""
    path = ROOT / rel
    package = Path(rel).parent.parts
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            module = ".".join([*base, *(node.module or "").split(".")]).strip(".")
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                found.add(sub if _is_module(sub) else module)
        elif (name := _calls_import_module(node)) is not None:
            found.add(name)
    return {name for name in found if name.split(".")[0] in ("bot", "handlers")}


def _longest(prefixes: Iterable[str], rel: str) -> str | None:
    matches = [prefix for prefix in prefixes if rel == prefix or rel.startswith(prefix)]
    return max(matches, key=len) if matches else None


def allowed_for(rel: str) -> frozenset[str]:
    prefix = _longest(ALLOWED, rel)
    return ALLOWED[prefix] if prefix else frozenset()


def layer_of(rel: str) -> tuple[str, int]:
    prefix = _longest(LAYERS, rel)
    assert prefix is not None, rel
    return LAYERS[prefix]


def path_of(module: str) -> str:
    path = ROOT.joinpath(*module.split("."))
    if (path / "__init__.py").is_file():
        return (path / "__init__.py").relative_to(ROOT).as_posix()
    return path.with_suffix(".py").relative_to(ROOT).as_posix()


def breaks(rel: str, module: str) -> str | None:
    """Which rule importing `module` from `rel` breaks, or None."""
    source, source_rank = layer_of(rel)
    target, target_rank = layer_of(path_of(module))
    backend = next((b for b in BACKENDS if module == b or module.startswith(b + ".")), None)
    in_backend = any(rel.startswith(b.replace(".", "/") + "/") for b in BACKENDS)
    if backend is not None and not (in_backend or source == "composition"):
        return f"only storage backends and composition import {backend}"
    if source == "storage" and target == "core":
        return None if module in STORAGE_USES else "storage uses no core service"
    if source != target and target_rank <= source_rank:
        return f"{source} imports {target}, a layer above or beside it"
    return None


def modules() -> list[str]:
    found = [
        p.relative_to(ROOT).as_posix()
        for package in ("bot", "handlers")
        for p in (ROOT / package).rglob("*.py")
    ]
    return sorted(found)


@pytest.mark.parametrize("rel", modules())
def test_no_forbidden_library_imports(rel: str) -> None:
    used = imported_roots(ROOT / rel) & LIBRARIES
    forbidden = used - allowed_for(rel)
    assert not forbidden, f"{rel} imports {sorted(forbidden)}"


@pytest.mark.parametrize("rel", modules())
def test_imports_follow_the_layers(rel: str) -> None:
    broken = {
        module: rule
        for module in sorted(project_imports(rel))
        if (rule := breaks(rel, module)) and (rel, module) not in KNOWN
    }
    assert not broken, f"{rel}: {broken}"


def test_every_known_exception_is_still_needed() -> None:
    """An exception whose import is gone is deleted, so the list only shrinks."""
    stale = [key for key in KNOWN if key[1] not in project_imports(key[0]) or breaks(*key) is None]
    assert not stale, stale


def test_every_layer_has_modules() -> None:
    """The prefixes are not silently wrong: each layer holds modules."""
    seen = {layer_of(rel)[0] for rel in modules()}
    assert seen == {name for name, _ in LAYERS.values()}


def test_the_scanner_sees_imports_inside_functions(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\n"
        "def later():\n"
        "    import aiosqlite.core as db\n"
        "    from telegram.ext import Application\n"
        "class K:\n"
        "    async def m(self):\n"
        "        from starlette import requests\n"
        "        import importlib; importlib.import_module('twilio.rest')\n"
        "from . import sibling\n",
        encoding="utf-8",
    )
    assert imported_roots(sample) == {
        "os",
        "aiosqlite",
        "telegram",
        "starlette",
        "importlib",
        "twilio",
    }
    assert allowed_for("bot/storage/sqlite/core.py") == {"aiosqlite"}
    assert allowed_for("bot/dispatcher.py") == frozenset()


def test_the_rules_catch_what_they_name() -> None:
    """The rules, on imports the project does not have (and must not)."""
    assert breaks("bot/dispatcher.py", "bot.web.api")
    assert breaks("bot/dispatcher.py", "bot.channels.telegram.sender")
    assert breaks("bot/dispatcher.py", "bot.storage.sql.core")
    assert breaks("bot/dispatcher.py", "handlers.menu")
    assert breaks("bot/outbound.py", "bot.runtime")
    assert breaks("handlers/menu.py", "bot.storage.sqlite")
    assert breaks("bot/storage/sql/console.py", "bot.i18n")
    assert breaks("bot/storage/sql/tickets.py", "bot.staff.actions")
    assert breaks("bot/storage/base.py", "bot.storage.postgres")
    assert breaks("bot/staff/actions.py", "bot.storage.sql")
    assert breaks("bot/storage/base.py", "bot.campaigns.engine")
    assert breaks("bot/web/api.py", "bot.channels.telegram.adapter")
    assert breaks("bot/channels/console.py", "bot.web.health")
    assert breaks("bot/staff/actions.py", "bot.web.params")
    assert not breaks("bot/runtime.py", "bot.storage.sqlite")
    assert not breaks("bot/storage/sqlite/__init__.py", "bot.storage.sql.console")
    assert not breaks("bot/storage/sql/core.py", "bot.crypto")
    assert not breaks("bot/storage/postgres/__init__.py", "bot.storage.sql.core")
    assert not breaks("handlers/menu.py", "bot.flow")
    assert not breaks("bot/web/api.py", "bot.staff.actions")


def test_relative_imports_resolve() -> None:
    found = project_imports("bot/channels/telegram/adapter.py")
    assert "bot.channels.telegram.sender" in found
    assert "bot.channels.services" in found


@pytest.mark.parametrize(
    ("rel", "module"),
    [
        ("bot/staff/actions.py", "bot.storage.sql.console"),
        ("bot/web/staff/common.py", "bot.storage.sql.console"),
        ("bot/campaigns/service.py", "bot.storage.sql.campaigns"),
        ("bot/campaigns/service.py", "bot.runtime"),
        ("bot/storage/staff.py", "bot.storage.sql.console"),
        ("bot/storage/base.py", "bot.storage.sqlite"),
    ],
)
def test_only_the_backend_and_composition_know_sqlite(rel: str, module: str) -> None:
    """Issue 17: services and pages take the protocols of bot/storage/; the composition
    root (bot/runtime.py) picks the backend and hands its stores in."""
    assert breaks(rel, module)
