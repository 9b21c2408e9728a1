"""The workbench (工作台, issue #16 item 1) in Debian's Chromium, at a desk's size (1280×800) and
a phone's (390×844): every page shows the scenario's figures, names and statuses in words, fits
the phone's width, and keeps its charts interactive; the nudge and the dues confirmation change
the store through the chat's own services; a branch secretary can neither see nor act on another
branch; unknown addresses and failures get friendly pages. Each page is photographed into
tests/web/screenshots/ (ignored by git) for a reviewer to look at."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Browser, ConsoleMessage, Error, Page
from sqlalchemy import func, select, update

from bot.services import dues, items, meetings, money, tasks
from bot.services.audience import Audience
from bot.services.meetings import MeetingDraft
from storage.models import Delivery, DuesPayment, Member, Receipt, Role
from tests.conftest import OrgBuilder, Person
from tests.handlers.conftest import ADMIN_ID
from tests.scenario import at
from tests.web.conftest import Site

# The browser fixture of the page tests.
from tests.web.test_dashboard import browser  # noqa: F401

SIZES = {
    "desktop": {"width": 1280, "height": 800},
    "phone": {"width": 390, "height": 844},
    # The check-in screen's, in a meeting room.
    "projector": {"width": 1920, "height": 1080},
}
SHOTS = Path(__file__).parent / "screenshots"


@pytest.fixture(params=["desktop", "phone"])
def size(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@dataclass
class Viewer:
    """A logged-in browser tab of one size, noting script errors and CSP refusals."""

    page: Page
    size: str
    site: Site
    problems: list[str] = field(default_factory=list)

    async def goto(self, path: str, status: int = 200) -> None:
        response = await self.page.goto(self.site.url + path)
        assert response is not None and response.status == status, (path, response)

    async def text(self, selector: str) -> str:
        return (await self.page.locator(selector).inner_text()).strip()

    async def fits(self) -> None:
        """Nothing sticks out sideways: the page scrolls down, never across."""
        width = await self.page.evaluate("document.documentElement.scrollWidth")
        assert width <= SIZES[self.size]["width"], (self.page.url, width)

    async def shoot(self, name: str) -> None:
        await self.fits()
        SHOTS.mkdir(exist_ok=True)
        await self.page.screenshot(path=SHOTS / f"{name}-{self.size}.png", full_page=True)

    def clean(self) -> None:
        assert self.problems == []


@pytest.fixture
async def viewers(
    browser: Browser,  # noqa: F811 (the fixture above)
) -> AsyncIterator[list[Viewer]]:
    opened: list[Viewer] = []
    yield opened
    for viewer in opened:
        await viewer.page.context.close()
    for viewer in opened:
        viewer.clean()


async def open_as(
    site: Site, chromium: Browser, viewers: list[Viewer], who: Person, size: str
) -> Viewer:
    context = await chromium.new_context(
        viewport=SIZES[size],  # type: ignore[arg-type]
        is_mobile=size == "phone",
        has_touch=size == "phone",
    )
    page = await context.new_page()
    viewer = Viewer(page, size, site)

    def console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            viewer.problems.append(message.text)

    def failed(error: Error) -> None:
        viewer.problems.append(str(error))

    page.on("console", console)
    page.on("pageerror", failed)
    viewers.append(viewer)
    await page.goto(await site.link(who))
    await page.click("#enter")
    assert page.url.endswith("/dashboard")
    return viewer


async def admin(site: Site) -> Person:
    async with site.deps.db.read() as session:
        member = await session.scalar(select(Member).where(Member.telegram_user_id == ADMIN_ID))
    assert member is not None
    return Person(member.id, member.name, ADMIN_ID, None, None, Role.ADMIN, "")


async def until(page: Page, expression: str) -> None:
    """Waits until the expression is true in the page. (Playwright's wait_for_function evaluates
    a string inside the page, which the dashboard's CSP rightly refuses.)"""
    for _ in range(200):
        if await page.evaluate(expression):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never true: {expression}")


async def chart_data(viewer: Viewer, canvas: str) -> list[list[int | None]]:
    """The datasets Chart.js drew on a canvas (it draws nothing the DOM can read)."""
    await until(
        viewer.page, f"!!(window.Chart && Chart.getChart(document.getElementById('{canvas}')))"
    )
    data: list[list[int | None]] = await viewer.page.evaluate(
        f"Chart.getChart(document.getElementById('{canvas}')).data.datasets.map(d => d.data)"
    )
    return data


async def hover_first_bar(viewer: Viewer, canvas: str) -> int:
    """Points at the first bar as a person would; how many tooltips the chart then shows."""
    box = await viewer.page.locator(f"#{canvas}").bounding_box()
    assert box is not None
    await viewer.page.locator(f"#{canvas}").scroll_into_view_if_needed()
    box = await viewer.page.locator(f"#{canvas}").bounding_box()
    assert box is not None
    x, y = await viewer.page.evaluate(
        f"""() => {{
            const bar = Chart.getChart(document.getElementById('{canvas}'))
                .getDatasetMeta(0).data[0];
            const middle = bar.getCenterPoint();
            return [middle.x, middle.y];
        }}"""
    )
    await viewer.page.mouse.move(box["x"] + x, box["y"] + y)
    count: int = await viewer.page.evaluate(
        f"Chart.getChart(document.getElementById('{canvas}')).tooltip.getActiveElements().length"
    )
    return count


# ---------------------------------------------------------------- the overview


async def test_the_overview_shows_cards_lists_downloads_and_charts(
    site: Site,
    browser: Browser,  # noqa: F811
    viewers: list[Viewer],
    size: str,
) -> None:
    v = await open_as(site, browser, viewers, site.scenario.secretary, size)
    page = v.page
    # The default period is this quarter, chosen from a list; a secretary's branch is fixed.
    assert await page.locator("select#period").input_value() == "2026-Q4"
    assert await page.locator("select#branch").count() == 0
    assert await v.text("#scope") == "第一支部"
    options = await page.locator("select#period option").all_inner_texts()
    assert {"2026年第4季度", "2026年下半年", "2026年", "2026年12月", "2025年第1季度"} <= set(
        options
    )
    # The cards, in words and figures.
    assert await v.text("#awareness") == "38%"
    assert "已确认 3 / 应确认 8 人次" in await v.text("#card-awareness")
    assert "学习 2/4 · 提醒 1/4" in await v.text("#card-awareness")
    assert await v.text("#attendance") == "50%"
    assert "到会 2 / 应到 4 人次" in await v.text("#card-attendance")
    assert await v.text("#compliance") == "1/11"
    assert "逾期未开 6 项" in await v.text("#card-compliance")
    assert await v.text("#hours") == "2.0 小时"
    assert await v.text("#volunteering") == "1 次活动 · 1 人参加"
    assert await v.text("#dues") == "1/6"
    assert "50.00 / 240.00 元" in await v.text("#card-dues")
    assert await v.text("#tasks-overdue") == "0"
    assert "已完成 1" in await v.text("#card-tasks")
    # The downloads are always there; a quarter has no report of its own, and says which do.
    assert await page.locator("#download-xlsx").is_visible()
    assert await page.locator("#download-docx").count() == 0
    note = await v.text("#summary-note")
    assert "2026年第4季度不单独生成" in note
    links = page.locator("#summary-note a")
    assert await links.all_inner_texts() == [
        "工作总结初稿 2026年下半年（DOCX）",
        "工作总结初稿 2026年（DOCX）",
    ]
    assert "period=2026-H2" in (await links.first.get_attribute("href") or "")
    # The interactive chart draws the units' rates and answers a pointer.
    assert await chart_data(v, "chart-units") == [[38, 50, 0], [50, 67, 0]]
    assert await chart_data(v, "chart-kinds") == [[50]]
    assert await hover_first_bar(v, "chart-units") > 0
    # The chat's PNG is still beside it, and fits the screen.
    await page.click("#png summary")
    await until(page, "document.getElementById('chart').naturalWidth > 0")
    shown = await page.locator("#chart").evaluate("e => e.getBoundingClientRect().width")
    assert shown <= SIZES[size]["width"]
    await v.shoot("overview")

    # Choosing a half-year from the list shows it at once, with its own report.
    await page.select_option("select#period", "2026-H2")
    await page.wait_for_url(re.compile(r"period=2026-H2"))
    assert await v.text("h1") == "第一支部 · 2026年下半年"
    assert await page.locator("#download-docx").is_visible()
    assert await page.locator("#summary-note").count() == 0
    async with page.expect_download() as waiting:
        await page.click("#download-docx")
    assert (await waiting.value).suggested_filename == "工作总结-第一支部-2026-H2.docx"


async def test_each_figure_drills_down_to_the_names_behind_it(
    site: Site,
    browser: Browser,  # noqa: F811
    viewers: list[Viewer],
    size: str,
) -> None:
    v = await open_as(site, browser, viewers, site.scenario.secretary, size)
    page = v.page

    await page.click("#card-awareness")
    await page.wait_for_url(re.compile(r"/dashboard/figures/awareness"))
    study = await v.text(f"#item-{site.scenario.study_id}")
    assert "学习四中全会精神" in study and "已确认 2 / 共 4 人" in study
    assert re.search(r"尚未确认\s+书记\s+王五\s+已确认\s+张三\s+李四", study)
    reminder = await v.text(f"#item-{site.scenario.reminder_id}")
    assert re.search(r"尚未确认\s+书记\s+李四\s+王五", reminder)
    await v.shoot("figure-awareness")

    await v.goto("/dashboard")
    await page.click("#card-attendance")
    await page.wait_for_url(re.compile(r"/dashboard/figures/attendance"))
    meeting = await v.text(f"#meeting-{site.scenario.meeting_id}")
    assert "党员大会" in meeting and "2026-11-20 14:30" in meeting
    assert re.search(r"出席\s+张三\s+迟到\s+书记\s+请假\s+李四（出差）\s+缺席\s+王五", meeting)
    assert re.search(r"已补学\s+王五", meeting)
    await v.shoot("figure-attendance")

    await v.goto("/dashboard")
    await page.click("#card-compliance")
    rows = await v.text("#compliance-rows")
    assert re.search(r"第一支部\s+支部党员大会\s+1\s+1\s+达标", rows)
    assert re.search(r"第一支部\s+支部委员会\s+0\s+3\s+逾期未开\s+2026年10月、2026年11月", rows)
    await v.shoot("figure-compliance")

    await v.goto("/dashboard")
    await page.click("#card-volunteering")
    assert re.search(r"张三\s+第一支部/第一党小组\s+1\s+2.0", await v.text("#volunteers"))
    await v.shoot("figure-volunteering")
    # Another period from the list, on the drill-down itself.
    await page.select_option("select#period", "2026-Q3")
    await page.wait_for_url(re.compile(r"period=2026-Q3"))
    assert "本期暂无记录" in await v.text("#volunteers")


# ---------------------------------------------------------------- study items and reminders


async def test_an_item_shows_its_deadline_and_who_has_confirmed_and_the_nudge_reaches_them(
    site: Site,
    browser: Browser,  # noqa: F811
    viewers: list[Viewer],
    size: str,
) -> None:
    s, deps = site.scenario, site.deps
    assert s.secretary.branch_id is not None
    async with deps.db.write() as session:
        posted = await items.post(
            session,
            deps.push,
            s.secretary.actor(),
            items.Draft(
                items.KIND_STUDY,
                "学习<党章>第一章",
                "正文",
                Audience("branch", s.secretary.branch_id, "第一支部"),
                # 16:00 UTC is midnight in Shanghai: the page shows the organisation's zone.
                deadline=at("2027-01-08 00:00"),
            ),
            now=at("2026-12-30 09:00"),
        )
    await items.confirm(
        deps.db, deps.push, s.zhang.actor(), posted.item_id, now=at("2026-12-30 10:15")
    )
    v = await open_as(site, browser, viewers, s.secretary, size)
    page = v.page
    await page.get_by_role("link", name="学习与提醒", exact=True).click()
    listed = await v.text("#items")
    # The title is shown as typed, never as markup.
    assert "学习<党章>第一章" in listed and "2027-01-08 00:00" in listed
    assert re.search(
        r"学习\s+学习四中全会精神\s+2026-10-10 09:00\s+不限\s+已确认 2 / 共 4 人", listed
    )
    await v.shoot("items")

    await page.get_by_role("link", name="学习<党章>第一章").click()
    assert await v.text("#deadline") == "2027-01-08 00:00"
    assert await v.text("#published") == "2026-12-30 09:00"
    assert await v.text("#done") == "已确认 1 / 共 4 人"
    assert sorted((await v.text("#pending")).split()) == ["书记", "李四", "王五"]
    assert re.search(r"张三\s+2026-12-30 10:15", await v.text("#confirmed"))
    await v.shoot("item")

    async def nudged() -> tuple[int, int]:
        async with deps.db.read() as session:
            receipts = await session.scalar(
                select(func.sum(Receipt.nudges)).where(Receipt.item_id == posted.item_id)
            )
            sent = await session.scalar(
                select(func.count(Delivery.id)).where(
                    Delivery.item_id == posted.item_id, Delivery.purpose == "nudge"
                )
            )
        return int(receipts or 0), int(sent or 0)

    assert await nudged() == (0, 0)
    await page.click("#nudge")
    assert "已再次提醒 3 人" in await v.text("#sent")
    # Through items.nudge, as /nudge in chat: a push to each who has not confirmed.
    assert await nudged() == (3, 3)
    await v.shoot("item-nudged")


# ---------------------------------------------------------------- meetings


async def test_meetings_show_invited_leave_present_late_absent_and_make_up(
    site: Site,
    browser: Browser,  # noqa: F811
    viewers: list[Viewer],
    size: str,
) -> None:
    v = await open_as(site, browser, viewers, site.scenario.secretary, size)
    page = v.page
    await page.get_by_role("link", name="三会一课", exact=True).click()
    row = await v.text("#meetings tbody tr")
    # Kind, title, time, status in words; invited 4, on leave 1, present 1, late 1, absent 1,
    # made up 1.
    assert re.search(
        r"支部党员大会\s+党员大会\s+2026-11-20 14:30\s+已结束\s+4\s+1\s+1\s+1\s+1\s+1", row
    ), row
    await v.shoot("meetings")

    await page.get_by_role("link", name="党员大会", exact=True).click()
    counts = await v.text("#counts")
    assert re.search(r"应到\s*4\s+请假\s*1\s+出席\s*1\s+迟到\s*1\s+缺席\s*1\s+已补学\s*1", counts)
    table = await v.text("#attendance")
    assert re.search(r"李四\s+请假\s+出差", table)
    assert re.search(r"书记\s+迟到\s+2026-11-20 14:40", table)
    assert re.search(r"王五\s+缺席\s+2026-11-22 10:00", table)
    await v.shoot("meeting")


# ---------------------------------------------------------------- volunteering


async def test_volunteering_shows_statuses_in_words(
    site: Site,
    browser: Browser,  # noqa: F811
    viewers: list[Viewer],
    size: str,
) -> None:
    v = await open_as(site, browser, viewers, site.scenario.secretary, size)
    page = v.page
    await page.get_by_role("link", name="志愿服务", exact=True).click()
    assert re.search(
        r"社区环境整治\s+2026-12-05 09:00\s+已结束\s+2/2\s+0", await v.text("#activities")
    )
    await v.shoot("activities")
    await page.get_by_role("link", name="社区环境整治").click()
    roster = await v.text("#roster")
    assert re.search(r"张三\s+已报名\s+2026-12-05 08:50\s+2026-12-05 11:00\s+2.0\s+已服务", roster)
    assert re.search(r"王五\s+已报名\s+未到", roster)
    body = await v.text("main")
    for raw in ("served", "no_show", "confirmed", "closed"):
        assert raw not in body
    await v.shoot("activity")


# ---------------------------------------------------------------- dues


async def test_dues_show_each_month_and_the_confirmation_is_recorded(
    site: Site,
    browser: Browser,  # noqa: F811
    viewers: list[Viewer],
    size: str,
) -> None:
    s, deps = site.scenario, site.deps
    async with deps.db.write() as session:
        await dues.report_paid(session, deps.dues, s.li.actor(), 202612, now=at("2026-12-28 09:00"))
    v = await open_as(site, browser, viewers, s.secretary, size)
    page = v.page
    await page.get_by_role("link", name="党费", exact=True).click()
    assert await page.locator("select#month").input_value() == "2026-12"
    assert await v.text("h1") == "党费 · 2026年12月"
    assert (await v.text("#confirmed-count"), await v.text("#reported-count")) == ("1", "1")
    assert await v.text("#missing-count") == "0"
    assert re.search(r"张三\s+第一党小组\s+50.00", await v.text("#confirmed"))
    assert re.search(r"李四\s+第一党小组\s+30.00\s+确认收讫", await v.text("#reported"))
    assert "另有 2 人未设党费金额" in await v.text("#no-amount")
    assert await chart_data(v, "chart-dues") == [
        [0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 1],
        [2, 2, 2, 2, 2, 0],
    ]
    await v.shoot("dues")

    await page.get_by_role("button", name="确认收讫").click()
    await page.wait_for_url(re.compile(r"done=1"))
    assert await v.text("#done") == "已确认 1 人。"
    assert re.search(r"李四\s+第一党小组\s+30.00", await v.text("#confirmed"))
    assert await page.locator("#reported").count() == 0
    # Recorded through the dues service, as the chat's button does: confirmed, by whom, told.
    async with deps.db.read() as session:
        payment = await session.scalar(
            select(DuesPayment).where(
                DuesPayment.member_id == s.li.member_id, DuesPayment.month == date(2026, 12, 1)
            )
        )
        told = await session.scalar(
            select(func.count(Delivery.id)).where(
                Delivery.member_id == s.li.member_id, Delivery.text.contains("30.00")
            )
        )
    assert payment is not None and payment.status == "confirmed"
    assert payment.confirmed_by_member_id == s.secretary.member_id
    assert told == 1
    await v.shoot("dues-confirmed")

    # An earlier month from the list: both owed it, neither paid.
    await page.select_option("select#month", "2026-11")
    await page.wait_for_url(re.compile(r"month=2026-11"))
    missing = await v.text("#missing")
    assert "张三" in missing and "李四" in missing


# ---------------------------------------------------------------- tasks


async def test_tasks_show_open_overdue_done_and_postponed_with_reasons(
    site: Site,
    browser: Browser,  # noqa: F811
    viewers: list[Viewer],
    size: str,
) -> None:
    s, deps = site.scenario, site.deps
    secretary = s.secretary.actor()
    async with deps.db.write() as session:
        owner = await tasks.resolve_owner(session, deps.tasks, secretary, "王五")
        await tasks.create_task(
            session,
            deps.tasks,
            secretary,
            "报送学习心得",
            owner,
            date(2026, 12, 15),
            now=at("2026-12-01 09:00"),
        )
    async with deps.db.write() as session:
        owner = await tasks.resolve_owner(session, deps.tasks, secretary, "张三")
        moved = await tasks.create_task(
            session,
            deps.tasks,
            secretary,
            "整理党员档案",
            owner,
            date(2026, 12, 20),
            now=at("2026-12-01 09:00"),
        )
    async with deps.db.write() as session:
        await tasks.postpone(
            session,
            deps.tasks,
            s.zhang.actor(),
            moved.task_id,
            date(2027, 1, 10),
            "等待上级通知",
            now=at("2026-12-18 09:00"),
        )
    v = await open_as(site, browser, viewers, s.secretary, size)
    page = v.page
    assert await v.text("#tasks-overdue") == "1"
    await page.click("#card-tasks")
    await page.wait_for_url(re.compile(r"/dashboard/tasks"))
    counts = [await v.text(f"#count-{k}") for k in ("overdue", "open", "done", "postponed")]
    assert counts == ["1", "1", "1", "1"]
    assert re.search(r"报送学习心得\s+王五\s+2026-12-15\s+已逾期", await v.text("#overdue"))
    assert re.search(r"整理党员档案\s+张三\s+2027-01-10\s+进行中", await v.text("#open"))
    postponed = await v.text("#postponed")
    assert "2026-12-20 → 2027-01-10：等待上级通知" in postponed
    assert "（张三，2026-12-18 09:00）" in postponed
    assert re.search(
        r"整理台账\s+李四\s+2026-12-20\s+已完成\s+2026-12-10 09:00", await v.text("#closed")
    )
    await v.shoot("tasks")


# ---------------------------------------------------------------- scope


async def test_a_secretary_can_neither_see_nor_act_on_another_branch(
    site: Site,
    browser: Browser,  # noqa: F811
    viewers: list[Viewer],
    size: str,
) -> None:
    s, deps = site.scenario, site.deps
    org = OrgBuilder(deps.db, deps.org_id)
    other = await org.member("二支书记", branch="第二支部", role=Role.SECRETARY, telegram_id=20)
    assert other.branch_id is not None
    async with deps.db.write() as session:
        posted = await items.post(
            session,
            deps.push,
            other.actor(),
            items.Draft(
                items.KIND_STUDY, "第二支部的学习", "正文", Audience("branch", other.branch_id, "")
            ),
            now=at("2026-12-30 09:00"),
        )
    async with deps.db.write() as session:
        await dues.set_amount(session, deps.dues, other.actor(), "外支部", money.parse_amount("20"))
    async with deps.db.write() as session:
        await dues.report_paid(
            session, deps.dues, s.outsider.actor(), 202612, now=at("2026-12-28 09:00")
        )
    async with deps.db.read() as session:
        payment = await session.scalar(
            select(DuesPayment).where(DuesPayment.member_id == s.outsider.member_id)
        )
    assert payment is not None

    v = await open_as(site, browser, viewers, s.secretary, size)
    page = v.page
    # Not offered: the lists hold the secretary's own branch only.
    assert "第二支部" not in await v.text("main")
    csrf = await page.locator("input[name=csrf]").first.get_attribute("value")
    for path in (
        f"/dashboard/items/{posted.item_id}",
        "/dashboard?branch=第二支部",
        "/dashboard/figures/awareness?branch=第二支部",
        "/dashboard/dues?branch=第二支部",
        "/dashboard/tasks?branch=第二支部",
        "/dashboard/members?branch=第二支部",
        "/dashboard/export.xlsx?branch=第二支部",
    ):
        await v.goto(path, 403)
        assert await v.text("#error h1") == "没有权限"
        assert "管理范围" in await v.text("#message")
        assert "第二支部的学习" not in await v.text("body")
    await v.shoot("forbidden")
    # Acting on them with the page's own token is refused too, and changes nothing.
    for path in (
        f"/dashboard/items/{posted.item_id}/nudge",
        f"/dashboard/dues/{payment.id}/confirm",
    ):
        answer = await page.request.post(site.url + path, form={"csrf": csrf or ""})
        assert answer.status == 403, path
        assert "没有权限" in await answer.text()
    answer = await page.request.post(
        f"{site.url}/dashboard/dues/confirm-all",
        form={
            "csrf": csrf or "",
            "key": "202612",
            "branch_id": str(other.branch_id),
            "up_to": "999",
        },
    )
    assert answer.status == 403
    async with deps.db.read() as session:
        nudges = await session.scalar(
            select(func.count(Delivery.id)).where(
                Delivery.item_id == posted.item_id, Delivery.purpose == "nudge"
            )
        )
        status = await session.scalar(
            select(DuesPayment.status).where(DuesPayment.id == payment.id)
        )
    assert (nudges, status) == (0, "reported")


async def test_an_admin_sees_every_branch_by_name(
    site: Site,
    browser: Browser,  # noqa: F811
    viewers: list[Viewer],
    size: str,
) -> None:
    v = await open_as(site, browser, viewers, await admin(site), size)
    page = v.page
    # Called by their office, not by the placeholder with their Telegram id.
    assert await v.text("#viewer") == "党建办管理员"
    assert "9000" not in await v.text("body")
    assert await v.text("h1") == "全部支部 · 2026年第4季度"
    branches = await page.locator("select#branch option").all_inner_texts()
    assert branches == ["全部支部", "第一支部", "第二支部"]
    await page.select_option("select#branch", "第一支部")
    await page.wait_for_url(re.compile(r"branch=%E7%AC%AC%E4%B8%80"))
    assert await v.text("h1") == "第一支部 · 2026年第4季度"
    assert await v.text("#awareness") == "38%"
    await v.shoot("overview-admin")
    await v.goto("/dashboard/dues?branch=第二支部")
    assert await page.locator("select#branch").input_value() == "第二支部"


async def test_an_english_viewer_gets_the_workbench_in_english(
    site: Site,
    browser: Browser,  # noqa: F811
    viewers: list[Viewer],
    size: str,
) -> None:
    async with site.deps.db.write() as session:
        await session.execute(
            update(Member)
            .where(Member.id == site.scenario.secretary.member_id)
            .values(language="en")
        )
        await session.commit()
    v = await open_as(site, browser, viewers, site.scenario.secretary, size)
    assert await v.page.locator("html").get_attribute("lang") == "en"
    assert "Awareness" in await v.text("#card-awareness")
    assert "3 of 8 confirmed" in await v.text("#card-awareness")
    assert await v.page.locator("select#period option:checked").inner_text() == "Q4 2026"
    assert "第一支部 Branch committee meeting 10/2026" in await v.text("#overdue")
    await v.shoot("overview-en")
    await v.goto(f"/dashboard/activities/{site.scenario.activity_id}")
    roster = await v.text("#roster")
    assert re.search(
        r"张三\s+Signed up\s+2026-12-05 08:50\s+2026-12-05 11:00\s+2.0\s+Served", roster
    )
    await v.goto("/dashboard/nowhere", 404)
    assert await v.text("#error h1") == "Page not found"


# ---------------------------------------------------------------- the remaining pages


async def test_members_me_and_the_check_in_screen_fit_the_screen(
    site: Site,
    browser: Browser,  # noqa: F811
    viewers: list[Viewer],
    size: str,
) -> None:
    s, deps = site.scenario, site.deps
    assert s.secretary.branch_id is not None
    async with deps.db.write() as session:
        scheduled = await meetings.schedule(
            session,
            deps.meetings,
            s.secretary.actor(),
            MeetingDraft(
                "lecture",
                "专题党课：学习贯彻全会精神",
                deps.now() + timedelta(minutes=10),
                Audience("branch", s.secretary.branch_id, ""),
            ),
            now=deps.now(),
        )
    v = await open_as(site, browser, viewers, s.secretary, size)
    await v.page.get_by_role("link", name="党员", exact=True).click()
    members = await v.text("#members")
    assert re.search(r"书记\s+第一支部\s+第一党小组\s+支部书记\s+✓", members)
    await v.shoot("members")
    await v.page.get_by_role("link", name="三会一课", exact=True).click()
    await v.page.get_by_role("link", name="签到屏").click()
    assert re.fullmatch(r"\d{6}", await v.text("#code"))
    await v.shoot("checkin")
    if size == "desktop":
        # On the meeting room's projector.
        projector = Viewer(v.page, "projector", site)
        await v.page.set_viewport_size(SIZES["projector"])  # type: ignore[arg-type]
        await v.goto(f"/dashboard/checkin/meeting/{scheduled.meeting_id}")
        size_of_code = await v.page.locator("#code").evaluate(
            "e => parseFloat(getComputedStyle(e).fontSize)"
        )
        assert size_of_code >= 100
        await projector.shoot("checkin")
        await v.goto("/dashboard")
        await projector.shoot("overview")
    member = await open_as(site, browser, viewers, s.zhang, size)
    assert await member.text("h1") == "张三"
    assert await member.page.locator("nav.tabs a").all_inner_texts() == ["概览"]
    await member.shoot("me")


# ---------------------------------------------------------------- login and error pages


async def test_the_login_page_is_styled_and_fits(
    site: Site,
    browser: Browser,  # noqa: F811
    size: str,
) -> None:
    context = await browser.new_context(viewport=SIZES[size], is_mobile=size == "phone")  # type: ignore[arg-type]
    page = await context.new_page()
    await page.goto(await site.link(site.scenario.secretary))
    button = page.locator("#enter")
    assert await button.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(183, 28, 28)"
    assert await page.locator("#login h1").inner_text() == "党建工作台"
    viewer = Viewer(page, size, site)
    await viewer.shoot("login")
    # Without a link, it says where to get one.
    await page.goto(f"{site.url}/dashboard/login")
    assert "/dashboard" in await viewer.text("#message")
    # Not logged in: a page saying how to log in, not a bare status.
    response = await page.goto(f"{site.url}/dashboard/items")
    assert response is not None and response.status == 401
    assert await viewer.text("#error h1") == "请先登录"
    await viewer.shoot("login-needed")
    await context.close()


async def test_unknown_addresses_get_a_friendly_404(
    site: Site,
    browser: Browser,  # noqa: F811
    viewers: list[Viewer],
    size: str,
) -> None:
    v = await open_as(site, browser, viewers, site.scenario.secretary, size)
    for path in (
        "/dashboard/nowhere",
        "/nowhere",
        "/dashboard/items/999999",
        "/dashboard/items/abc",
        "/dashboard/figures/everything",
    ):
        await v.goto(path, 404)
        assert await v.text("#error h1") == "页面不存在", path
        body = await v.text("body")
        assert "404: Not Found" not in body
        # Logged in, the page keeps its way back.
        assert await v.page.get_by_role("link", name="返回工作台").count() == 1
    await v.shoot("not-found")
    # A form's address opened in the browser: said in words as well.
    await v.goto(f"/dashboard/items/{site.scenario.study_id}/nudge", 405)
    assert await v.text("#error h1") == "无法这样打开"
    # The API keeps answering in JSON.
    answer = await v.page.request.get(f"{site.url}/api/nowhere")
    assert answer.status == 404 and (await answer.json())["error"] == "not_found"


async def test_a_failure_gets_a_friendly_500(
    site: Site,
    browser: Browser,  # noqa: F811
    viewers: list[Viewer],
    monkeypatch: pytest.MonkeyPatch,
    size: str,
) -> None:
    from bot.web import views

    async def broken(*_: object) -> object:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(views, "item_list", broken)
    v = await open_as(site, browser, viewers, site.scenario.secretary, size)
    await v.goto("/dashboard/items", 500)
    assert await v.text("#error h1") == "出错了"
    body = await v.text("body")
    assert "the database went away" not in body and "Traceback" not in body
    await v.shoot("server-error")
