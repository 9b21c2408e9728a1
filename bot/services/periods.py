"""Dates and periods as people type them, read one way in chat, on the command line and in the
dashboard's API.

A period is a month (`2026-03`, `2026/3`, `2026.3`, `2026年3月`), a quarter (`2026-Q1`,
`2026q1`, `2026年第1季度`), a half-year (`2026-H1`) or a year (`2026`, `2026年`); each caller
says which of these it takes. A year outside MIN_YEAR..MAX_YEAR is refused before any date is
built from it: year 0 is no `date`, 9999 has no next month, and 0001-01-01 00:00 in Shanghai is
no UTC instant. Refusals are `Invalid` errors with a catalog key, so chat, the command line and
the API answer alike.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

from bot.errors import Invalid

# Earlier or later is a typo, and one the calendar and time-zone arithmetic may not survive.
MIN_YEAR, MAX_YEAR = 2000, 2100

MONTH = "month"
QUARTER = "quarter"
HALF = "half"
YEAR = "year"
UNITS = (MONTH, QUARTER, HALF, YEAR)

_FORMS = (
    (MONTH, re.compile(r"^(\d{4})\s*(?:-|/|\.|年)\s*(\d{1,2})\s*月?$")),
    (QUARTER, re.compile(r"^(\d{4})\s*(?:-|/|年)?\s*(?:q|第)\s*([1-4])\s*(?:季度|季)?$")),
    (HALF, re.compile(r"^(\d{4})\s*(?:-|/)?\s*h([12])$")),
    (YEAR, re.compile(r"^(\d{4})\s*年?()$")),
)
_MONTHS = {MONTH: 1, QUARTER: 3, HALF: 6, YEAR: 12}
_LIMITS = {MONTH: 12, QUARTER: 4, HALF: 2, YEAR: 1}


def check_year(year: int, value: str) -> None:
    """Refuse a year out of range, naming what was typed."""
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise Invalid("date.year_range", value=value.strip(), min=MIN_YEAR, max=MAX_YEAR)


@dataclass(frozen=True)
class Span:
    """One calendar period: `number` is the month (1–12), quarter (1–4), half (1–2), or 1."""

    unit: str
    year: int
    number: int

    @property
    def start(self) -> date:
        return date(self.year, (self.number - 1) * _MONTHS[self.unit] + 1, 1)

    @property
    def end(self) -> date:
        """The first day after the period."""
        index = self.year * 12 + self.number * _MONTHS[self.unit]
        return date(index // 12, index % 12 + 1, 1)

    @property
    def key(self) -> str:
        """As typed back: 2026-03, 2026-Q1, 2026-H1, 2026."""
        if self.unit == MONTH:
            return f"{self.year}-{self.number:02d}"
        if self.unit == QUARTER:
            return f"{self.year}-Q{self.number}"
        if self.unit == HALF:
            return f"{self.year}-H{self.number}"
        return str(self.year)


def span_of(unit: str, day: date) -> Span:
    """The period of that unit containing the day."""
    return Span(unit, day.year, (day.month - 1) // _MONTHS[unit] + 1)


def parse_span(text: str, units: Collection[str] = UNITS) -> Span | None:
    """The period typed, if it is one of `units`; None if it is none of their forms. A form
    that matches with a year out of range is refused (Invalid `date.year_range`)."""
    word = text.strip().lower()
    for unit, form in _FORMS:
        if unit not in units or (match := form.match(word)) is None:
            continue
        check_year(int(match[1]), text)
        number = int(match[2] or 1)
        if not 1 <= number <= _LIMITS[unit]:
            return None
        return Span(unit, int(match[1]), number)
    return None
