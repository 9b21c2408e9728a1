"""The four kinds of 三会一课, their names as typed, and the rules the config sets for them."""

from __future__ import annotations

from dataclasses import dataclass

from bot.config import MeetingsConfig

GENERAL = "general"
COMMITTEE = "committee"
GROUP = "group"
LECTURE = "lecture"
KINDS = (GENERAL, COMMITTEE, GROUP, LECTURE)

# What secretaries type: the full name, the short name, or the English key.
_ALIASES: dict[str, str] = {
    "支部党员大会": GENERAL,
    "党员大会": GENERAL,
    "general": GENERAL,
    "支部委员会": COMMITTEE,
    "支委会": COMMITTEE,
    "committee": COMMITTEE,
    "党小组会": GROUP,
    "小组会": GROUP,
    "group": GROUP,
    "党课": LECTURE,
    "lecture": LECTURE,
}


def parse_kind(text: str) -> str | None:
    return _ALIASES.get(text.strip().lower())


@dataclass(frozen=True)
class KindRule:
    kind: str
    every: str  # month | quarter | off
    times: int
    audience: str  # branch | committee | group


def kind_rule(cfg: MeetingsConfig, kind: str) -> KindRule:
    return KindRule(
        kind,
        getattr(cfg, f"{kind}_every"),
        getattr(cfg, f"{kind}_times"),
        getattr(cfg, f"{kind}_audience"),
    )


def kind_rules(cfg: MeetingsConfig) -> list[KindRule]:
    return [kind_rule(cfg, kind) for kind in KINDS]
