from datetime import date

import pytest

from bot.errors import UserInputError
from bot.iin import Iin, check_digit, make_iin, parse_iin

TODAY = date(2026, 3, 16)


def msgid(text: str, today: date = TODAY) -> str:
    with pytest.raises(UserInputError) as info:
        parse_iin(text, today=today)
    return info.value.msgid


def test_worked_example_first_weights() -> None:
    # 9*1 + 1*4 + 1*5 + 5*6 + 3*7 + 1*10 = 79; 79 % 11 = 2
    assert check_digit("90011530010") == 2
    assert parse_iin("900115300102", today=TODAY) == Iin(
        value="900115300102", birth_date=date(1990, 1, 15), sex="male"
    )


def test_second_weights_when_first_sum_gives_ten() -> None:
    # first: 9 + 4 + 5 + 30 + 21 + 4*10 = 109 -> 10; second: 27+6+7+40+27+4 = 111 -> 1
    assert check_digit("90011530040") == 1
    assert parse_iin("900115300401", today=TODAY).value == "900115300401"
    assert msgid("900115300400") == "iin.bad_checksum"


def test_invalid_when_both_weightings_give_ten() -> None:
    # first: 9+4+5+30+21+9+20 = 98 -> 10; second: 27+6+7+40+27+11+2 = 120 -> 10
    assert check_digit("90011530120") is None
    for last in "0123456789":
        assert msgid("90011530120" + last) == "iin.bad_checksum"


def test_one_wrong_digit_is_caught() -> None:
    assert msgid("900115300101") == "iin.bad_checksum"


@pytest.mark.parametrize(
    "text", ["", "12345", "9001153001011", "90011530010a", "９００１１５３００１０１"]
)
def test_not_twelve_digits(text: str) -> None:
    assert msgid(text) == "iin.not_12_digits"


def test_spaces_and_dashes_are_stripped() -> None:
    assert parse_iin(" 900115-300102 ", today=TODAY).value == "900115300102"
    assert parse_iin("9001 1530 0102", today=TODAY).value == "900115300102"


@pytest.mark.parametrize(
    ("century_digit", "year", "sex"),
    [
        (1, 1890, "male"),
        (2, 1890, "female"),
        (3, 1990, "male"),
        (4, 1990, "female"),
        (5, 2090, "male"),
        (6, 2090, "female"),
    ],
)
def test_century_and_sex(century_digit: int, year: int, sex: str) -> None:
    born = date(year, 1, 15)
    iin = make_iin(born, sex, 1)  # type: ignore[arg-type]
    assert iin[6] == str(century_digit)
    parsed = parse_iin(iin, today=date(2100, 1, 1))
    assert (parsed.birth_date, parsed.sex) == (born, sex)


@pytest.mark.parametrize("century_digit", "0789")
def test_bad_century_digit(century_digit: str) -> None:
    first11 = "900115" + century_digit + "0010"
    check = check_digit(first11)
    if check is None:
        first11 = "900115" + century_digit + "0020"
        check = check_digit(first11)
    assert check is not None
    assert msgid(first11 + str(check)) == "iin.bad_birth_date"


@pytest.mark.parametrize("yymmdd", ["900230", "901301", "900100", "230229"])
def test_impossible_birth_date(yymmdd: str) -> None:
    for serial in range(1, 20):
        first11 = f"{yymmdd}3{serial:04d}"
        check = check_digit(first11)
        if check is not None:
            assert msgid(first11 + str(check)) == "iin.bad_birth_date"
            return
    pytest.fail("no serial with a check digit")


def test_leap_day_is_fine() -> None:
    assert parse_iin(make_iin(date(2000, 2, 29), "female", 7), today=TODAY).birth_date == date(
        2000, 2, 29
    )


def test_future_birth_date_is_rejected() -> None:
    iin = make_iin(date(2026, 3, 17), "male", 1)
    assert msgid(iin, today=date(2026, 3, 16)) == "iin.bad_birth_date"
    assert parse_iin(iin, today=date(2026, 3, 17)).birth_date == date(2026, 3, 17)


def test_make_iin_refuses_unfit_serial_and_century() -> None:
    with pytest.raises(ValueError, match="another serial"):
        make_iin(date(1990, 1, 15), "male", 120)
    with pytest.raises(ValueError, match="century"):
        make_iin(date(1799, 1, 1), "male", 1)
