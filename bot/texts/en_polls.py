"""English texts for time polls. HTML parse mode: parameters are escaped by t()."""

TEXTS: dict[str, str] = {
    "help.timepoll": "/timepoll [kind] &lt;title&gt; [#group] | &lt;slot&gt; | &lt;slot&gt; … — find a time that suits",
    "menu.timepoll": "Find a time",
}
