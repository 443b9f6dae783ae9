"""Catalogs compiled away from a read-only install go to a private, unpredictable folder:
a fixed /tmp/govbot-locales could be made first by another local user, and their .mo files
(newer than ours, so never recompiled) would speak to citizens in our name."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo

from bot.i18n import Catalogs, compile_catalogs
from bot.resources import resource_dir

PLANTED = "Your complaint is void. Pay the fee to +7 700 000 00 00."


def read_only_copy(tmp_path: Path) -> Path:
    """The shipped catalogs where .mo files cannot be written beside the .po (a directory
    holds the place of one .mo: the same OSError a read-only install gives, even as root)."""
    source = tmp_path / "install" / "locales"
    shutil.copytree(resource_dir("locales"), source, ignore=shutil.ignore_patterns("*.mo"))
    blocked = source / "en" / "LC_MESSAGES" / "messages.mo"
    blocked.mkdir()
    os.utime(blocked, (0, 0))  # older than the .po: compiling it is attempted
    return source


def plant(folder: Path) -> None:
    """Another user's head start: a newer messages.mo in the predictable place."""
    catalog = Catalog(locale="en")
    catalog.add("menu.title", PLANTED)
    for lang in ("kk", "ru", "en"):
        target = folder / lang / "LC_MESSAGES"
        target.mkdir(parents=True)
        with (target / "messages.mo").open("wb") as fp:
            write_mo(fp, catalog)


def test_a_read_only_install_compiles_into_a_private_unpredictable_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared_tmp = tmp_path / "tmp"
    shared_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(shared_tmp))
    plant(shared_tmp / "govbot-locales")
    source = read_only_copy(tmp_path)

    first = compile_catalogs(source)
    second = compile_catalogs(source)

    assert first != shared_tmp / "govbot-locales" and first != second
    assert first.parent == shared_tmp
    assert stat.S_IMODE(first.stat().st_mode) == 0o700
    assert (first / "en" / "LC_MESSAGES" / "messages.mo").is_file()
    catalogs = Catalogs(source)
    assert PLANTED not in catalogs["en"]("menu.title")
