"""Packaging hook: a regular (non-editable) install carries locales/ and data/ inside the
package as bot/resources/, with the catalogs compiled to .mo. Everything else is in
pyproject.toml; bot/resources.py finds these folders either way.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildWithResources(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "bot" / "resources"
        for name in ("locales", "data"):
            shutil.copytree(ROOT / name, target / name, dirs_exist_ok=True)
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        for po in (target / "locales").glob("*/LC_MESSAGES/*.po"):
            with po.open("rb") as src:
                catalog = read_po(src, locale=po.parent.parent.name)
            with po.with_suffix(".mo").open("wb") as dst:
                write_mo(dst, catalog)


setup(cmdclass={"build_py": BuildWithResources})
