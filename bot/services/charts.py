"""The statistics as one PNG chart with Chinese labels.

matplotlib's default font has no Chinese glyphs; the chart asks for a CJK font installed on the
machine (Debian: `apt-get install fonts-wqy-microhei`). Without one it still draws, with a warning
in the log, and the labels show as boxes.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from decimal import Decimal
from functools import cache

# The object-oriented API only (no pyplot): nothing here picks a GUI backend or touches a
# display; savefig renders with Agg by itself.
import matplotlib
from matplotlib import font_manager
from matplotlib.figure import Figure

from bot.services.stats import Stats
from bot.texts import plain, t

log = logging.getLogger(__name__)

# In order of preference; the first two are what Debian's fonts-wqy-microhei and
# fonts-noto-cjk install.
CJK_FONTS = (
    "WenQuanYi Micro Hei",
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "SimHei",
    "Microsoft YaHei",
)
MAX_BARS = 12


@cache
def cjk_font() -> str | None:
    installed = {f.name for f in font_manager.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in installed:
            return name
    log.warning("no CJK font found (install fonts-wqy-microhei): chart labels will be boxes")
    return None


def _percent(value: Decimal | None) -> float:
    return float(value) if value is not None else 0.0


def titles_for(lang: str, period_key: str) -> dict[str, str]:
    return {
        "heading": plain(t(lang, "stats.chart_heading", period=period_key)),
        "awareness": plain(t(lang, "stats.chart_awareness")),
        "attendance": plain(t(lang, "stats.chart_attendance")),
        "hours": plain(t(lang, "stats.chart_hours")),
    }


def stats_png(stats: Stats, titles: Mapping[str, str]) -> bytes:
    """Three panels: awareness by unit, attendance by meeting kind, volunteer hours by unit.
    `titles` carries the translated panel titles (awareness, attendance, hours, heading)."""
    font = cjk_font()
    families = [font, "DejaVu Sans"] if font else ["DejaVu Sans"]
    with matplotlib.rc_context({"font.family": families}):
        figure = Figure(figsize=(10, 9), dpi=100, layout="constrained")
        awareness, attendance, hours = figure.subplots(3, 1)
        units = stats.units[:MAX_BARS]
        names = [u.name for u in units]
        awareness.barh(names, [_percent(u.awareness.percent) for u in units], color="#c0392b")
        awareness.set_xlim(0, 100)
        awareness.set_title(titles["awareness"])
        awareness.invert_yaxis()
        kinds = list(stats.by_kind)
        attendance.bar(kinds, [_percent(stats.by_kind[k].percent) for k in kinds], color="#d35400")
        attendance.set_ylim(0, 100)
        attendance.set_title(titles["attendance"])
        hours.barh(names, [float(u.hours) for u in units], color="#27ae60")
        hours.set_title(titles["hours"])
        hours.invert_yaxis()
        figure.suptitle(titles["heading"])
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    return buffer.getvalue()
