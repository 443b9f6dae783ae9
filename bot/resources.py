"""Finds the folders that ship beside the code: locales/ and data/.

From a checkout or an editable install they are the repository's top-level folders; a
regular install carries copies inside the package (bot/resources/...), mapped in
pyproject.toml.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """The folder `name` ("locales" or "data"), wherever this installation keeps it."""
    for candidate in (_PACKAGE_DIR.parent / name, _PACKAGE_DIR / "resources" / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"govbot's {name}/ folder is missing from this installation")
