"""Chinese texts for compliance. HTML parse mode: parameters are escaped by t()."""

TEXTS: dict[str, str] = {
    "help.compliance": "/compliance [month|quarter|YYYY-MM|YYYY-Qn] — 三会一课完成情况",
    "menu.compliance": "三会一课完成情况",
}
