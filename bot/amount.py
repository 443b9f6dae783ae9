"""Sums of money as citizens type them: "150 000 тг", "2,5 млн", "500 мың", "10k"."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_CURRENCY = re.compile(r"₸|(?<![^\W\d_])(?:kzt|tenge|тенге|теңге|тг|т)(?![^\W\d_])\.?")
_MULTIPLIERS = {
    **dict.fromkeys(("k", "к", "thousand", "тыс", "тысяч", "тысячи", "тысяча", "мың"), 10**3),
    **dict.fromkeys(("m", "mln", "million", "млн", "миллион", "миллиона", "миллионов"), 10**6),
    **dict.fromkeys(("bn", "billion", "млрд", "миллиард", "миллиарда", "миллиардов"), 10**9),
}
_AMOUNT = re.compile(r"(?P<num>\d[\d\s.,'’]*?)\s*(?P<mult>[^\W\d_]+)?\.?")
_GROUPED = re.compile(r"\d{1,3}(?:[.,]\d{3})+")
_DECIMAL = re.compile(r"\d+(?:[.,]\d{1,2})?")
AMOUNT_MAX = 10**13


def parse_amount(text: str) -> int | None:
    """Whole tenge from "150 000 тг", "150,000₸", "2,5 млн тенге", "50000 tenge"; else None."""
    cleaned = _CURRENCY.sub(" ", text.casefold()).strip()
    match = _AMOUNT.fullmatch(cleaned)
    if match is None:
        return None
    multiplier = 1
    if match["mult"]:
        found = _MULTIPLIERS.get(match["mult"])
        if found is None:
            return None
        multiplier = found
    digits = re.sub(r"[\s'’]", "", match["num"]).rstrip(".,")
    if _GROUPED.fullmatch(digits) and not (multiplier > 1 and len(digits.split(",")[-1]) < 3):
        digits = re.sub(r"[.,]", "", digits)
    elif not _DECIMAL.fullmatch(digits):
        return None
    try:
        value = int((Decimal(digits.replace(",", ".")) * multiplier).to_integral_value())
    except InvalidOperation:
        return None
    return value if 0 < value <= AMOUNT_MAX else None
