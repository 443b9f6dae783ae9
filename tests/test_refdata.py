import json
import shutil
from datetime import date
from pathlib import Path

import pytest

from bot.errors import RefDataError
from bot.refdata import Named, default_data_dir, load_refdata

DATA = default_data_dir()
REAL = load_refdata(DATA)


def test_default_dir_is_the_checkout_data_folder() -> None:
    checkout = Path(__file__).resolve().parent.parent / "data"
    assert checkout == DATA


def test_seventeen_regions_and_three_cities_first() -> None:
    kinds = [r.kind for r in REAL.regions]
    assert kinds == ["city"] * 3 + ["region"] * 17
    assert [r.code for r in REAL.regions[:3]] == ["astana", "almaty_city", "shymkent"]
    assert REAL.region("abai") == Named(
        "abai", {"kk": "Абай облысы", "ru": "область Абай", "en": "Abai Region"}, "region"
    )
    assert REAL.region("astana") is not None
    assert REAL.region("astana").name("kk") == "Астана қаласы"  # type: ignore[union-attr]
    assert REAL.region("semey") is None


def test_kazakh_names_are_cyrillic() -> None:
    for item in (*REAL.regions, *REAL.categories, *REAL.bodies):
        kk = item.name("kk")
        assert any("\u0400" <= ch <= "\u04ff" for ch in kk), kk


def test_categories_and_bodies() -> None:
    assert 10 <= len(REAL.categories) <= 14
    assert 10 <= len(REAL.bodies) <= 14
    assert REAL.category("tax") is not None
    assert REAL.body("gov4c") is not None
    assert REAL.category("gov4c") is None


def test_name_falls_back_to_ru_then_en() -> None:
    item = Named("x", {"ru": "Пример", "en": "Example"})
    assert item.name("kk") == "Пример"
    assert Named("x", {"en": "Example"}).name("kk") == "Example"
    assert item.name("en") == "Example"


def test_days_off_cover_the_fixed_holidays_each_year() -> None:
    for year in (2025, 2026, 2027):
        for month, day in [
            (1, 1),
            (1, 2),
            (1, 7),
            (3, 8),
            (3, 21),
            (3, 22),
            (3, 23),
            (5, 1),
            (5, 7),
            (5, 9),
            (7, 6),
            (8, 30),
            (10, 25),
            (12, 16),
        ]:
            assert date(year, month, day) in REAL.days_off
    assert {date(2025, 6, 6), date(2026, 5, 27), date(2027, 5, 16)} <= REAL.days_off


def test_weekend_holidays_carry_over() -> None:
    carried = {
        date(2025, 3, 10),
        date(2025, 3, 24),
        date(2025, 3, 25),
        date(2025, 7, 7),
        date(2025, 9, 1),
        date(2025, 10, 27),
        date(2026, 3, 9),
        date(2026, 3, 24),
        date(2026, 3, 25),
        date(2026, 5, 11),
        date(2026, 8, 31),
        date(2026, 10, 26),
        date(2027, 1, 4),
        date(2027, 3, 24),
        date(2027, 5, 3),
        date(2027, 5, 10),
    }
    assert carried <= REAL.days_off
    # Religious holidays do not carry over: Kurban Ait 2027 is a Sunday, Monday works.
    assert date(2027, 5, 17) not in REAL.days_off
    assert len(REAL.days_off) == 3 * 15 + len(carried)


def test_every_weekend_holiday_is_carried_over_with_a_note() -> None:
    raw = json.loads((DATA / "holidays.json").read_text(encoding="utf-8"))["days_off"]
    carried = [item for item in raw if "moved_from" in item]
    religious = ("Orthodox Christmas", "Kurban Ait")
    on_weekend = {
        item["date"]
        for item in raw
        if "moved_from" not in item
        and date.fromisoformat(item["date"]).weekday() >= 5
        and not item["en"].startswith(religious)
    }
    assert {item["moved_from"] for item in carried} == on_weekend
    for item in carried:
        assert item["note"]
        assert date.fromisoformat(item["date"]).weekday() < 5


# --- broken files: copy the real data into tmp/data and spoil one file -------------------


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(DATA, target)
    return target


def spoil(data: Path, name: str, old: str, new: str) -> None:
    path = data / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def line_of(data: Path, name: str, needle: str, nth: int = 1) -> int:
    lines = (data / name).read_text(encoding="utf-8").splitlines()
    hits = [i + 1 for i, line in enumerate(lines) if needle in line]
    return hits[nth - 1]


def error(data: Path) -> str:
    with pytest.raises(RefDataError) as info:
        load_refdata(data)
    return str(info.value)


def test_copy_of_real_data_loads(data: Path) -> None:
    assert load_refdata(data) == REAL


def test_json_syntax_error(data: Path) -> None:
    spoil(data, "regions.json", '"en": "Atyrau Region"},', '"en": "Atyrau Region"}')
    line = line_of(data, "regions.json", '"code": "east_kz"')
    assert error(data).startswith(f"data/regions.json:{line}: invalid JSON")


def test_missing_locale(data: Path) -> None:
    spoil(data, "regions.json", ', "kk": "Жетісу облысы"', "")
    line = line_of(data, "regions.json", '"code": "jetisu"')
    assert error(data) == f'data/regions.json:{line}: missing "kk"'


def test_empty_name_points_at_the_field(data: Path) -> None:
    spoil(data, "categories.json", '"ru": "Налоги"', '\n      "ru": "  "')
    line = line_of(data, "categories.json", '"ru": "  "')
    assert error(data).startswith(f'data/categories.json:{line}: "ru" must be a non-empty')


def test_duplicate_code(data: Path) -> None:
    spoil(data, "categories.json", '"code": "justice"', '"code": "akimat"')
    line = line_of(data, "categories.json", '"code": "akimat"', nth=2)
    assert error(data) == f"data/categories.json:{line}: duplicate code 'akimat'"


def test_bad_region_kind(data: Path) -> None:
    spoil(
        data,
        "regions.json",
        '"code": "ulytau", "kind": "region"',
        '"code": "ulytau", "kind": "oblys"',
    )
    line = line_of(data, "regions.json", '"ulytau"')
    assert error(data).startswith(f"data/regions.json:{line}: ")


@pytest.mark.parametrize("bad", ["2026-02-30", "2026-3-08", "20260308", "tomorrow"])
def test_bad_date(data: Path, bad: str) -> None:
    spoil(data, "holidays.json", '"date": "2026-03-08"', f'"date": "{bad}"')
    line = line_of(data, "holidays.json", f'"date": "{bad}"')
    assert error(data).startswith(f"data/holidays.json:{line}: bad date '{bad}'")


def test_duplicate_date(data: Path) -> None:
    spoil(data, "holidays.json", '"date": "2026-03-09"', '"date": "2026-03-08"')
    line = line_of(data, "holidays.json", '"date": "2026-03-08"', nth=2)
    assert error(data).startswith(f"data/holidays.json:{line}: duplicate date 2026-03-08")


def test_wrong_top_level_shape(data: Path) -> None:
    (data / "categories.json").write_text('{\n  "categories": {}\n}\n', encoding="utf-8")
    assert error(data).startswith("data/categories.json:2: expected an object with a list")


def test_missing_file(data: Path) -> None:
    (data / "holidays.json").unlink()
    assert error(data).startswith("data/holidays.json:0: cannot read")


ALMATY = ("almaty_city", "almaty_region")


@pytest.mark.parametrize(
    ("typed", "codes"),
    [
        ("Алматы облысы", ("almaty_region",)),
        ("Алматы қаласы", ("almaty_city",)),
        ("город Алматы", ("almaty_city",)),
        ("Almaty city", ("almaty_city",)),
        ("Almaty Region", ("almaty_region",)),
        # The city or the region: the citizen is asked to choose (issue 15).
        ("Алматы", ALMATY),
        ("«Алматы»", ALMATY),
        ("Almaty", ALMATY),
        ("алматы", ALMATY),
        ("Астана", ("astana",)),
        ("Шымкент", ("shymkent",)),
        ("Туркестанская", ("turkistan",)),
        ("Караганда", ("karaganda",)),
        ("Turkistan obl.", ("turkistan",)),
        ("Актобе", ("aktobe",)),  # Ақтөбе typed on a Russian keyboard
        ("Париж", ()),
    ],
)
def test_typed_region_names(typed: str, codes: tuple[str, ...]) -> None:
    found = load_refdata(default_data_dir()).match_regions(typed)
    assert tuple(r.code for r in found) == codes


def test_only_almaty_is_both_a_city_and_a_region() -> None:
    refdata = load_refdata(default_data_dir())
    bare = [
        city.names["ru"].removeprefix("город ") for city in refdata.regions if city.kind == "city"
    ]
    assert bare == ["Астана", "Алматы", "Шымкент"]
    several = {name: refdata.match_regions(name) for name in bare}
    assert {name for name, found in several.items() if len(found) > 1} == {"Алматы"}
