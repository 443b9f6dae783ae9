from datetime import date, timedelta

import pytest

from bot.refdata import default_data_dir, load_refdata
from bot.workdays import add_working_days

DAYS_OFF = load_refdata(default_data_dir()).days_off


def test_fifteen_working_days_across_nauryz_2026() -> None:
    # Mon 16 Mar 2026. Nauryz 21-23 Mar: 21-22 are a weekend, 23 (Mon) a holiday, and the
    # two weekend days carry over to Tue 24 and Wed 25. Working days: 17,18,19,20, 26,27,
    # 30,31, 1,2,3, 6,7,8,9 April -> the 15th is Thu 9 April.
    assert add_working_days(date(2026, 3, 16), 15, DAYS_OFF) == date(2026, 4, 9)


def test_without_holidays_only_weekends_are_skipped() -> None:
    assert add_working_days(date(2026, 3, 16), 15, frozenset()) == date(2026, 4, 6)


def test_start_day_is_not_counted() -> None:
    assert add_working_days(date(2026, 4, 6), 1, DAYS_OFF) == date(2026, 4, 7)
    assert add_working_days(date(2026, 4, 6), 0, DAYS_OFF) == date(2026, 4, 6)


def test_friday_before_weekend_and_holiday() -> None:
    # Fri 1 May 2026 is a holiday itself; receipt on Thu 30 Apr: next working day Mon 4 May.
    assert add_working_days(date(2026, 4, 30), 1, DAYS_OFF) == date(2026, 5, 4)
    # Fri 8 May 2026: Victory Day on Sat 9 May carries over to Mon 11 May.
    assert add_working_days(date(2026, 5, 8), 1, DAYS_OFF) == date(2026, 5, 12)


def test_received_on_a_day_off() -> None:
    assert add_working_days(date(2026, 3, 22), 1, DAYS_OFF) == date(2026, 3, 26)


def test_result_is_never_a_day_off() -> None:
    start = date(2025, 1, 1)
    for offset in range(0, 3 * 365, 3):
        due = add_working_days(start + timedelta(days=offset), 15, DAYS_OFF)
        assert due.weekday() < 5 and due not in DAYS_OFF


def test_negative_days_refused() -> None:
    with pytest.raises(ValueError):
        add_working_days(date(2026, 1, 5), -1, DAYS_OFF)
