"""A known half-year of records, made through the real services, for the ledger, statistics,
summary and dashboard tests. Everything happens in 2026-Q4 (so in 2026-H2 and in 2026).

第一支部: 书记 (secretary), 张三 and 李四 (第一党小组), 王五 (第二党小组). 第二支部: 外支部.
- study item 「学习四中全会精神」 (10-10): 张三 (with a reflection) and 李四 confirm; 2 of 4.
- integrity reminder 「节前廉政提醒」 (11-01): only 张三 reads it; 1 of 4.
- general meeting 「党员大会」 (11-20 14:30): 书记 and 张三 attend (书记 late), 李四 on leave
  (出差), 王五 absent and makes up; closed, so held.
- activity 「社区环境整治」 (12-05 09:00-11:30, 2 places): 张三 serves 08:50-11:00 (2 h, the
  start caps it), 王五 never comes (no-show).
- dues: 张三 50.00 for 2026-12, reported and confirmed; 李四 30.00, not reported.
- task 「整理台账」 for 李四, due 12-20, done.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.config import Config, parse_config
from bot.services import (
    dues,
    items,
    meetings,
    money,
    tasks,
    volunteer_checkin,
    volunteer_hours,
    volunteers,
)
from bot.services.audience import Audience
from bot.services.meetings import MeetingDraft
from bot.services.volunteers import ActivityDraft
from handlers.common import Deps
from storage.db import Database
from storage.models import Meeting, Role
from tests.conftest import OrgBuilder, Person

TZ = ZoneInfo("Asia/Shanghai")


def at(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=TZ)


def scenario_config(url: str) -> Config:
    cfg = parse_config(
        {
            "organisation": {"name": "测试局机关党委"},
            "delivery": {"quiet_start": "00:00", "quiet_end": "00:00"},
            "database": {"url": url},
        },
        env={},
    )
    return cfg


@dataclass(frozen=True)
class Scenario:
    deps: Deps
    secretary: Person
    zhang: Person
    li: Person
    wang: Person
    outsider: Person
    study_id: int
    reminder_id: int
    meeting_id: int
    activity_id: int
    task_id: int


async def build_scenario(db: Database, org_id: int) -> Scenario:
    org = OrgBuilder(db, org_id)
    deps = Deps(scenario_config(db.url), db, org_id)
    secretary = await org.member("书记", telegram_id=10, role=Role.SECRETARY)
    zhang = await org.member("张三", telegram_id=1)
    li = await org.member("李四", telegram_id=2)
    wang = await org.member("王五", telegram_id=3, group="第二党小组")
    outsider = await org.member("外支部", telegram_id=5, branch="第二支部")
    assert secretary.branch_id is not None
    branch = Audience("branch", secretary.branch_id, "第一支部")

    async def post(kind: str, title: str, when: str) -> int:
        async with db.write() as session:
            posted = await items.post(
                session,
                deps.push,
                secretary.actor(),
                items.Draft(kind, title, "正文", branch),
                now=at(when),
            )
        return posted.item_id

    study_id = await post(items.KIND_STUDY, "学习四中全会精神", "2026-10-10 09:00")
    async with db.write() as session:
        await items.save_reflection(
            session, zhang.actor(), study_id, "联系实际抓落实", now=at("2026-10-11 20:00")
        )
    await items.confirm(db, deps.push, li.actor(), study_id, now=at("2026-10-12 08:00"))
    reminder_id = await post(items.KIND_REMINDER, "节前廉政提醒", "2026-11-01 09:00")
    await items.confirm(db, deps.push, zhang.actor(), reminder_id, now=at("2026-11-01 10:00"))

    start = at("2026-11-20 14:30")
    async with db.write() as session:
        scheduled = await meetings.schedule(
            session,
            deps.meetings,
            secretary.actor(),
            MeetingDraft("general", "党员大会", start, branch, "三楼会议室"),
            now=at("2026-11-15 09:00"),
        )
    meeting_id = scheduled.meeting_id
    async with db.write() as session:
        await meetings.answer(
            session, li.actor(), meeting_id, "leave", now=at("2026-11-18 09:00"), reason="出差"
        )
    async with db.write() as session:
        await meetings.mark_present(
            session,
            deps.meetings,
            secretary.actor(),
            meeting_id,
            ["张三"],
            now=at("2026-11-20 14:20"),
        )
    async with db.write() as session:
        await meetings.mark_present(
            session,
            deps.meetings,
            secretary.actor(),
            meeting_id,
            ["书记"],
            now=at("2026-11-20 14:40"),
        )
    async with db.write() as session:
        await meetings.close_meeting(session, deps.meetings, meeting_id, now=at("2026-11-20 15:00"))
        await session.commit()
    async with db.write() as session:
        await meetings.attach_minutes(
            session,
            deps.meetings,
            secretary.actor(),
            meeting_id,
            now=at("2026-11-20 16:00"),
            text="传达学习会议精神。",
        )
    async with db.read() as session:
        meeting = await session.get(Meeting, meeting_id)
        assert meeting is not None and meeting.makeup_item_id is not None
        makeup_id = meeting.makeup_item_id
    await items.confirm(db, deps.push, wang.actor(), makeup_id, now=at("2026-11-22 10:00"))

    async with db.write() as session:
        created = await volunteers.create_activity(
            session,
            deps.volunteers,
            secretary.actor(),
            ActivityDraft(
                "社区环境整治",
                at("2026-12-05 09:00"),
                at("2026-12-05 11:30"),
                "幸福里社区",
                2,
                branch,
            ),
            now=at("2026-12-01 09:00"),
        )
    activity_id = created.activity_id
    for who in (zhang, wang):
        async with db.write() as session:
            await volunteers.sign_up(
                session, deps.volunteers, who.actor(), activity_id, now=at("2026-12-01 10:00")
            )
    for direction, when in (("in", "2026-12-05 08:50"), ("out", "2026-12-05 11:00")):
        async with db.write() as session:
            await volunteer_checkin.mark(
                session,
                deps.volunteers,
                secretary.actor(),
                activity_id,
                direction,
                ["张三"],
                now=at(when),
            )
    async with db.write() as session:
        await volunteer_hours.close_activity(
            session, deps.volunteers, activity_id, now=at("2026-12-05 12:30")
        )
        await session.commit()

    for who, amount in ((zhang, "50"), (li, "30")):
        async with db.write() as session:
            await dues.set_amount(
                session, deps.dues, secretary.actor(), who.name, money.parse_amount(amount)
            )
    async with db.write() as session:
        await dues.report_paid(
            session, deps.dues, zhang.actor(), 202612, now=at("2026-12-06 09:00")
        )
    async with db.read() as session:
        view = await dues.month_view(
            session, deps.dues, secretary.actor(), at("2026-12-01 00:00").date()
        )
    ((payment_id, _, _),) = [entry for group in view.groups for entry in group.reported]
    async with db.write() as session:
        await dues.confirm_one(
            session, deps.dues, secretary.actor(), payment_id, now=at("2026-12-06 10:00")
        )

    async with db.write() as session:
        owner = await tasks.resolve_owner(session, deps.tasks, secretary.actor(), "李四")
        task = await tasks.create_task(
            session,
            deps.tasks,
            secretary.actor(),
            "整理台账",
            owner,
            at("2026-12-20 00:00").date(),
            now=at("2026-12-01 09:00"),
        )
    async with db.write() as session:
        await tasks.complete(
            session, deps.tasks, li.actor(), task.task_id, now=at("2026-12-10 09:00")
        )
    return Scenario(
        deps,
        secretary,
        zhang,
        li,
        wang,
        outsider,
        study_id,
        reminder_id,
        meeting_id,
        activity_id,
        task.task_id,
    )


NOW = at("2026-12-31 12:00")
SOON = NOW + timedelta(days=1)
