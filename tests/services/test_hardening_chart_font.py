"""The chart finds the CJK font even when matplotlib's cached font list predates the font's
installation ("Hardening" issue, item 11)."""

from __future__ import annotations

from collections.abc import Iterator

import matplotlib
import pytest
from matplotlib import font_manager
from matplotlib.font_manager import FontProperties

from bot.services import charts
from storage.db import Database
from tests.scenario import build_scenario
from tests.services.test_stats import TITLES, _missing_glyphs, figures


def _clear_caches() -> None:
    charts.cjk_font.cache_clear()
    font_manager.fontManager._findfont_cached.cache_clear()  # type: ignore[attr-defined]


@pytest.fixture
def stale_font_cache() -> Iterator[None]:
    """matplotlib's font list as cached before the CJK font was installed: nothing from the
    files that hold a CJK font (every face of them)."""
    manager = font_manager.fontManager
    original = manager.ttflist
    cjk_files = {f.fname for f in original if f.name in charts.CJK_FONTS}
    manager.ttflist = [f for f in original if f.fname not in cjk_files]
    _clear_caches()
    try:
        yield
    finally:
        manager.ttflist = original
        _clear_caches()


def test_the_cjk_font_is_found_past_a_stale_font_cache(stale_font_cache: None) -> None:
    assert not {f.name for f in font_manager.fontManager.ttflist} & set(charts.CJK_FONTS)
    font = charts.cjk_font()
    assert font in charts.CJK_FONTS, "no CJK font: install fonts-wqy-microhei (README)"
    # The family the chart asks for resolves to that font's file, not to DejaVu's boxes.
    with matplotlib.rc_context({"font.family": [font, "DejaVu Sans"]}):
        path = font_manager.fontManager.findfont(FontProperties(), fallback_to_default=False)
    assert str(path) in {f.fname for f in font_manager.fontManager.ttflist if f.name == font}
    assert "DejaVu" not in path


async def test_the_chart_draws_chinese_past_a_stale_font_cache(
    stale_font_cache: None, db: Database, org_id: int
) -> None:
    s = await figures(await build_scenario(db, org_id))
    png: list[bytes] = []
    assert _missing_glyphs(lambda: png.append(charts.stats_png(s, TITLES))) == []
    assert png[0].startswith(b"\x89PNG\r\n\x1a\n")
