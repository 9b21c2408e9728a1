"""English texts for compliance. HTML parse mode: parameters are escaped by t()."""

TEXTS: dict[str, str] = {
    "help.compliance": "/compliance [month|quarter|YYYY-MM|YYYY-Qn] — meetings required vs held",
    "menu.compliance": "Meeting compliance",
    "compliance.usage": (
        "Unknown period “{value}”.\n"
        "Usage: /compliance [month|quarter|YYYY-MM|YYYY-Qn]; without one, this quarter.\n"
        "For example: /compliance month, /compliance 2026-03, /compliance 2026-Q1"
    ),
    "compliance.month_label": "{month}/{year}",
    "compliance.quarter_label": "Q{quarter} {year}",
    "compliance.title": "📊 <b>Meetings required vs held</b>: {period} ({start} to {end})",
    "compliance.branch": "🏢 <b>{name}</b>",
    "compliance.group": "👥 {name}",
    "compliance.row": "{mark} {kind}: required {required}, held {held}{extra}",
    "compliance.planned": ", scheduled {count}",
    "compliance.overdue": ", <b>overdue: {periods}</b>",
    "compliance.sep": ", ",
    "compliance.by_quarter": " (counted per quarter: {period})",
    "compliance.legend": "✅ done  ⏳ in progress  ❗ overdue  ▫️ not started  ➖ not counted (before the unit existed or the counting start)",
    "compliance.since": " (counted from {date})",
    "compliance.not_yet": " (no members or meetings on record yet: not counted)",
    "compliance.none": "There is no branch or group to show.",
    "compliance.no_rules": "The configuration requires no meeting kind.",
    "compliance.remind": (
        "⏰ <b>Meeting reminder</b>\nThese meetings have been neither held nor scheduled this period:\n{lines}\n"
        "Schedule one with /meeting; send /compliance for the overview."
    ),
    "compliance.remind_line": "• {unit}: {kind} ({period}, due {deadline}) required {required}, held {held}",
}
