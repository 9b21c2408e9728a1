"""The text catalog. `t()` escapes every parameter, so user text is safe in HTML replies."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

from bot.texts import (
    en,
    en_compliance,
    en_dashboard,
    en_dues,
    en_holidays,
    en_meetings,
    en_polls,
    en_reports,
    en_tasks,
    en_volunteers,
    zh,
    zh_compliance,
    zh_dashboard,
    zh_dues,
    zh_holidays,
    zh_meetings,
    zh_polls,
    zh_reports,
    zh_tasks,
    zh_volunteers,
)

# Each language's catalog is assembled from the feature modules; a key lives in exactly one.
PARTS: dict[str, tuple[dict[str, str], ...]] = {
    "zh": (
        zh.TEXTS,
        zh_meetings.TEXTS,
        zh_polls.TEXTS,
        zh_compliance.TEXTS,
        zh_volunteers.TEXTS,
        zh_dues.TEXTS,
        zh_tasks.TEXTS,
        zh_reports.TEXTS,
        zh_dashboard.TEXTS,
        zh_holidays.TEXTS,
    ),
    "en": (
        en.TEXTS,
        en_meetings.TEXTS,
        en_polls.TEXTS,
        en_compliance.TEXTS,
        en_volunteers.TEXTS,
        en_dues.TEXTS,
        en_tasks.TEXTS,
        en_reports.TEXTS,
        en_dashboard.TEXTS,
        en_holidays.TEXTS,
    ),
}
CATALOGS: dict[str, dict[str, str]] = {
    language: {key: text for part in parts for key, text in part.items()}
    for language, parts in PARTS.items()
}
DEFAULT_LANGUAGE = "zh"


class Raw(str):
    """Already-safe HTML (for example, another t() result) that must not be escaped again."""

    __slots__ = ()


def _safe(value: Any) -> str:
    if isinstance(value, Raw):
        return str(value)
    return html.escape(str(value), quote=False)


def t(language: str, key: str, /, **params: Any) -> Raw:
    catalog = CATALOGS.get(language, CATALOGS[DEFAULT_LANGUAGE])
    template = catalog.get(key) or CATALOGS[DEFAULT_LANGUAGE][key]
    return Raw(template.format(**{k: _safe(v) for k, v in params.items()}))


def plain(text: str) -> str:
    """Catalog text without its HTML, for places that take plain text (button labels, menus)."""
    return html.unescape(text)


# How a list of names or counts is joined in running text.
SEPARATORS = {"zh": "、", "en": ", "}


def list_separator(language: str) -> str:
    return SEPARATORS.get(language, SEPARATORS[DEFAULT_LANGUAGE])


def join_names(names: Sequence[str], limit: int, language: str = DEFAULT_LANGUAGE) -> str:
    """Names joined for a message, at most `limit` of them, the rest counted: "甲、乙…(+3)"
    ("A, B…(+3)" in English)."""
    shown = list_separator(language).join(names[:limit])
    return shown + (f"…(+{len(names) - limit})" if len(names) > limit else "")
