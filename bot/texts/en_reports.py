"""Reports texts (English): periods, the ledger export, statistics and the summary."""

TEXTS: dict[str, str] = {
    "help.export": "/export [YYYY-MM|YYYY-Qn|YYYY-H1|YYYY-H2|YYYY] [#branch] — the ledger as XLSX",
    "help.stats": "/stats [period] [#branch] — awareness, attendance, compliance and hours, with a chart",
    "help.summary": "/summary &lt;YYYY-H1|YYYY-H2|YYYY&gt; [#branch] — a draft half-year or annual report (DOCX)",
    "menu.export": "Export ledger",
    "menu.stats": "Statistics",
    "menu.summary": "Draft report",
    "period.label": "{key}",
    "period.usage": 'Cannot read the period "{value}"; write YYYY-MM, YYYY-Qn, YYYY-H1, YYYY-H2 or YYYY, e.g. 2026-H2.',
    "export.usage": "Usage: /export [period] [#branch], e.g. /export 2026-H2 or /export 2026-12 #branch",
    "export.everyone": "all branches",
    "export.caption": "📒 Ledger: {scope}, {period}, {rows} rows.",
}
