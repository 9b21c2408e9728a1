"""Reports texts (Chinese): periods, the ledger export, statistics and the summary."""

TEXTS: dict[str, str] = {
    "help.export": "/export [YYYY-MM|YYYY-Qn|YYYY-H1|YYYY-H2|YYYY] [#支部] — 导出台账（XLSX）",
    "help.stats": "/stats [期间] [#支部] — 知晓率、出席率、完成情况、服务时长，附图表",
    "help.summary": "/summary &lt;YYYY-H1|YYYY-H2|YYYY&gt; [#支部] — 生成半年或年度工作总结初稿（DOCX）",
    "menu.export": "导出台账",
    "menu.stats": "统计图表",
    "menu.summary": "工作总结初稿",
    "period.label": "{key}",
    "period.usage": "看不懂期间「{value}」，请写 YYYY-MM、YYYY-Qn、YYYY-H1、YYYY-H2 或 YYYY，例如 2026-H2。",
    "export.usage": "用法：/export [期间] [#支部]，例如 /export 2026-H2 或 /export 2026-12 #机关第一支部",
    "export.everyone": "全部支部",
    "export.caption": "📒 台账：{scope}，{period}，共 {rows} 行。",
}
