"""Reference data under data/: regions, service categories, state bodies, days off and
the agency that runs the bot.

Four files: regions.json {"regions": [...]}, categories.json {"categories": [...],
"bodies": [...]}, holidays.json {"days_off": [...]} and agency.json {"name": {kk, ru, en},
"website": {kk, ru, en}, "retention_years": N}. Every named item carries "code" and
non-empty "kk", "ru", "en"; a day off carries "date" (YYYY-MM-DD) instead of a code. A broken
file stops start-up with RefDataError("data/regions.json:12: ...") naming the offending line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from bot.collation import sort_key
from bot.commands import normalize
from bot.domain import LANGUAGES
from bot.errors import RefDataError
from bot.resources import resource_dir

_CODE = re.compile(r"[a-z][a-z0-9_]*")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_WS = " \t\r\n"
_DECODER = json.JSONDecoder()

JsonPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Named:
    """A region, category or body: a stable code and its name in each locale."""

    code: str
    names: dict[str, str]
    kind: str | None = None  # regions only: "region" or "city"

    def name(self, locale: str) -> str:
        return self.names.get(locale) or self.names.get("ru") or self.names.get("en") or self.code


@dataclass(frozen=True, slots=True)
class Agency:
    """Whose bot this is: an official bot that asks for an IIN must say so, and where the
    agency's own website confirms it. Personal data is kept `retention_years`."""

    names: dict[str, str]
    websites: dict[str, str]
    retention_years: int

    def about(self, locale: str) -> dict[str, str | int]:
        """The parameters of every message that names the agency."""
        return {
            "agency": self.names[locale],
            "website": self.websites[locale],
            "years": self.retention_years,
        }


@dataclass(frozen=True, slots=True)
class RefData:
    regions: tuple[Named, ...]
    categories: tuple[Named, ...]
    bodies: tuple[Named, ...]
    days_off: frozenset[date]
    agency: Agency

    def regions_in(self, locale: str) -> tuple[Named, ...]:
        """The cities of republican significance first, as listed, then the regions in the
        alphabetical order of `locale` ("область Абай" sorts under А)."""
        cities = [r for r in self.regions if r.kind == "city"]
        regions = [r for r in self.regions if r.kind != "city"]
        regions.sort(key=lambda r: sort_key(locale, _without_region_words(r.name(locale))))
        return (*cities, *regions)

    def match_regions(self, text: str) -> tuple[Named, ...]:
        """The regions a typed name may mean ("Караганда", "Turkistan obl."): one, none,
        or several where a name is both a city's and a region's ("Алматы", "Almaty"), for
        the citizen to choose from.

        Every typed word must start like a word of one of the region's names (five letters
        are enough: "Караганда" ~ "Карагандинская"); a typed "city" or "облысы" says which.
        """
        typed = _fold(text)
        words = [w for w in typed.split() if w not in _KIND_WORDS]
        kinds = {_KIND_WORDS[w] for w in typed.split() if w in _KIND_WORDS}
        exact = [r for r in self.regions if any(_fold(n) == typed for n in r.names.values())]
        if not words:
            return tuple(exact)
        found = [
            region
            for region in self.regions
            if any(
                all(any(_alike(w, n) for n in _fold(name).split()) for w in words)
                for name in region.names.values()
            )
            and (region.kind in kinds or not kinds)
        ]
        # An exact name ("Алматы облысы") is the one meant, unless it is a bare name that
        # others share: "Almaty" is the city's English name and the region's first word.
        return tuple(exact) if exact and (kinds or len(found) <= 1) else tuple(found)

    def region(self, code: str) -> Named | None:
        return _find(self.regions, code)

    def category(self, code: str) -> Named | None:
        return _find(self.categories, code)

    def body(self, code: str) -> Named | None:
        return _find(self.bodies, code)

    def region_names(self, codes: tuple[str, ...], locale: str) -> str:
        """The regions' names as a list ("Astana, Shymkent"): data, not a sentence."""
        found = (self.region(code) for code in codes)
        return ", ".join(region.name(locale) for region in found if region)


def _without_region_words(name: str) -> str:
    return " ".join(w for w in name.split() if _fold(w) not in _KIND_WORDS)


# Kazakh letters typed on a Russian keyboard ("Актобе" for "Ақтөбе"): compare them folded.
_KAZAKH_FOLD = str.maketrans("әғқңөұүһі", "агкноуухи")


def _fold(text: str) -> str:
    return normalize(text).translate(_KAZAKH_FOLD)


# Words that say a region's kind rather than its name ("Алматы қаласы", "Turkistan obl."),
# folded as typed words are.
_KIND_WORDS = {
    _fold(word): kind
    for kind, words in (
        ("city", ("city", "город", "г", "қаласы")),
        ("region", ("region", "obl", "oblast", "oblysy", "область", "обл", "облысы")),
    )
    for word in words
}


def _alike(typed: str, word: str) -> bool:
    common = 0
    for a, b in zip(typed, word, strict=False):
        if a != b:
            break
        common += 1
    return common == len(typed) or common >= 5


def _find(items: tuple[Named, ...], code: str) -> Named | None:
    return next((item for item in items if item.code == code), None)


def default_data_dir() -> Path:
    """data/ beside the packages in a checkout or editable install, else the packaged copy."""
    return resource_dir("data")


def load_refdata(directory: Path) -> RefData:
    regions_file = _File(directory, "regions.json")
    categories_file = _File(directory, "categories.json")
    holidays_file = _File(directory, "holidays.json")
    agency_file = _File(directory, "agency.json")
    return RefData(
        regions=regions_file.named_list("regions", kinds=("region", "city")),
        categories=categories_file.named_list("categories"),
        bodies=categories_file.named_list("bodies"),
        days_off=holidays_file.days_off(),
        agency=agency_file.agency(),
    )


class _File:
    """One parsed JSON file plus the line of every value in it, for error messages."""

    def __init__(self, directory: Path, filename: str) -> None:
        self.label = f"{directory.name}/{filename}"
        try:
            text = (directory / filename).read_text(encoding="utf-8")
        except OSError as exc:
            raise RefDataError(f"{self.label}:0: cannot read: {exc.strerror}") from exc
        try:
            self.data: Any = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RefDataError(f"{self.label}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
        self.lines: dict[JsonPath, int] = {}
        _index_lines(text, 0, (), self.lines)

    def error(self, path: JsonPath, message: str) -> RefDataError:
        while path not in self.lines:  # the root () is always indexed
            path = path[:-1]
        return RefDataError(f"{self.label}:{self.lines[path]}: {message}")

    def items(self, key: str) -> list[dict[str, Any]]:
        if not isinstance(self.data, dict) or not isinstance(self.data.get(key), list):
            raise self.error((key,), f'expected an object with a list "{key}"')
        items: list[dict[str, Any]] = self.data[key]
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise self.error((key, i), "expected an object")
        return items

    def names(self, path: JsonPath, item: dict[str, Any]) -> dict[str, str]:
        for locale in LANGUAGES:
            if locale not in item:
                raise self.error(path, f'missing "{locale}"')
            value = item[locale]
            if not isinstance(value, str) or not value.strip():
                raise self.error((*path, locale), f'"{locale}" must be a non-empty string')
        return {locale: item[locale].strip() for locale in LANGUAGES}

    def named_list(self, key: str, kinds: tuple[str, ...] = ()) -> tuple[Named, ...]:
        result: list[Named] = []
        seen: set[str] = set()
        for i, item in enumerate(self.items(key)):
            path: JsonPath = (key, i)
            code = item.get("code")
            if not isinstance(code, str) or not _CODE.fullmatch(code):
                raise self.error((*path, "code"), f"bad code {code!r}: want a lowercase slug")
            if code in seen:
                raise self.error((*path, "code"), f"duplicate code {code!r}")
            seen.add(code)
            kind = item.get("kind")
            if kinds and kind not in kinds:
                raise self.error((*path, "kind"), f'"kind" must be one of {", ".join(kinds)}')
            result.append(Named(code, self.names(path, item), kind))
        return tuple(result)

    def agency(self) -> Agency:
        if not isinstance(self.data, dict):
            raise self.error((), "expected an object")
        for key in ("name", "website"):
            if not isinstance(self.data.get(key), dict):
                raise self.error((key,), f'"{key}" must be an object with "kk", "ru", "en"')
        years = self.data.get("retention_years")
        if not isinstance(years, int) or isinstance(years, bool) or not 1 <= years <= 100:
            raise self.error(("retention_years",), '"retention_years" must be 1 to 100')
        return Agency(
            names=self.names(("name",), self.data["name"]),
            websites=self.names(("website",), self.data["website"]),
            retention_years=years,
        )

    def days_off(self) -> frozenset[date]:
        result: set[date] = set()
        for i, item in enumerate(self.items("days_off")):
            raw = item.get("date")
            day = None
            if isinstance(raw, str) and _DATE.fullmatch(raw):
                try:
                    day = date.fromisoformat(raw)
                except ValueError:
                    day = None
            if day is None:
                raise self.error(("days_off", i, "date"), f"bad date {raw!r}: want YYYY-MM-DD")
            if day in result:
                raise self.error(("days_off", i, "date"), f"duplicate date {raw}")
            self.names(("days_off", i), item)
            result.add(day)
        return frozenset(result)


def _index_lines(text: str, pos: int, path: JsonPath, out: dict[JsonPath, int]) -> int:
    """Record the line of the value at `pos` and of everything inside it; return its end.

    The text has already been parsed by json.loads, so it is known to be well formed.
    """
    pos = _skip(text, pos)
    out[path] = text.count("\n", 0, pos) + 1
    opener = text[pos]
    if opener not in "{[":
        return int(_DECODER.raw_decode(text, pos)[1])
    closer = "}" if opener == "{" else "]"
    pos = _skip(text, pos + 1)
    index = 0
    while text[pos] != closer:
        key: str | int = index
        if opener == "{":
            key, pos = _DECODER.raw_decode(text, pos)
            pos = _skip(text, pos) + 1  # past ':'
        pos = _skip(text, _index_lines(text, pos, (*path, key), out))
        if text[pos] == ",":
            pos = _skip(text, pos + 1)
        index += 1
    return pos + 1


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos
