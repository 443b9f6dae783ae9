"""Kazakhstan's individual identification number (ИИН / ЖСН): 12 digits, checked locally.

Digits 1-6 are the birth date YYMMDD, digit 7 the century and sex (1/2 -> 1800s, 3/4 ->
1900s, 5/6 -> 2000s; odd is male), 8-11 a serial, 12 a check digit. We only check the
number's shape; whether such a person exists is not ours to know.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

from bot.errors import UserInputError

Sex = Literal["male", "female"]

_FIRST_WEIGHTS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
_SECOND_WEIGHTS = (3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2)
_CENTURIES = {1: 1800, 2: 1800, 3: 1900, 4: 1900, 5: 2000, 6: 2000}
_SEPARATORS = re.compile(r"[\s\-‐‑–—]+")
_TWELVE_DIGITS = re.compile(r"[0-9]{12}")


@dataclass(frozen=True, slots=True)
class Iin:
    value: str
    birth_date: date
    sex: Sex


def check_digit(first11: str) -> int | None:
    """The 12th digit for these 11 digits, or None when no IIN can start with them."""
    digits = [int(ch) for ch in first11]
    for weights in (_FIRST_WEIGHTS, _SECOND_WEIGHTS):
        check = sum(d * w for d, w in zip(digits, weights, strict=True)) % 11
        if check != 10:
            return check
    return None


def parse_iin(text: str, today: date | None = None) -> Iin:
    """Validate what the citizen typed; raise UserInputError("iin.…") if it cannot be an IIN."""
    value = _SEPARATORS.sub("", text)
    if not _TWELVE_DIGITS.fullmatch(value):
        raise UserInputError("iin.not_12_digits")
    if check_digit(value[:11]) != int(value[11]):
        raise UserInputError("iin.bad_checksum")
    century = _CENTURIES.get(int(value[6]))
    if century is None:
        raise UserInputError("iin.bad_birth_date")
    try:
        birth = date(century + int(value[0:2]), int(value[2:4]), int(value[4:6]))
    except ValueError:
        raise UserInputError("iin.bad_birth_date") from None
    if birth > (today or date.today()):
        raise UserInputError("iin.bad_birth_date")
    return Iin(value=value, birth_date=birth, sex="male" if int(value[6]) % 2 else "female")


def make_iin(birth_date: date, sex: Sex, serial: int) -> str:
    """A valid IIN for tests. Raises ValueError for a serial no check digit fits; try another."""
    if not 0 <= serial <= 9999:
        raise ValueError(f"serial must be 0..9999, got {serial}")
    centuries = [c for c, base in _CENTURIES.items() if base == birth_date.year // 100 * 100]
    if not centuries:
        raise ValueError(f"no IIN century digit for year {birth_date.year}")
    century = centuries[0] if sex == "male" else centuries[1]
    first11 = f"{birth_date:%y%m%d}{century}{serial:04d}"
    check = check_digit(first11)
    if check is None:
        raise ValueError(f"no check digit fits {first11}; use another serial")
    return f"{first11}{check}"
