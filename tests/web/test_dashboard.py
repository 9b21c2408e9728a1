"""The dashboard in a real headless Chromium (Debian's, driven by Playwright): login by link,
the link's single use and expiry, every page with the scenario's figures, a member's narrow
view, CSRF, and the check-in screen's code working in chat."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import unquote

import pytest
from aiohttp import ClientSession, CookieJar
from playwright.async_api import Browser, Page, async_playwright

# The browser as the screenshot tool launches it (no internet: no background networking).
from bot.screenshots import CHROMIUM, CHROMIUM_ARGS
from bot.services import meetings
from bot.services.audience import Audience
from bot.services.meetings import MeetingDraft
from tests.web.conftest import Site


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


async def logged_in(browser: Browser, url: str) -> Page:
    page = await (await browser.new_context()).new_page()
    await page.goto(url)
    await page.click("#enter")
    return page


async def link(page: Page, name: str) -> None:
    await page.get_by_role("link", name=name, exact=True).click()


async def text(page: Page, selector: str) -> str:
    return (await page.locator(selector).inner_text()).strip()


async def test_login_by_link_once_and_never_after_it_expires(site: Site, browser: Browser) -> None:
    link = await site.link(site.scenario.secretary)
    # Previews, scanners and HEAD requests fetch the link: none of that may spend it.
    async with ClientSession() as client:
        for method in ("HEAD", "GET"):
            fetched = await client.request(method, link, allow_redirects=False)
            assert fetched.status in (200, 405) and "Set-Cookie" not in fetched.headers
    # Opened from another site (Telegram Web, a mail client): the login still works.
    page = await (await browser.new_context()).new_page()
    await page.set_content(f'<a id="go" href="{link}">open</a>')
    await page.click("#go")
    await page.click("#enter")
    assert page.url.endswith("/dashboard")
    assert await text(page, "#awareness") == "38%"
    # The same link in another browser is refused: it was used.
    other = await (await browser.new_context()).new_page()
    await other.goto(link)
    async with other.expect_response(lambda r: r.request.method == "POST") as waiting:
        await other.click("#enter")
    assert (await waiting.value).status == 403
    assert "无效或已经用过" in await text(other, "#message")
    # And the refused browser has no session.
    response = await other.goto(f"{site.url}/dashboard/items")
    assert response is not None and response.status == 401
    expired = await site.link(site.scenario.secretary, issued_minutes_ago=11)
    late = await (await browser.new_context()).new_page()
    await late.goto(expired)
    await late.click("#enter")
    assert "已过期" in await text(late, "#message")


async def test_every_page_shows_the_scenarios_figures(site: Site, browser: Browser) -> None:
    s = site.scenario
    page = await logged_in(browser, await site.link(s.secretary))
    await page.goto(f"{site.url}/dashboard?period=2026-H2")
    assert await text(page, "#study") == "2/4（50%）"
    assert await text(page, "#reminders") == "1/4（25%）"
    assert await text(page, ".kind-attendance") == "2/4（50%）"
    assert await text(page, "#volunteering") == "1 次活动 · 1 人参加"
    assert "第一支部 支部委员会" in await text(page, "#overdue")
    # The chart is a real PNG drawn for the page.
    chart = await page.request.get(f"{site.url}/dashboard/chart.png?period=2026-H2")
    assert chart.ok and (await chart.body()).startswith(b"\x89PNG")

    await link(page, "学习与提醒")
    rows = await text(page, "#items")
    assert "学习四中全会精神" in rows and "已确认 2 / 共 4 人" in rows and "节前廉政提醒" in rows
    await link(page, "学习四中全会精神")
    assert await text(page, "#done") == "已确认 2 / 共 4 人"
    assert sorted((await text(page, "#pending")).split()) == ["书记", "王五"]

    await link(page, "三会一课")
    await link(page, "党员大会")
    attendance = await text(page, "#attendance")
    assert re.search(r"李四\s+请假\s+出差", attendance)
    assert re.search(r"王五\s+缺席", attendance) and "2026-11-22 10:00" in attendance

    await link(page, "志愿服务")
    # Two signed up (one never came): both places were taken.
    assert "2/2" in await text(page, "#activities")
    await link(page, "社区环境整治")
    roster = await text(page, "#roster")
    assert re.search(r"张三\s+已报名\s+2026-12-05 08:50\s+2026-12-05 11:00\s+2.0\s+已服务", roster)

    await link(page, "党员")
    members = await text(page, "#members")
    assert all(name in members for name in ("书记", "张三", "李四", "王五"))
    assert "外支部" not in members

    # The ledger downloads as the chat's XLSX would.
    async with page.expect_download() as waiting:
        await page.goto(f"{site.url}/dashboard")
        await link(page, "下载台账（XLSX）")
    download = await waiting.value
    assert download.suggested_filename == "台账-第一支部-2026-Q4.xlsx"


async def test_a_members_link_sees_only_what_a_member_may(site: Site, browser: Browser) -> None:
    page = await logged_in(browser, await site.link(site.scenario.zhang))
    assert await text(page, "h1") == "张三"
    assert await page.locator("text=学习与提醒").count() == 0
    for path in ("/dashboard/items", "/dashboard/meetings/1", "/dashboard/members"):
        response = await page.goto(site.url + path)
        assert response is not None and response.status == 403, path
        assert "权限" in await text(page, "#message")
    for path in ("/api/items", "/api/overview", "/api/checkin/meeting/1"):
        answer = await page.request.get(site.url + path)
        assert answer.status == 403, path
    me = await page.request.get(f"{site.url}/api/me")
    assert (await me.json())["name"] == "张三"


async def test_state_changes_need_the_pages_own_token(site: Site, browser: Browser) -> None:
    link = await site.link(site.scenario.secretary)
    page = await logged_in(browser, link)
    await page.goto(f"{site.url}/dashboard/items/{site.scenario.study_id}")
    await page.click("#nudge")
    assert "已再次提醒 2 人" in await text(page, "#sent")
    # The same request from outside the page: no CSRF token, or another site's origin.
    cookies = {c["name"]: c["value"] for c in await page.context.cookies()}
    async with ClientSession(cookie_jar=CookieJar(unsafe=True), cookies=cookies) as client:
        url = f"{site.url}/dashboard/items/{site.scenario.study_id}/nudge"
        forged = await client.post(url, data={"csrf": "guess"})
        assert forged.status == 403
        csrf = await page.locator("input[name=csrf]").first.get_attribute("value")
        cross = await client.post(
            url, data={"csrf": csrf or ""}, headers={"Origin": "https://evil.example"}
        )
        # The right token from another origin: still refused.
        assert cross.status == 403
    # The session cookie is out of reach of scripts and of other sites.
    token = (await site.link(site.scenario.secretary)).split("t=")[1]
    response = await (await browser.new_context()).request.post(
        f"{site.url}/dashboard/login", form={"t": token}, max_redirects=0
    )
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie


async def test_the_check_in_screen_code_works_in_chat(site: Site, browser: Browser) -> None:
    s = site.scenario
    deps = site.deps
    start = deps.now() + timedelta(minutes=10)
    assert s.secretary.branch_id is not None
    async with deps.db.write() as session:
        scheduled = await meetings.schedule(
            session,
            deps.meetings,
            s.secretary.actor(),
            MeetingDraft(
                "lecture", "专题党课", start, Audience("branch", s.secretary.branch_id, "")
            ),
            now=deps.now(),
        )
    page = await logged_in(browser, await site.link(s.secretary))
    await page.goto(f"{site.url}/dashboard/meetings")
    await link(page, "签到屏")
    assert await text(page, "h1") == "专题党课"
    assert await page.locator("#qr svg").count() == 1
    code = await text(page, "#code")
    assert re.fullmatch(r"\d{6}", code)
    assert "签到成功" in await site.harness.say(1, f"/checkin {code}")
    async with deps.db.read() as session:
        view = await meetings.attendance(session, s.secretary.actor(), scheduled.meeting_id)
    assert {r.name: r.checked_in_at is not None for r in view.rows}["张三"]


async def test_the_downloads_are_made_in_the_worker_processes(site: Site) -> None:
    """The chart, the ledger and the report are made by the pool, never on the event loop; a
    refusal made there still comes back as the page's own refusal."""
    token = (await site.link(site.scenario.secretary)).split("t=")[1]
    async with ClientSession(cookie_jar=CookieJar(unsafe=True)) as client:
        login = await client.post(f"{site.url}/dashboard/login", data={"t": token})
        assert login.status == 200
        ledger = await client.get(f"{site.url}/dashboard/export.xlsx?period=2026-H2")
        assert ledger.status == 200
        assert "台账-第一支部-2026-H2.xlsx" in unquote(ledger.headers["Content-Disposition"])
        assert (await ledger.read()).startswith(b"PK")
        report = await client.get(f"{site.url}/dashboard/summary.docx?period=2026")
        assert report.status == 200 and (await report.read()).startswith(b"PK")
        chart = await client.get(f"{site.url}/dashboard/chart.png?period=2026-H2")
        assert (await chart.read()).startswith(b"\x89PNG")
        refused = await client.get(f"{site.url}/dashboard/export.xlsx?branch=第二支部")
        assert refused.status == 403
        wrong = await client.get(f"{site.url}/dashboard/summary.docx?period=2026-Q4")
        assert wrong.status == 400 and "用法" in await wrong.text()
    assert site.pool.kinds == ["export", "summary", "stats_chart", "export", "summary"]
