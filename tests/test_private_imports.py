"""No module imports another package's private module or name, except the one wrapper
that pins the python-telegram-bot versions it was checked against (ptb_private.py).

A private module or name is a dotted path component, or an imported name, that starts
with "_" (`__future__` aside). Our own packages (bot, handlers) are not "another package".
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OWN = frozenset({"bot", "handlers"})
ALLOWED = frozenset({"bot/channels/telegram/ptb_private.py"})


def _private(name: str) -> bool:
    return any(part.startswith("_") and part != "__future__" for part in name.split("."))


def private_imports(path: Path) -> list[str]:
    """Each import of another package's private module or name in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [
                alias.name
                for alias in node.names
                if alias.name.split(".")[0] not in OWN and _private(alias.name)
            ]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in OWN:
                continue
            if _private(node.module):
                found.append(node.module)
            found += [f"{node.module}.{a.name}" for a in node.names if _private(a.name)]
    return found


def test_only_the_wrapper_imports_private_names_of_other_packages() -> None:
    offenders = {}
    for folder in ("bot", "handlers"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel not in ALLOWED and (found := private_imports(path)):
                offenders[rel] = found
    assert not offenders, (
        f"private imports outside bot/channels/telegram/ptb_private.py: {offenders}"
    )


def test_the_scan_sees_private_modules_and_names(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from __future__ import annotations\n"
        "import telegram._utils.types\n"
        "from telegram.request._requestparameter import RequestParameter\n"
        "from aiosqlite.core import _Cursor\n"
        "from bot.x import _ours\n"
        "from . import _sibling\n"
        "import json\n"
    )
    assert private_imports(module) == [
        "telegram._utils.types",
        "telegram.request._requestparameter",
        "aiosqlite.core._Cursor",
    ]
