"""Chinese texts for time polls. HTML parse mode: parameters are escaped by t()."""

TEXTS: dict[str, str] = {
    "help.timepoll": "/timepoll [类型] &lt;名称&gt; [#党小组] | &lt;时间&gt; | &lt;时间&gt; … — 征集大家方便的时间",
    "menu.timepoll": "时间征集",
}
