"""The statistics as one PNG chart with Chinese labels.

matplotlib's default font has no Chinese glyphs; the chart asks for a CJK font installed on the
machine (Debian: `apt-get install fonts-wqy-microhei`). matplotlib's cached font list may predate
the font's installation: then the system fonts are scanned once more. Without any it still draws,
with a warning in the log, and the labels show as boxes.
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


def _known_cjk_font() -> str | None:
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def _add_new_system_fonts() -> int:
    """Add the machine's font files that matplotlib's font list does not know yet. The list is
    cached on disk when matplotlib first runs, so a font installed after that (the CJK font, on
    a machine set up in that order) is missing from it until the cache is rebuilt. The fonts are
    added to the manager in place: the renderer holds a reference to that very object."""
    manager = font_manager.fontManager
    known = {f.fname for f in manager.ttflist}
    added = 0
    for path in font_manager.findSystemFonts():
        if path in known:
            continue
        try:
            manager.addfont(path)
        except (OSError, RuntimeError, ValueError):
            # A broken or unreadable font file: matplotlib's own scan skips those too.
            continue
        added += 1
    return added


@cache
def cjk_font() -> str | None:
    """The first CJK font installed, looking again once (past a stale cache) if none is known."""
    name = _known_cjk_font()
    if name is None and _add_new_system_fonts():
        name = _known_cjk_font()
        if name is not None:
            log.info("found %s after rescanning the system fonts (stale font cache)", name)
    if name is None:
        log.warning("no CJK font found (install fonts-wqy-microhei): chart labels will be boxes")
    return name


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
