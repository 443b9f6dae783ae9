"""The layering rule, checked on the source: the conversation core and the flows import no
messenger, web or database library; each adapter imports only its own.

Every import statement counts, including those inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIBRARIES = frozenset(
    {"telegram", "twilio", "starlette", "aiosqlite", "aiohttp", "httpx", "uvicorn"}
)

# Which libraries a module under a path may use, by the longest matching prefix.
ALLOWED: dict[str, frozenset[str]] = {
    "bot/storage/": frozenset({"aiosqlite"}),
    # Adapters serve their own webhook routes, so they may use starlette too.
    "bot/channels/telegram/": frozenset({"telegram", "aiohttp", "httpx", "starlette"}),
    "bot/channels/whatsapp/": frozenset({"twilio", "aiohttp", "httpx", "starlette"}),
    "bot/web/": frozenset({"starlette"}),
    "bot/app.py": frozenset({"starlette"}),
    # The command line starts the web server; nothing else may.
    "bot/cli.py": frozenset({"uvicorn"}),
}

CORE = [
    "logs",
    "dispatcher",
    "session",
    "i18n",
    "domain",
    "flow",
    "commands",
    "flood",
    "runtime",
    "outbound",
    "tickets",
    "refdata",
    "workdays",
    "iin",
    "reference",
    "crypto",
    "attachments",
    "exif",
    "config",
    "metrics",
    "errors",
    "private",
    "text",
    "safejson",
]


def imported_roots(path: Path) -> set[str]:
    """Top-level package of every absolute import in the module, wherever it occurs."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            roots.add(node.args[0].value.split(".")[0])
    return roots


def allowed_for(rel: str) -> frozenset[str]:
    matches = [prefix for prefix in ALLOWED if rel == prefix or rel.startswith(prefix)]
    return ALLOWED[max(matches, key=len)] if matches else frozenset()


def modules() -> list[str]:
    found = [
        p.relative_to(ROOT).as_posix()
        for package in ("bot", "handlers")
        for p in (ROOT / package).rglob("*.py")
    ]
    return sorted(found)


def test_the_core_modules_exist() -> None:
    """The list below is not silently empty: most named core modules are really there."""
    present = [name for name in CORE if (ROOT / "bot" / f"{name}.py").is_file()]
    assert len(present) >= 15, present
    assert any(m.startswith("handlers/") for m in modules())


@pytest.mark.parametrize("rel", modules())
def test_no_forbidden_library_imports(rel: str) -> None:
    used = imported_roots(ROOT / rel) & LIBRARIES
    forbidden = used - allowed_for(rel)
    assert not forbidden, f"{rel} imports {sorted(forbidden)}"


@pytest.mark.parametrize("name", [name for name in CORE if (ROOT / "bot" / f"{name}.py").is_file()])
def test_core_is_library_free(name: str) -> None:
    assert not imported_roots(ROOT / "bot" / f"{name}.py") & LIBRARIES


def test_handlers_are_library_free() -> None:
    for path in (ROOT / "handlers").rglob("*.py"):
        assert not imported_roots(path) & LIBRARIES, path


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
