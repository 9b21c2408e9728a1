"""Money as the office writes it: yuan with at most two decimals, kept exact as whole fen (分).

SQLite has no exact decimal type (SQLAlchemy's Numeric goes through float there), so amounts are
stored as integers and only ever converted through Decimal.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from bot.errors import Invalid

MAX_AMOUNT = Decimal("100000")
_CURRENCY = re.compile(r"^[¥￥]|(元|rmb|cny)$", re.IGNORECASE)


def parse_amount(text: str) -> int:
    """`50`, `12.5`, `¥30.00` or `30元` as fen; at most two decimals, 0 to 100,000 yuan."""
    cleaned = _CURRENCY.sub("", text.strip()).strip()
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise Invalid("dues.bad_amount", value=text) from None
    exponent = value.as_tuple().exponent
    if (
        not value.is_finite()
        or not isinstance(exponent, int)
        or exponent < -2
        or not 0 <= value <= MAX_AMOUNT
    ):
        raise Invalid("dues.bad_amount", value=text)
    return int(value * 100)


def amount_text(cents: int) -> str:
    """Fen as yuan with two decimals: 5050 -> "50.50"."""
    return f"{Decimal(cents).scaleb(-2):.2f}"
