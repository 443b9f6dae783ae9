"""Three first-class languages from babel gettext catalogs, plus locale-aware formatting.

Message ids are stable keys ("complaint.too_short"); every language, English included,
has a real translation, and a test fails on any gap. Catalogs are split by area
(locales/<lang>/LC_MESSAGES/<domain>.po) and merged here, so each area owns its file.
Compiled .mo files are produced on start-up when missing or older than the .po.
"""

from __future__ import annotations

import atexit
import logging
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time
from functools import cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date as _format_date
from babel.dates import format_datetime as _format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import Translations

from bot.domain import LANGUAGES as LANGUAGES
from bot.resources import resource_dir

LANGUAGE_NAMES: Mapping[str, str] = {"kk": "Қазақша", "ru": "Русский", "en": "English"}
TIMEZONE = ZoneInfo("Asia/Almaty")

log = logging.getLogger(__name__)


def day_start(day: date) -> datetime:
    """The moment `day` begins in Almaty, in UTC (as stored times are)."""
    return datetime.combine(day, time(0), TIMEZONE).astimezone(UTC)


def pick_language(hint: object, default: str) -> str:
    """Map a platform hint such as "ru-RU" or "kk" to one of ours, else `default`.

    Total: the hint comes from a platform's JSON and may be any value (a number, a list).
    """
    if isinstance(hint, str) and hint:
        base = hint.replace("_", "-").split("-")[0].lower()
        if base in LANGUAGES:
            return base
    return default


def compile_catalogs(locales: Path, out: Path | None = None) -> Path:
    """Write a .mo beside every .po that is newer than it; returns the folder holding .mo files.

    If the source folder is read-only (a system-wide install: permissions, or a read-only
    filesystem), compile into a new private folder (0700, unpredictable name). A fixed
    /tmp/govbot-locales could be created first by another local user, whose .mo files,
    newer than ours, would then put their text in front of citizens and staff.
    """
    target = out or locales
    try:
        _compile_into(locales, target)
    except OSError:
        target = Path(tempfile.mkdtemp(prefix="govbot-locales-"))
        atexit.register(shutil.rmtree, target, ignore_errors=True)
        _compile_into(locales, target)
    return target


def _compile_into(locales: Path, target: Path) -> None:
    for po in sorted(locales.glob("*/LC_MESSAGES/*.po")):
        mo = target / po.relative_to(locales).with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        mo.parent.mkdir(parents=True, exist_ok=True)
        with po.open("rb") as src:
            catalog = read_po(src, locale=po.parent.parent.name)
        tmp = mo.with_suffix(".mo.tmp")
        with tmp.open("wb") as dst:
            write_mo(dst, catalog, use_fuzzy=False)
        tmp.replace(mo)


class Translator:
    """One language's messages and formats. Cheap to pass around; made once per language."""

    def __init__(self, lang: str, translations: Translations) -> None:
        self.lang = lang
        self._t = translations

    def __call__(self, msgid: str, /, **params: Any) -> str:
        return self.gettext(msgid, **params)

    def gettext(self, msgid: str, /, **params: Any) -> str:
        text = self._t.gettext(msgid)
        return text.format(**params) if params else text

    def ngettext(self, singular: str, plural: str, n: int, /, **params: Any) -> str:
        text = self._t.ngettext(singular, plural, n)
        return text.format(n=self.number(n), **params)

    def has(self, msgid: str) -> bool:
        return self._t.gettext(msgid) != msgid

    @cached_property
    def locale(self) -> Locale:
        return Locale.parse(self.lang)

    def date(self, value: date, fmt: str = "long") -> str:
        return _format_date(value, format=fmt, locale=self.locale)

    def datetime(self, value: datetime, fmt: str = "medium") -> str:
        return _format_datetime(value, format=fmt, tzinfo=TIMEZONE, locale=self.locale)

    def number(self, value: float) -> str:
        return format_decimal(value, locale=self.locale)


class Catalogs:
    """Translators for every language, loaded once at start-up."""

    def __init__(self, locales: Path | None = None) -> None:
        source = locales or resource_dir("locales")
        compiled = compile_catalogs(source)
        self._by_lang = {lang: Translator(lang, _load(compiled, lang)) for lang in LANGUAGES}
        self._everywhere: dict[str, tuple[str, ...]] = {}

    def __getitem__(self, lang: str) -> Translator:
        return self._by_lang[lang]

    def all(self) -> Iterable[Translator]:
        return self._by_lang.values()

    def every_language(self, msgid: str) -> tuple[str, ...]:
        """The message in all three languages: for matching typed answers to buttons.

        Cached: every question's buttons ask for this, and catalogs do not change at run time.
        """
        found = self._everywhere.get(msgid)
        if found is None:
            found = self._everywhere[msgid] = tuple(
                t.gettext(msgid) for t in self._by_lang.values()
            )
        return found


def _load(compiled: Path, lang: str) -> Translations:
    # The first catalog is the base so its Plural-Forms rule (three forms in Russian)
    # is kept; merge() only copies messages.
    merged: Translations | None = None
    for mo in sorted((compiled / lang / "LC_MESSAGES").glob("*.mo")):
        with mo.open("rb") as fp:
            loaded = Translations(fp, domain=mo.stem)
        merged = loaded if merged is None else merged.merge(loaded)
    if merged is None:
        raise FileNotFoundError(f"no compiled catalogs for {lang!r} in {compiled}")
    return merged
