"""The dashboard's hardening (issue "Hardening", items 1, 8 and 9): sessions kept server side
(logout, log out everywhere, a role change or a deactivation ends them), the check-in screen
re-checked on every refresh, security headers on every answer, pruning, and the member list a
page at a time."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

from aiohttp import ClientSession, CookieJar, web
from playwright.async_api import Browser, ConsoleMessage
from sqlalchemy import func, select, update

from bot.services import dashboard_links, meetings
from bot.services.audience import Audience
from bot.services.meetings import MeetingDraft
from bot.web.dashboard import Dashboard, add_routes
from storage.models import DashboardLink, DashboardSession, Member
from tests.conftest import Person
from tests.handlers.conftest import ADMIN_ID
from tests.web.conftest import Site

# The browser fixture and helpers of the page tests.
from tests.web.test_dashboard import browser, logged_in, text  # noqa: F401

Cookies = dict[str, str]


async def login(site: Site, who: Person) -> Cookies:
    """A session as the login button makes it (no browser needed)."""
    token = (await site.link(who)).split("t=")[1]
    async with ClientSession() as client:
        response = await client.post(
            f"{site.url}/dashboard/login", data={"t": token}, allow_redirects=False
        )
        assert response.status == 303
        return {name: morsel.value for name, morsel in response.cookies.items()}


async def get(site: Site, cookies: Cookies, path: str) -> tuple[int, Any]:
    async with ClientSession(cookie_jar=CookieJar(unsafe=True), cookies=cookies) as client:
        response = await client.get(site.url + path, allow_redirects=False)
        body = await response.json() if response.content_type == "application/json" else None
        return response.status, body


async def browser_cookies(page: Any) -> Cookies:
    return {c["name"]: c["value"] for c in await page.context.cookies()}


async def sessions_of(site: Site, member_id: int) -> int:
    async with site.deps.db.read() as session:
        counted = await session.scalar(
            select(func.count())
            .select_from(DashboardSession)
            .where(DashboardSession.member_id == member_id)
        )
    return int(counted or 0)


# ---------------------------------------------------------------- item 1: sessions


async def test_a_cookie_copied_before_logout_is_refused_after_it(
    site: Site,
    browser: Browser,  # noqa: F811
) -> None:
    page = await logged_in(browser, await site.link(site.scenario.secretary))
    copy = await browser_cookies(page)
    assert (await get(site, copy, "/api/members"))[0] == 200
    await page.get_by_role("button", name="退出", exact=True).click()
    assert "已退出" in await text(page, "#message")
    # The copy still carries a validly signed cookie, but its session is gone.
    status, body = await get(site, copy, "/api/members")
    assert status == 401 and body["error"] == "unauthorized"
    assert (await get(site, copy, "/dashboard/members"))[0] == 401
    # Only a hash of the session id was ever stored.
    assert await sessions_of(site, site.scenario.secretary.member_id) == 0


async def test_session_ids_are_stored_only_as_hashes(site: Site) -> None:
    cookies = await login(site, site.scenario.secretary)
    async with site.deps.db.read() as session:
        row = (await session.scalars(select(DashboardSession))).one()
    assert row.role == "secretary" and len(row.token_hash) == 64
    assert row.token_hash not in cookies["branchbot_session"]


async def test_log_out_everywhere_ends_every_browsers_session(
    site: Site,
    browser: Browser,  # noqa: F811
) -> None:
    secretary = site.scenario.secretary
    office = await login(site, secretary)
    zhang = await login(site, site.scenario.zhang)
    page = await logged_in(browser, await site.link(secretary))
    assert (await get(site, office, "/api/me"))[0] == 200
    await page.click("#logout-everywhere")
    assert "所有浏览器" in await text(page, "#message")
    assert (await get(site, office, "/api/me"))[0] == 401
    assert (await get(site, await browser_cookies(page), "/api/me"))[0] == 401
    # Nobody else is logged out.
    assert (await get(site, zhang, "/api/me"))[0] == 200


async def test_logout_in_chat_ends_every_dashboard_session(site: Site) -> None:
    secretary = site.scenario.secretary
    first, second = await login(site, secretary), await login(site, secretary)
    assert secretary.telegram_id is not None
    reply = await site.harness.say(secretary.telegram_id, "/logout")
    assert "已退出网页工作台的全部登录（2 个）" in reply
    for cookies in (first, second):
        assert (await get(site, cookies, "/api/me"))[0] == 401


async def test_a_role_change_ends_the_session_for_good(site: Site) -> None:
    secretary = site.scenario.secretary
    cookies = await login(site, secretary)
    assert (await get(site, cookies, "/api/members"))[0] == 200
    await site.harness.say(ADMIN_ID, "/setrole 书记 member")
    status, _ = await get(site, cookies, "/api/me")
    assert status == 401
    # Made secretary again, the old session does not come back: a new link is needed.
    await site.harness.say(ADMIN_ID, "/setrole 书记 secretary")
    assert (await get(site, cookies, "/api/members"))[0] == 401
    assert (await get(site, await login(site, secretary), "/api/members"))[0] == 200


async def test_a_role_changed_and_restored_unseen_still_ends_the_session(site: Site) -> None:
    """No request between the demotion and the restoration: the change itself ends it."""
    secretary = site.scenario.secretary
    cookies = await login(site, secretary)
    await site.harness.say(ADMIN_ID, "/setrole 书记 member")
    await site.harness.say(ADMIN_ID, "/setrole 书记 secretary")
    assert (await get(site, cookies, "/api/members"))[0] == 401


async def test_a_deactivation_ends_the_session_for_good(site: Site) -> None:
    secretary = site.scenario.secretary
    cookies = await login(site, secretary)

    async def set_active(active: bool) -> None:
        async with site.deps.db.write() as session:
            await session.execute(
                update(Member).where(Member.id == secretary.member_id).values(active=active)
            )
            await session.commit()

    await set_active(False)
    assert (await get(site, cookies, "/api/me"))[0] == 401
    await set_active(True)
    assert (await get(site, cookies, "/api/me"))[0] == 401


# ---------------------------------------------------------------- item 8: the check-in screen


async def _scheduled_meeting(site: Site) -> int:
    deps, secretary = site.deps, site.scenario.secretary
    assert secretary.branch_id is not None
    async with deps.db.write() as session:
        scheduled = await meetings.schedule(
            session,
            deps.meetings,
            secretary.actor(),
            MeetingDraft(
                "lecture",
                "专题党课",
                deps.now() + timedelta(minutes=10),
                Audience("branch", secretary.branch_id, ""),
            ),
            now=deps.now(),
        )
    return scheduled.meeting_id


async def test_a_demoted_secretarys_check_in_screen_stops_showing_the_code(
    site: Site,
    browser: Browser,  # noqa: F811
) -> None:
    meeting_id = await _scheduled_meeting(site)
    page = await (await browser.new_context()).new_page()
    await page.clock.install()
    await page.goto(await site.link(site.scenario.secretary))
    await page.click("#enter")
    await page.goto(f"{site.url}/dashboard/checkin/meeting/{meeting_id}")
    assert re.fullmatch(r"\d{6}", await text(page, "#code"))
    await site.harness.say(ADMIN_ID, "/setrole 书记 member")
    # The next refresh is refused: the screen drops the code and shows why.
    await page.clock.run_for(6000)
    await page.wait_for_selector("#message", timeout=10_000)
    assert await page.locator("#code").count() == 0
    assert await page.locator("#qr svg").count() == 0
    assert "请先登录" in await text(page, "#message")


async def test_a_check_in_screen_moved_out_of_scope_stops_showing_the_code(
    site: Site,
    browser: Browser,  # noqa: F811
) -> None:
    meeting_id = await _scheduled_meeting(site)
    page = await (await browser.new_context()).new_page()
    await page.clock.install()
    await page.goto(await site.link(site.scenario.secretary))
    await page.click("#enter")
    await page.goto(f"{site.url}/dashboard/checkin/meeting/{meeting_id}")
    api = f"{site.url}/api/checkin/meeting/{meeting_id}"
    assert (await page.request.get(api)).status == 200
    # Still a secretary, now of the other branch: the meeting is out of scope.
    async with site.deps.db.write() as session:
        await session.execute(
            update(Member)
            .where(Member.id == site.scenario.secretary.member_id)
            .values(branch_id=site.scenario.outsider.branch_id, group_id=None)
        )
        await session.commit()
    assert (await page.request.get(api)).status == 403
    await page.clock.run_for(6000)
    await page.wait_for_selector("#message", timeout=10_000)
    assert await page.locator("#code").count() == 0
    assert "管理范围" in await text(page, "#message")


# ---------------------------------------------------------------- item 9: web hardening


def _assert_hardened(path: str, headers: Any) -> None:
    csp = headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp, path
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp, path
    assert headers.get("X-Content-Type-Options") == "nosniff", path
    assert headers.get("Referrer-Policy") in ("no-referrer", "same-origin"), path
    assert headers.get("Cache-Control") == "no-store", path


async def test_every_dashboard_and_api_answer_carries_the_security_headers(site: Site) -> None:
    cookies = await login(site, site.scenario.secretary)
    paths = [
        "/dashboard",
        "/dashboard/members",
        "/dashboard/items/999999",
        "/dashboard/static/checkin.js",
        "/dashboard/export.xlsx?period=2026-Q4",
        "/dashboard/nowhere",
        "/api/members",
        "/api/me",
        "/api/openapi.json",
        "/api/items/999999",
    ]
    async with ClientSession(cookie_jar=CookieJar(unsafe=True), cookies=cookies) as client:
        for path in paths:
            response = await client.get(site.url + path, allow_redirects=False)
            _assert_hardened(path, response.headers)
    # Without a session, and the login pages (refusals and redirects too).
    async with ClientSession() as client:
        for path in ("/dashboard", "/api/members", "/dashboard/login?t=x"):
            response = await client.get(site.url + path)
            _assert_hardened(path, response.headers)
        token = (await site.link(site.scenario.zhang)).split("t=")[1]
        response = await client.post(
            f"{site.url}/dashboard/login", data={"t": token}, allow_redirects=False
        )
        assert response.status == 303
        _assert_hardened("login", response.headers)


async def test_the_pages_need_no_inline_script_or_style(
    site: Site,
    browser: Browser,  # noqa: F811
) -> None:
    meeting_id = await _scheduled_meeting(site)
    page = await logged_in(browser, await site.link(site.scenario.secretary))
    violations: list[str] = []

    def watch(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            violations.append(message.text)

    page.on("console", watch)
    for path in ("/dashboard", "/dashboard/members", f"/dashboard/checkin/meeting/{meeting_id}"):
        await page.goto(site.url + path)
    # The style sheet applies: the check-in code is drawn large.
    font = await page.locator("#code").evaluate("e => getComputedStyle(e).fontFamily")
    assert "monospace" in font
    assert violations == []


async def test_expired_links_and_sessions_are_pruned(site: Site) -> None:
    deps, zhang = site.deps, site.scenario.zhang
    now = deps.now()

    async def plant() -> None:
        async with deps.db.write() as session:
            session.add(
                DashboardSession(
                    token_hash=hashlib.sha256(b"old session").hexdigest(),
                    member_id=zhang.member_id,
                    role="member",
                    created_at=now - timedelta(hours=9),
                    expires_at=now - timedelta(hours=1),
                )
            )
            session.add(
                DashboardLink(
                    token_hash=hashlib.sha256(b"old link").hexdigest(),
                    member_id=zhang.member_id,
                    created_at=now - timedelta(days=2),
                    expires_at=now - timedelta(days=2) + timedelta(minutes=10),
                )
            )
            await session.commit()

    async def counts() -> tuple[int, int]:
        async with deps.db.read() as session:
            sessions = await session.scalar(select(func.count()).select_from(DashboardSession))
            links = await session.scalar(
                select(func.count())
                .select_from(DashboardLink)
                .where(DashboardLink.expires_at < now - timedelta(days=1))
            )
        return int(sessions or 0), int(links or 0)

    # When a link is issued.
    await plant()
    assert await counts() == (1, 1)
    await site.link(zhang)
    assert await counts() == (0, 0)
    # When a session opens.
    link = await site.link(site.scenario.secretary)
    await plant()
    async with ClientSession() as client:
        opened = await client.post(
            f"{site.url}/dashboard/login", data={"t": link.split("t=")[1]}, allow_redirects=False
        )
        assert opened.status == 303
    assert await counts() == (1, 0)  # the new session only
    # At start-up.
    await plant()
    app = web.Application()
    add_routes(app, Dashboard(deps, "branchbot_test_bot"))
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        assert await counts() == (1, 0)
    finally:
        await runner.cleanup()
    # A link expired less than a day ago is kept: it still says "expired", not "not valid".
    expired = await site.link(zhang, issued_minutes_ago=11)
    async with deps.db.write() as session:
        await dashboard_links.prune(session, now=now)
        await session.commit()
    async with ClientSession() as client:
        refused = await client.post(
            f"{site.url}/dashboard/login", data={"t": expired.split("t=")[1]}
        )
        assert refused.status == 403 and "已过期" in await refused.text()


async def test_the_member_list_comes_a_page_at_a_time(site: Site) -> None:
    cookies = await login(site, site.scenario.secretary)
    status, whole = await get(site, cookies, "/api/members")
    assert status == 200 and (whole["page"], whole["limit"], whole["total"]) == (1, 100, 4)
    names = [m["name"] for m in whole["members"]]
    assert sorted(names) == sorted(["书记", "张三", "李四", "王五"])
    _, first = await get(site, cookies, "/api/members?limit=3")
    _, second = await get(site, cookies, "/api/members?limit=3&page=2")
    assert (first["pages"], len(first["members"]), len(second["members"])) == (2, 3, 1)
    assert [m["name"] for m in first["members"] + second["members"]] == names
    _, beyond = await get(site, cookies, "/api/members?limit=3&page=3")
    assert beyond["members"] == []
    for bad in ("limit=201", "limit=0", "page=0", "page=x", "limit=-1"):
        status, body = await get(site, cookies, f"/api/members?{bad}")
        assert status == 400 and body["error"] == "dashboard.bad_page", bad
        assert "200" in body["message"]
    # The page has the same pages, with links between them.
    async with ClientSession(cookie_jar=CookieJar(unsafe=True), cookies=cookies) as client:
        page = await (await client.get(f"{site.url}/dashboard/members?limit=3")).text()
    assert 'id="next"' in page and "第 1/2 页，共 4 人" in page
