"""Catalog generation: `python tools/catalog.py write DOMAIN locales/src/DOMAIN.toml` turns
a table of translations into locales/DOMAIN.pot and locales/{kk,ru,en}/LC_MESSAGES/DOMAIN.po.

The TOML is the one source, and what translators edit: each message in the three
languages side by side, so a Kazakh translator sees the Russian and English beside it.
The .pot and .po files are generated (the bot compiles the .po to .mo on start-up); an
edit made to a .po by hand is overwritten by the next `write`, and tests/test_catalogs.py
fails while a .po differs from its TOML. The format:

    ["complaint.too_short"]
    en = "..."
    ru = "..."
    kk = "..."
    # plural messages: en = ["one", "other"], ru = ["one", "few", "many"], kk = ["one", "other"]
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from bot.domain import LANGUAGES

ROOT = Path(__file__).resolve().parent.parent


def write(domain: str, source: Path) -> None:
    table = tomllib.loads(source.read_text(encoding="utf-8"))
    template = Catalog(project="govbot", domain=domain, fuzzy=False, version="1.0")
    for msgid, row in table.items():
        template.add((msgid, msgid) if isinstance(row["en"], list) else msgid)
    pot = ROOT / "locales" / f"{domain}.pot"
    with pot.open("wb") as fp:
        write_po(fp, template, omit_header=False, width=100)
    for lang in LANGUAGES:
        catalog = Catalog(
            locale=lang,
            project="govbot",
            domain=domain,
            fuzzy=False,
            version="1.0",
            language_team=f"govbot {lang}",
            last_translator="govbot team",
        )
        for msgid, row in table.items():
            text = row[lang]
            if isinstance(text, list):
                catalog.add((msgid, msgid), tuple(text))
            else:
                catalog.add(msgid, text)
        out = ROOT / "locales" / lang / "LC_MESSAGES" / f"{domain}.po"
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("wb") as fp:
            write_po(fp, catalog, width=100)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "write":
        sys.exit(__doc__)
    write(sys.argv[2], Path(sys.argv[3]))
