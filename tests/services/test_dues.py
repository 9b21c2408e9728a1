"""Party dues without Telegram: exact amounts, the reminder day in the organisation's zone,
reported vs confirmed, scope of confirmations, and the quarter's totals."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.config import DeliveryConfig, DuesConfig, FollowupConfig, parse_config
from bot.delivery import QuietHours
from bot.errors import Denied, Invalid
from bot.scheduler import Firing
from bot.services import dues, money, roster_csv
from bot.services.dues import DuesSettings
from bot.services.items import PushSettings
from storage.db import Database
from storage.models import Delivery, DuesPayment, Job, Member, Role
from tests.conftest import OrgBuilder, Person

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 8, 10, 0, tzinfo=TZ)
DECEMBER = 202612


@pytest.fixture
def settings(org_id: int) -> DuesSettings:
    push = PushSettings(
        org_id, "zh", TZ, QuietHours.from_config(DeliveryConfig(), TZ), FollowupConfig()
    )
    return DuesSettings(push, DuesConfig())


async def branch(db: Database, org: OrgBuilder, settings: DuesSettings) -> tuple[Person, ...]:
    secretary = await org.member("书记", telegram_id=10, role=Role.SECRETARY)
    a = await org.member("张三", telegram_id=1)
    b = await org.member("李四", telegram_id=2, group="第二党小组")
    c = await org.member("王五", telegram_id=3)
    for who, amount in ((secretary, "80"), (a, "0.10"), (b, "0.20"), (c, "12.35")):
        async with db.write() as session:
            await dues.set_amount(
                session, settings, secretary.actor(), who.name, money.parse_amount(amount)
            )
    return secretary, a, b, c


async def report(
    db: Database, settings: DuesSettings, who: Person, key: int = DECEMBER
) -> dues.Reported:
    async with db.write() as session:
        return await dues.report_paid(session, settings, who.actor(), key, now=NOW)


def test_amounts_are_exact_decimals() -> None:
    for text, cents in (
        ("50", 5000),
        ("12.5", 1250),
        ("0.01", 1),
        ("¥30.00", 3000),
        ("30元", 3000),
        ("100000", 10_000_000),
    ):
        assert money.parse_amount(text) == cents, text
    for bad in ("12.345", "-1", "abc", "1e9", "nan", "inf", "100000.01", ""):
        with pytest.raises(Invalid) as refused:
            money.parse_amount(bad)
        assert refused.value.key == "dues.bad_amount", bad
    assert money.amount_text(5050) == "50.50" and money.amount_text(1) == "0.01"
    # 0.1 + 0.2 is 0.30 here, not 0.30000000000000004.
    assert money.amount_text(money.parse_amount("0.1") + money.parse_amount("0.2")) == "0.30"


async def test_the_reminder_day_is_in_the_organisations_zone(
    db: Database, org: OrgBuilder, settings: DuesSettings, org_id: int
) -> None:
    await branch(db, org, settings)
    config = parse_config({"dues": {"remind_day": 1, "remind_time": "08:00"}}, env={})
    async with db.write() as session:
        await dues.ensure_job(session, org_id, config, now=NOW)
    async with db.read() as session:
        job = await session.scalar(select(Job).where(Job.kind == dues.JOB_REMIND))
    assert job is not None and job.rule == "FREQ=MONTHLY;BYMONTHDAY=1"
    # 1 January 08:00 in Shanghai is 00:00 UTC the same day.
    assert job.next_run_at == datetime(2027, 1, 1, 0, 0, tzinfo=UTC)
    # A run at 16:30 UTC on 30 November is already 00:30 on 1 December in Shanghai.
    at = datetime(2026, 11, 30, 16, 30, tzinfo=UTC)
    async with db.write() as session:
        await dues.fire_reminder(session, settings, Firing(job.id, org_id, {}, at, at, None))
        await session.commit()
    async with db.read() as session:
        texts = (await session.scalars(select(Delivery.text).order_by(Delivery.id))).all()
    assert len(texts) == 4 and all("2026年12月" in text for text in texts)
    assert any("12.35 元" in text for text in texts)
    # Turning it off removes the job; starting again with it on brings back one.
    off = parse_config({"dues": {"remind_day": 0}}, env={})
    async with db.write() as session:
        await dues.ensure_job(session, org_id, off, now=NOW)
    for _ in range(2):
        async with db.write() as session:
            await dues.ensure_job(session, org_id, config, now=NOW)
    async with db.read() as session:
        active = await session.scalar(
            select(func.count(Job.id)).where(Job.kind == dues.JOB_REMIND, Job.active.is_(True))
        )
    assert active == 1


async def test_reported_then_confirmed_and_reminders_skip_those_who_reported(
    db: Database, org: OrgBuilder, settings: DuesSettings, org_id: int
) -> None:
    secretary, a, _, _ = await branch(db, org, settings)
    first = await report(db, settings, a)
    assert (first.status, first.amount, first.already) == ("reported", 10, False)
    again = await report(db, settings, a)
    assert again.already and again.status == "reported"
    async with db.read() as session:
        view = await dues.month_view(session, settings, secretary.actor(), date(2026, 12, 1))
    assert view.count("reported") == 1 and view.count("confirmed") == 0
    assert view.count("outstanding") == 3 and view.total("outstanding") == 8000 + 20 + 1235
    (payment_id, name, cents) = next(g.reported for g in view.groups if g.reported)[0]
    assert (name, cents) == ("张三", 10)
    async with db.write() as session:
        done = await dues.confirm_one(session, settings, secretary.actor(), payment_id, now=NOW)
    assert done.names == ["张三"] and done.total == 10
    async with db.write() as session:
        twice = await dues.confirm_one(session, settings, secretary.actor(), payment_id, now=NOW)
    assert twice.names == [] and twice.already == ["张三"]
    assert (await report(db, settings, a)).status == "confirmed"
    # The monthly reminder goes to those who have neither reported nor been confirmed.
    async with db.write() as session:
        await dues.fire_reminder(session, settings, Firing(0, org_id, {}, NOW, NOW, None))
        await session.commit()
    async with db.read() as session:
        reminded = set(
            (
                await session.scalars(
                    select(Member.name)
                    .join(Delivery, Delivery.member_id == Member.id)
                    .where(Delivery.text.contains("党费提醒"))
                )
            ).all()
        )
    assert reminded == {"书记", "李四", "王五"}


async def test_nobody_confirms_for_a_branch_they_do_not_manage(
    db: Database, org: OrgBuilder, settings: DuesSettings
) -> None:
    _, a, b, _ = await branch(db, org, settings)
    other = await org.member("外书记", telegram_id=20, role=Role.SECRETARY, branch="第二支部")
    await report(db, settings, a)
    async with db.read() as session:
        payment_id = await session.scalar(select(DuesPayment.id))
    assert payment_id is not None
    for who in (b, other):
        async with db.write() as session:
            with pytest.raises(Denied):
                await dues.confirm_one(session, settings, who.actor(), payment_id, now=NOW)
    # Another branch's secretary cannot press "confirm all" for ours.
    assert a.branch_id is not None
    async with db.write() as session:
        with pytest.raises(Denied):
            await dues.confirm_all(
                session, settings, other.actor(), DECEMBER, a.branch_id, payment_id, now=NOW
            )
    async with db.read() as session:
        status = await session.scalar(select(DuesPayment.status))
    assert status == "reported"
    # The report button carries a month, never a member; a forged month is refused.
    for forged in (203001, 202613, 7):
        with pytest.raises(Denied):
            await report(db, settings, b, forged)


async def test_confirm_all_and_exact_quarter_totals(
    db: Database, org: OrgBuilder, settings: DuesSettings
) -> None:
    secretary, a, b, c = await branch(db, org, settings)
    await asyncio.gather(*[report(db, settings, who) for who in (a, b, c, a, b)])
    async with db.read() as session:
        assert await session.scalar(select(func.count(DuesPayment.id))) == 3
    async with db.read() as session:
        view = await dues.month_view(session, settings, secretary.actor(), date(2026, 12, 1))
    ((branch_id, ids),) = view.reported_by_branch().items()
    async with db.write() as session:
        done = await dues.confirm_all(
            session, settings, secretary.actor(), DECEMBER, branch_id, max(ids), now=NOW
        )
    assert sorted(done.names) == ["张三", "李四", "王五"] and done.total == 10 + 20 + 1235
    async with db.read() as session:
        totals = await dues.quarter_totals(
            session,
            settings,
            secretary.actor(),
            [date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1)],
        )
    (row,) = totals
    assert row.name == "第一支部" and row.confirmed == 1265
    assert row.months[2] == (date(2026, 12, 1), 1265, 0, 1)
    assert money.amount_text(row.confirmed) == "12.65"


async def test_a_member_without_an_amount_cannot_report(
    db: Database, org: OrgBuilder, settings: DuesSettings
) -> None:
    await branch(db, org, settings)
    newcomer = await org.member("新同志", telegram_id=30)
    with pytest.raises(Invalid) as refused:
        await report(db, settings, newcomer)
    assert refused.value.key == "dues.no_amount"


def test_the_roster_csv_reads_a_dues_column() -> None:
    parsed = roster_csv.parse_roster(
        "姓名,支部,党费\n张三,第一支部,50\n李四,第一支部,\n王五,第一支部,12.345\n"
    )
    assert parsed.has_dues
    assert [(r.name, r.dues_cents) for r in parsed.rows] == [("张三", 5000), ("李四", None)]
    assert [(e.line, e.reason) for e in parsed.errors] == [(4, "bad_dues")]


async def test_confirm_all_takes_one_branch_and_only_what_was_listed(
    db: Database, org: OrgBuilder, settings: DuesSettings
) -> None:
    _secretary, a, b, _c = await branch(db, org, settings)
    admin = await org.member("主任", telegram_id=99, role=Role.ADMIN, branch=None)
    elsewhere = await org.member("外党员", telegram_id=40, branch="第二支部")
    async with db.write() as session:
        await dues.set_amount(session, settings, admin.actor(), "外党员", 3000)
    for who in (a, elsewhere):
        await report(db, settings, who)
    async with db.read() as session:
        view = await dues.month_view(
            session, settings, admin.actor(), date(2026, 12, 1), "#第一支部"
        )
    ((branch_id, ids),) = view.reported_by_branch().items()
    # Someone reports after the view was drawn: not part of what the admin saw.
    await report(db, settings, b)
    async with db.write() as session:
        done = await dues.confirm_all(
            session, settings, admin.actor(), DECEMBER, branch_id, max(ids), now=NOW
        )
    assert done.names == ["张三"]
    async with db.read() as session:
        statuses = dict(
            (
                await session.execute(
                    select(Member.name, DuesPayment.status).join(
                        DuesPayment, DuesPayment.member_id == Member.id
                    )
                )
            ).all()
        )
    assert statuses == {"张三": "confirmed", "李四": "reported", "外党员": "reported"}


async def test_paid_dues_stay_with_the_branch_they_were_paid_in(
    db: Database, org: OrgBuilder, settings: DuesSettings
) -> None:
    secretary, a, _, _ = await branch(db, org, settings)
    await report(db, settings, a)
    async with db.read() as session:
        payment_id = await session.scalar(select(DuesPayment.id))
    assert payment_id is not None
    async with db.write() as session:
        await dues.confirm_one(session, settings, secretary.actor(), payment_id, now=NOW)
    # 张三 leaves the roster: what they paid still counts for the quarter.
    async with db.write() as session:
        member = await session.get(Member, a.member_id)
        assert member is not None
        member.active = False
        await session.commit()
    async with db.read() as session:
        (row,) = await dues.quarter_totals(
            session, settings, secretary.actor(), [date(2026, 12, 1)]
        )
        view = await dues.month_view(session, settings, secretary.actor(), date(2026, 12, 1))
    assert row.confirmed == 10 and view.count("confirmed") == 1


async def test_only_recent_months_can_be_reported(
    db: Database, org: OrgBuilder, settings: DuesSettings
) -> None:
    _, a, _, _ = await branch(db, org, settings)
    for old in (200001, 202512):
        with pytest.raises(Denied):
            await report(db, settings, a, old)
    assert (await report(db, settings, a, 202601)).status == "reported"
