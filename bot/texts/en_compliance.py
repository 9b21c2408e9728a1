"""English texts for compliance. HTML parse mode: parameters are escaped by t()."""

TEXTS: dict[str, str] = {
    "help.compliance": "/compliance [month|quarter|YYYY-MM|YYYY-Qn] — meetings required vs held",
    "menu.compliance": "Meeting compliance",
}
