"""The volunteer service without Telegram: capacity under concurrency, the waitlist and its
offers, deadlines, check-in and check-out, hours with the cap and corrections, no-shows."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.config import (
    ConfigError,
    DeliveryConfig,
    FollowupConfig,
    MeetingsConfig,
    VolunteersConfig,
    parse_config,
)
from bot.delivery import QuietHours
from bot.errors import Denied, DomainError, Invalid
from bot.scheduler import Firing
from bot.services import checkin, volunteer_checkin, volunteer_hours, volunteers
from bot.services import checkin_codes as codes
from bot.services.audience import Audience
from bot.services.items import PushSettings
from bot.services.meetings import MeetingSettings
from bot.services.volunteers import ActivityDraft, VolunteerSettings
from storage.db import Database
from storage.models import Activity, AuditEntry, Delivery, Job, Role, SignUp
from tests.conftest import OrgBuilder, Person

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=TZ)
START = datetime(2026, 12, 5, 9, 0, tzinfo=TZ)
END = datetime(2026, 12, 5, 11, 30, tzinfo=TZ)


def push(org_id: int) -> PushSettings:
    return PushSettings(
        org_id, "zh", TZ, QuietHours.from_config(DeliveryConfig(), TZ), FollowupConfig()
    )


@pytest.fixture
def settings(org_id: int) -> VolunteerSettings:
    return VolunteerSettings(push(org_id), VolunteersConfig(), 20)


async def people(org: OrgBuilder, count: int) -> tuple[Person, list[Person]]:
    secretary = await org.member("书记", telegram_id=10, role=Role.SECRETARY)
    members = [await org.member(f"队员{i:02d}", telegram_id=100 + i) for i in range(count)]
    return secretary, members


async def create(
    db: Database,
    settings: VolunteerSettings,
    secretary: Person,
    capacity: int,
    *,
    deadline: datetime | None = None,
) -> int:
    assert secretary.branch_id is not None
    async with db.write() as session:
        done = await volunteers.create_activity(
            session,
            settings,
            secretary.actor(),
            ActivityDraft(
                "社区环境整治",
                START,
                END,
                "幸福里社区",
                capacity,
                Audience("branch", secretary.branch_id, "第一支部"),
                deadline,
            ),
            now=NOW,
        )
    return done.activity_id


async def sign_up(
    db: Database, settings: VolunteerSettings, who: Person, activity_id: int, at: datetime = NOW
) -> volunteers.SignedUp:
    async with db.write() as session:
        return await volunteers.sign_up(session, settings, who.actor(), activity_id, now=at)


async def cancel(
    db: Database, settings: VolunteerSettings, who: Person, activity_id: int, at: datetime = NOW
) -> volunteers.Cancelled:
    async with db.write() as session:
        return await volunteers.cancel_signup(session, settings, who.actor(), activity_id, now=at)


async def in_turn(
    db: Database, settings: VolunteerSettings, who: list[Person], activity_id: int
) -> None:
    """Sign up one after another, a minute apart: the waitlist's order."""
    for i, person in enumerate(who):
        await sign_up(db, settings, person, activity_id, NOW + timedelta(minutes=i))


async def answer(
    db: Database,
    settings: VolunteerSettings,
    who: Person,
    activity_id: int,
    accept: bool,
    at: datetime,
) -> volunteers.OfferAnswered:
    async with db.write() as session:
        return await volunteers.answer_offer(
            session, settings, who.actor(), activity_id, accept, now=at
        )


async def expire(db: Database, settings: VolunteerSettings, job: Job, at: datetime) -> None:
    async with db.write() as session:
        await volunteers.fire_offer_expiry(session, settings, firing(job, at))
        await session.commit()


async def statuses(db: Database, activity_id: int) -> dict[int, str]:
    async with db.read() as session:
        rows = await session.execute(
            select(SignUp.member_id, SignUp.status).where(SignUp.activity_id == activity_id)
        )
        return {member_id: status for member_id, status in rows}


async def offer_jobs(db: Database) -> list[Job]:
    async with db.read() as session:
        return list(
            (
                await session.scalars(
                    select(Job).where(Job.kind == volunteers.JOB_OFFER).order_by(Job.id)
                )
            ).all()
        )


def firing(job: Job, at: datetime) -> Firing:
    return Firing(job.id, job.organisation_id, json.loads(job.payload), at, at, None)


async def test_fifty_at_once_for_ten_places_fill_exactly_ten(
    db: Database, org: OrgBuilder, settings: VolunteerSettings
) -> None:
    secretary, members = await people(org, 50)
    activity_id = await create(db, settings, secretary, 10)
    results = await asyncio.gather(*[sign_up(db, settings, m, activity_id) for m in members])
    confirmed = [r for r in results if r.status == "confirmed"]
    waiting = [r for r in results if r.status == "waiting"]
    assert len(confirmed) == 10 and len(waiting) == 40
    # Every waiting member was told a different place in the queue, 1 to 40.
    assert sorted(r.position for r in waiting) == list(range(1, 41))
    stored = await statuses(db, activity_id)
    assert list(stored.values()).count("confirmed") == 10
    assert list(stored.values()).count("waiting") == 40


async def test_pressing_again_changes_nothing(
    db: Database, org: OrgBuilder, settings: VolunteerSettings
) -> None:
    secretary, (a, b) = await people(org, 2)
    activity_id = await create(db, settings, secretary, 1)
    first = await sign_up(db, settings, a, activity_id)
    again = await sign_up(db, settings, a, activity_id, NOW + timedelta(minutes=1))
    assert (first.status, first.already) == ("confirmed", False)
    assert (again.status, again.already) == ("confirmed", True)
    waiting = await sign_up(db, settings, b, activity_id)
    assert (waiting.status, waiting.position) == ("waiting", 1)
    assert (await sign_up(db, settings, b, activity_id)).position == 1
    # Two presses at the same moment by one member: one row, one place.
    results = await asyncio.gather(*[sign_up(db, settings, b, activity_id) for _ in range(5)])
    assert {r.status for r in results} == {"waiting"}
    async with db.read() as session:
        assert await session.scalar(select(func.count(SignUp.id))) == 2


async def test_a_member_outside_the_audience_cannot_sign_up(
    db: Database, org: OrgBuilder, settings: VolunteerSettings
) -> None:
    secretary, _ = await people(org, 0)
    outsider = await org.member("外支部", telegram_id=5, branch="第二支部")
    activity_id = await create(db, settings, secretary, 3)
    with pytest.raises(Denied):
        await sign_up(db, settings, outsider, activity_id)
    with pytest.raises(DomainError) as unknown:
        await sign_up(db, settings, outsider, 999)
    assert unknown.value.key == "activity.unknown"
    assert await statuses(db, activity_id) == {}


async def test_the_waitlist_is_first_come_and_an_offer_is_confirmed(
    db: Database, org: OrgBuilder, settings: VolunteerSettings
) -> None:
    secretary, (a, b, c, d) = await people(org, 4)
    activity_id = await create(db, settings, secretary, 2)
    await in_turn(db, settings, [a, b, c, d], activity_id)
    assert (await cancel(db, settings, a, activity_id)).had == "confirmed"
    stored = await statuses(db, activity_id)
    # c came before d: c is offered the place, d still waits.
    assert (stored[a.member_id], stored[c.member_id], stored[d.member_id]) == (
        "cancelled",
        "offered",
        "waiting",
    )
    async with db.read() as session:
        offer = await session.scalar(
            select(Delivery).where(Delivery.member_id == c.member_id).order_by(Delivery.id.desc())
        )
    assert offer is not None and "轮到您了" in offer.text
    assert offer.reply_markup is not None and f"va:ok:{activity_id}" in offer.reply_markup
    # The offered place is held: a newcomer joins the waitlist behind d.
    late = await org.member("后来者", telegram_id=50)
    assert (
        await sign_up(db, settings, late, activity_id, NOW + timedelta(minutes=9))
    ).position == 2
    answered = await answer(db, settings, c, activity_id, True, NOW + timedelta(hours=1))
    assert answered.status == "confirmed"
    assert (await statuses(db, activity_id))[c.member_id] == "confirmed"
    # The job for that offer now finds it answered and does nothing.
    (job,) = await offer_jobs(db)
    await expire(db, settings, job, NOW + timedelta(hours=12))
    assert (await statuses(db, activity_id))[d.member_id] == "waiting"


async def test_an_unanswered_offer_passes_to_the_next(
    db: Database, org: OrgBuilder, settings: VolunteerSettings
) -> None:
    secretary, (a, b, c) = await people(org, 3)
    activity_id = await create(db, settings, secretary, 1)
    await in_turn(db, settings, [a, b, c], activity_id)
    await cancel(db, settings, a, activity_id)
    (job,) = await offer_jobs(db)
    # Offered for the configured 12 hours.
    assert job.next_run_at == NOW + timedelta(hours=12)
    await expire(db, settings, job, NOW + timedelta(hours=12))
    stored = await statuses(db, activity_id)
    assert (stored[b.member_id], stored[c.member_id]) == ("expired", "offered")
    async with db.read() as session:
        told = (
            await session.scalars(select(Delivery.text).where(Delivery.member_id == b.member_id))
        ).all()
    assert any("已顺延" in text for text in told)
    # b answers too late: refused, and nothing changes for c.
    with pytest.raises(Invalid) as late:
        await answer(db, settings, b, activity_id, True, NOW + timedelta(hours=13))
    assert late.value.key == "activity.no_offer"
    assert (await statuses(db, activity_id))[c.member_id] == "offered"


async def test_answering_after_the_offer_ran_out_passes_it_on_at_once(
    db: Database, org: OrgBuilder, settings: VolunteerSettings
) -> None:
    secretary, (a, b, c) = await people(org, 3)
    activity_id = await create(db, settings, secretary, 1)
    await in_turn(db, settings, [a, b, c], activity_id)
    await cancel(db, settings, a, activity_id)
    # The expiry job has not run yet (the bot was busy); b presses 「确认参加」 too late.
    with pytest.raises(Invalid) as late:
        await answer(db, settings, b, activity_id, True, NOW + timedelta(hours=12))
    assert late.value.key == "activity.offer_expired"
    stored = await statuses(db, activity_id)
    assert (stored[b.member_id], stored[c.member_id]) == ("expired", "offered")


async def test_declining_offers_the_place_to_the_next(
    db: Database, org: OrgBuilder, settings: VolunteerSettings
) -> None:
    secretary, (a, b, c) = await people(org, 3)
    activity_id = await create(db, settings, secretary, 1)
    await in_turn(db, settings, [a, b, c], activity_id)
    await cancel(db, settings, a, activity_id)
    answered = await answer(db, settings, b, activity_id, False, NOW)
    assert answered.status == "declined"
    stored = await statuses(db, activity_id)
    assert (stored[b.member_id], stored[c.member_id]) == ("declined", "offered")


async def test_an_offer_never_outlasts_the_start(
    db: Database, org: OrgBuilder, settings: VolunteerSettings
) -> None:
    secretary, (a, b) = await people(org, 2)
    activity_id = await create(db, settings, secretary, 1)
    await sign_up(db, settings, a, activity_id)
    await sign_up(db, settings, b, activity_id)
    await cancel(db, settings, a, activity_id, START - timedelta(hours=2))
    (job,) = await offer_jobs(db)
    assert job.next_run_at == START


async def test_an_offer_that_would_run_out_at_night_runs_until_the_morning(
    db: Database, org: OrgBuilder, settings: VolunteerSettings
) -> None:
    secretary, (a, b) = await people(org, 2)
    activity_id = await create(db, settings, secretary, 1)
    await in_turn(db, settings, [a, b], activity_id)
    # 12 hours from 15:01 would be 03:01: nobody answers then, so it runs until 07:30.
    await cancel(db, settings, a, activity_id, datetime(2026, 12, 2, 15, 1, tzinfo=TZ))
    (job,) = await offer_jobs(db)
    assert job.next_run_at == datetime(2026, 12, 3, 7, 30, tzinfo=TZ)
    async with db.read() as session:
        offer = await session.scalar(
            select(Delivery).where(Delivery.member_id == b.member_id).order_by(Delivery.id.desc())
        )
    assert offer is not None and "请在 12-03 07:30 前确认" in offer.text


async def test_an_offer_for_a_start_at_night_runs_out_the_evening_before(
    db: Database, org: OrgBuilder, settings: VolunteerSettings
) -> None:
    dawn = datetime(2026, 12, 5, 6, 0, tzinfo=TZ)
    # Made in the afternoon: until 22:00, not 03:00 nor the 06:00 start.
    afternoon = datetime(2026, 12, 4, 15, 0, tzinfo=TZ)
    assert volunteers.offer_expiry(settings, dawn, afternoon) == datetime(
        2026, 12, 4, 22, 0, tzinfo=TZ
    )
    # Made at 21:30, the evening would leave half an hour: until the start.
    late = datetime(2026, 12, 4, 21, 30, tzinfo=TZ)
    assert volunteers.offer_expiry(settings, dawn, late) == dawn
    # Made that same night: the start is all there is.
    night = datetime(2026, 12, 5, 1, 0, tzinfo=TZ)
    assert volunteers.offer_expiry(settings, dawn, night) == dawn


def test_an_offer_never_runs_out_between_22_00_and_07_30(settings: VolunteerSettings) -> None:
    """Made at any quarter hour of the four days before a 09:00 start."""
    quiet = settings.push.quiet
    at = datetime(2026, 12, 1, 0, 0, tzinfo=TZ)
    while at < START:
        expires = volunteers.offer_expiry(settings, START, at)
        assert at < expires <= START, at
        assert expires - at >= timedelta(hours=settings.cfg.offer_hours) or expires == START, at
        assert not quiet.contains(expires), (at, expires)
        at += timedelta(minutes=15)


async def test_no_sign_up_after_the_deadline(
    db: Database, org: OrgBuilder, settings: VolunteerSettings
) -> None:
    secretary, (a, b) = await people(org, 2)
    deadline = datetime(2026, 12, 4, 18, 0, tzinfo=TZ)
    activity_id = await create(db, settings, secretary, 5, deadline=deadline)
    signed = await sign_up(db, settings, a, activity_id, deadline - timedelta(seconds=1))
    assert signed.status == "confirmed"
    with pytest.raises(Invalid) as refused:
        await sign_up(db, settings, b, activity_id, deadline)
    assert refused.value.key == "activity.deadline_passed"
    assert b.member_id not in await statuses(db, activity_id)


async def test_no_cancelling_after_the_start(
    db: Database, org: OrgBuilder, settings: VolunteerSettings
) -> None:
    secretary, (a,) = await people(org, 1)
    activity_id = await create(db, settings, secretary, 5)
    await sign_up(db, settings, a, activity_id)
    with pytest.raises(Invalid) as refused:
        await cancel(db, settings, a, activity_id, START)
    assert refused.value.key == "activity.started"
    assert (await statuses(db, activity_id))[a.member_id] == "confirmed"
    # Cancelling what one never signed up for is answered, not an error.
    stranger = await org.member("路人", telegram_id=60)
    assert (await cancel(db, settings, stranger, activity_id)).had is None


def test_drafts_are_checked() -> None:
    audience = Audience("branch", 1, "")

    def draft(**kw: object) -> ActivityDraft:
        base: dict[str, object] = {
            "title": "整治",
            "starts_at": START,
            "ends_at": END,
            "place": "社区",
            "capacity": 5,
            "audience": audience,
        }
        base.update(kw)
        return ActivityDraft(**base)  # type: ignore[arg-type]

    for bad, key in (
        (draft(capacity=0), "activity.bad_capacity"),
        (draft(capacity=1001), "activity.bad_capacity"),
        (draft(ends_at=START), "activity.end_before_start"),
        (draft(starts_at=NOW - timedelta(hours=1)), "activity.in_past"),
        (draft(signup_deadline=START + timedelta(minutes=1)), "activity.bad_deadline"),
        (draft(signup_deadline=NOW), "activity.bad_deadline"),
        (draft(place=" "), "activity.no_place"),
        (draft(title=""), "activity.no_title"),
    ):
        with pytest.raises(Invalid) as refused:
            volunteers.validate(bad, NOW)
        assert refused.value.key == key
    volunteers.validate(draft(signup_deadline=START), NOW)


async def test_jobs_are_planned_for_reminders_and_the_close(
    db: Database, org: OrgBuilder, settings: VolunteerSettings
) -> None:
    secretary, _ = await people(org, 0)
    await create(db, settings, secretary, 5)
    async with db.read() as session:
        jobs = (await session.execute(select(Job.kind, Job.next_run_at))).all()
    assert sorted((kind, at and at.astimezone(TZ)) for kind, at in jobs) == [
        (volunteers.JOB_CLOSE, END + timedelta(minutes=60)),
        (volunteers.JOB_REMINDER, START - timedelta(hours=24)),
        (volunteers.JOB_REMINDER, START - timedelta(hours=2)),
    ]


async def test_reminders_go_to_those_signed_up_only(
    db: Database, org: OrgBuilder, settings: VolunteerSettings
) -> None:
    secretary, (a, b) = await people(org, 2)
    activity_id = await create(db, settings, secretary, 1)
    await sign_up(db, settings, a, activity_id)
    await sign_up(db, settings, b, activity_id)
    at = START - timedelta(hours=2)
    payload = {"activity_id": activity_id, "hours": 2}
    async with db.write() as session:
        await volunteers.fire_reminder(
            session, settings, Firing(0, settings.org_id, payload, at, at, None)
        )
        await session.commit()
    async with db.read() as session:
        reminded = (
            await session.scalars(
                select(Delivery.member_id).where(Delivery.text.contains("小时后开始"))
            )
        ).all()
    assert reminded == [a.member_id]


# ---------------------------------------------------------------- check-in, check-out, hours


def meeting_settings(settings: VolunteerSettings) -> MeetingSettings:
    return MeetingSettings(settings.push, MeetingsConfig())


async def by_code(
    db: Database, settings: VolunteerSettings, who: Person, code: str, at: datetime
) -> volunteer_checkin.VolunteerCheck:
    async with db.write() as session:
        result = await checkin.checkin_with_code(
            session, meeting_settings(settings), settings, who.actor(), code, now=at
        )
    assert isinstance(result, volunteer_checkin.VolunteerCheck)
    return result


async def activity_row(db: Database, activity_id: int) -> Activity:
    async with db.read() as session:
        activity = await session.get(Activity, activity_id)
    assert activity is not None
    return activity


async def test_hours_run_from_check_in_to_check_out_within_the_window(
    db: Database, org: OrgBuilder, settings: VolunteerSettings
) -> None:
    secretary, (early, late) = await people(org, 2)
    activity_id = await create(db, settings, secretary, 5)
    await sign_up(db, settings, early, activity_id)
    await sign_up(db, settings, late, activity_id)
    activity = await activity_row(db, activity_id)

    def code(direction: str, at: datetime) -> str:
        return volunteer_checkin.code_for(activity, direction, codes.counter(at))

    # Checked in 20 minutes before the start, out 30 minutes after the end: capped at 2.5 h.
    t_in = START - timedelta(minutes=20)
    assert not (await by_code(db, settings, early, code("in", t_in), t_in)).late
    t_out = END + timedelta(minutes=30)
    out = await by_code(db, settings, early, code("out", t_out), t_out)
    assert (out.direction, out.minutes) == ("out", 150)
    again = await by_code(db, settings, early, code("out", t_out), t_out)
    assert again.already and again.minutes == 150
    # The other came 45 minutes late and left 30 minutes early.
    t_in = START + timedelta(minutes=45)
    assert (await by_code(db, settings, late, code("in", t_in), t_in)).late
    t_out = END - timedelta(minutes=30)
    assert (await by_code(db, settings, late, code("out", t_out), t_out)).minutes == 75


async def test_check_out_needs_a_check_in_and_check_in_closes_at_the_end(
    db: Database, org: OrgBuilder, settings: VolunteerSettings
) -> None:
    secretary, (a, b) = await people(org, 2)
    activity_id = await create(db, settings, secretary, 5)
    await sign_up(db, settings, a, activity_id)
    activity = await activity_row(db, activity_id)
    at = START + timedelta(minutes=10)
    with pytest.raises(Invalid) as refused:
        await by_code(
            db, settings, a, volunteer_checkin.code_for(activity, "out", codes.counter(at)), at
        )
    assert refused.value.key == "activity.not_checked_in"
    at = END + timedelta(minutes=5)
    with pytest.raises(Invalid) as over:
        await by_code(
            db, settings, a, volunteer_checkin.code_for(activity, "in", codes.counter(at)), at
        )
    assert over.value.key == "activity.checkin_over"
    # b never signed up: the right code still does not let them in.
    at = START
    with pytest.raises(Denied) as denied:
        await by_code(
            db, settings, b, volunteer_checkin.code_for(activity, "in", codes.counter(at)), at
        )
    assert denied.value.key == "activity.not_signed_up"
    # Before the window, the member hears when it opens.
    at = START - timedelta(minutes=31)
    with pytest.raises(Invalid) as early:
        await by_code(db, settings, a, "123456", at)
    assert early.value.key == "checkin.outside_window"


async def test_a_stale_code_is_a_wrong_code(
    db: Database, org: OrgBuilder, settings: VolunteerSettings
) -> None:
    secretary, (a,) = await people(org, 1)
    activity_id = await create(db, settings, secretary, 5)
    await sign_up(db, settings, a, activity_id)
    activity = await activity_row(db, activity_id)
    at = START + timedelta(seconds=25)
    stale = volunteer_checkin.code_for(activity, "in", codes.counter(at) - 1)
    with pytest.raises(Invalid) as refused:
        await by_code(db, settings, a, stale, at)
    assert refused.value.key == "checkin.wrong_code"
    async with db.read() as session:
        failures = await session.scalar(
            select(func.count(AuditEntry.id)).where(AuditEntry.action == "meeting.checkin_failed")
        )
    assert failures == 1
    # Within the grace period the previous minute's code still works.
    assert not (await by_code(db, settings, a, stale, START + timedelta(seconds=19))).already


async def test_qr_links_check_in_and_out_and_a_made_up_one_reveals_nothing(
    db: Database, org: OrgBuilder, settings: VolunteerSettings
) -> None:
    secretary, (a,) = await people(org, 1)
    activity_id = await create(db, settings, secretary, 5)
    await sign_up(db, settings, a, activity_id)
    activity = await activity_row(db, activity_id)

    async def scan(param: str, at: datetime) -> volunteer_checkin.VolunteerCheck:
        async with db.write() as session:
            return await volunteer_checkin.check_with_qr(
                session, settings, a.actor(), param, now=at
            )

    at = START
    assert volunteer_checkin.is_checkin_param(
        param := volunteer_checkin.qr_param_for(activity, "in", codes.counter(at))
    )
    assert (await scan(param, at)).direction == "in"
    at = END
    out = await scan(volunteer_checkin.qr_param_for(activity, "out", codes.counter(at)), at)
    assert (out.direction, out.minutes) == ("out", 150)
    for forged in (f"vi_{activity_id}_000000000000", "vo_999_abcdefabcdef", "vi_x"):
        with pytest.raises(Invalid) as refused:
            await scan(forged, at)
        assert refused.value.key == "checkin.stale_qr" and not refused.value.params


async def close(db: Database, settings: VolunteerSettings, activity_id: int) -> bool:
    async with db.write() as session:
        done = await volunteer_hours.close_activity(
            session, settings, activity_id, now=END + timedelta(minutes=60)
        )
        await session.commit()
    return done


async def test_the_close_counts_no_shows_and_a_missing_check_out_to_the_end(
    db: Database, org: OrgBuilder, settings: VolunteerSettings
) -> None:
    secretary, (came, forgot, absent, waiting) = await people(org, 4)
    activity_id = await create(db, settings, secretary, 3)
    for who in (came, forgot, absent, waiting):
        await sign_up(db, settings, who, activity_id)
    async with db.write() as session:
        marked = await volunteer_checkin.mark(
            session,
            settings,
            secretary.actor(),
            activity_id,
            "in",
            ["队员00", "队员01", "无名"],
            now=START,
        )
    assert (marked.marked, marked.refused) == (["队员00", "队员01"], ["无名"])
    async with db.write() as session:
        out = await volunteer_checkin.mark(
            session,
            settings,
            secretary.actor(),
            activity_id,
            "out",
            ["队员00", "队员02"],
            now=START + timedelta(hours=1),
        )
    # 队员02 never checked in, so cannot be checked out.
    assert (out.marked, out.refused) == (["队员00"], ["队员02"])
    results = await asyncio.gather(*[close(db, settings, activity_id) for _ in range(3)])
    assert sorted(results) == [False, False, True]
    async with db.read() as session:
        rows = {
            s.member_id: s
            for s in (
                await session.scalars(select(SignUp).where(SignUp.activity_id == activity_id))
            ).all()
        }
    assert (rows[came.member_id].outcome, rows[came.member_id].minutes) == ("served", 60)
    assert rows[forgot.member_id].checkout_method == "auto"
    assert (rows[forgot.member_id].outcome, rows[forgot.member_id].minutes) == ("served", 150)
    assert rows[absent.member_id].outcome == "no_show"
    # Still on the waitlist at the close: neither served nor a no-show.
    assert rows[waiting.member_id].outcome is None
    async with db.read() as session:
        reports = (
            await session.scalars(
                select(Delivery.text).where(Delivery.member_id == secretary.member_id)
            )
        ).all()
    assert "服务 2 人，未到 1 人，共 3.5 小时" in reports[-1]


async def test_a_correction_needs_a_reason_and_is_audited(
    db: Database, org: OrgBuilder, settings: VolunteerSettings
) -> None:
    secretary, (came, absent) = await people(org, 2)
    activity_id = await create(db, settings, secretary, 3)
    await sign_up(db, settings, came, activity_id)
    await sign_up(db, settings, absent, activity_id)

    async def adjust(name: str, hours: str, reason: str) -> volunteer_hours.Adjusted:
        async with db.write() as session:
            return await volunteer_hours.adjust_hours(
                session,
                settings,
                secretary.actor(),
                activity_id,
                name,
                volunteer_hours.parse_hours(hours),
                reason,
            )

    with pytest.raises(Invalid) as early:
        await adjust("队员00", "2", "提前布置")
    assert early.value.key == "sethours.not_closed"
    async with db.write() as session:
        await volunteer_checkin.mark(
            session, settings, secretary.actor(), activity_id, "in", ["队员00"], now=START
        )
    await close(db, settings, activity_id)
    with pytest.raises(Invalid) as no_reason:
        await adjust("队员00", "3", " ")
    assert no_reason.value.key == "sethours.no_reason"
    done = await adjust("队员00", "3.25", "提前一小时到场布置")
    assert (done.before, done.after) == (150, 195)
    # A no-show who did come (forgot to check in) gets hours and counts as served.
    assert (await adjust("队员01", "1.5小时", "忘记签到，现场核实")).after == 90
    for bad in ("-1", "25", "abc", "nan"):
        with pytest.raises(Invalid) as refused:
            volunteer_hours.parse_hours(bad)
        assert refused.value.key == "sethours.bad_hours"
    async with db.read() as session:
        entries = (
            await session.scalars(
                select(AuditEntry.details).where(AuditEntry.action == "activity.hours_adjusted")
            )
        ).all()
    assert [json.loads(e)["reason"] for e in entries] == [
        "提前一小时到场布置",
        "忘记签到，现场核实",
    ]
    report_since = datetime(2026, 10, 1, tzinfo=TZ)
    async with db.read() as session:
        report = await volunteer_hours.hours_report(
            session, settings, secretary.actor(), report_since, datetime(2027, 1, 1, tzinfo=TZ)
        )
        mine = await volunteer_hours.my_minutes(
            session, came.actor(), [report_since], END + timedelta(days=1)
        )
    assert [(r.name, r.minutes) for r in report.members] == [("队员00", 195), ("队员01", 90)]
    assert [(r.name, r.minutes, r.activities) for r in report.groups] == [("第一党小组", 285, 2)]
    assert mine == [195]
    with pytest.raises(Denied):
        async with db.read() as session:
            await volunteer_hours.hours_report(
                session, settings, came.actor(), report_since, datetime(2027, 1, 1, tzinfo=TZ)
            )


async def test_cancelling_an_activity_tells_everyone_in_it(
    db: Database, org: OrgBuilder, settings: VolunteerSettings
) -> None:
    secretary, (a, b, c) = await people(org, 3)
    activity_id = await create(db, settings, secretary, 1)
    for who in (a, b):
        await sign_up(db, settings, who, activity_id)
    async with db.write() as session:
        done = await volunteers.cancel_activity(
            session, settings, secretary.actor(), activity_id, "天气原因", now=NOW
        )
    assert done.notified == 2
    with pytest.raises(Invalid) as refused:
        await sign_up(db, settings, c, activity_id)
    assert refused.value.key == "activity.is_cancelled"
    # Its close job then changes nothing.
    assert not await close(db, settings, activity_id)


def test_config_section_is_validated() -> None:
    cfg = parse_config({"volunteers": {"offer_hours": 6, "remind_before_hours": [48]}}, env={})
    assert cfg.volunteers.offer_hours == 6 and cfg.volunteers.remind_before_hours == (48,)
    for section, key in (
        ({"offer_hours": 0}, "volunteers.offer_hours"),
        ({"remind_before_hours": [0]}, "volunteers.remind_before_hours"),
        ({"checkout_after_minutes": -1}, "volunteers.checkout_after_minutes"),
        ({"places": 3}, "volunteers.places"),
    ):
        with pytest.raises(ConfigError) as error:
            parse_config({"volunteers": section}, env={})
        assert error.value.key == key


async def test_an_offer_made_at_night_is_not_held_for_quiet_hours(
    db: Database, org: OrgBuilder, settings: VolunteerSettings
) -> None:
    secretary, (a, b) = await people(org, 2)
    activity_id = await create(db, settings, secretary, 1)
    await in_turn(db, settings, [a, b], activity_id)
    night = datetime(2026, 12, 4, 23, 0, tzinfo=TZ)
    await cancel(db, settings, a, activity_id, night)
    async with db.read() as session:
        offer = await session.scalar(
            select(Delivery).where(Delivery.member_id == b.member_id, Delivery.urgent.is_(True))
        )
    # The place is b's for 10 hours from 23:00 (until the 09:00 start): it goes at once.
    assert offer is not None and "轮到您了" in offer.text
    assert offer.not_before == night


async def test_a_reminder_that_quiet_hours_would_delay_past_the_start_goes_at_once(
    db: Database, org: OrgBuilder, settings: VolunteerSettings
) -> None:
    secretary, (a,) = await people(org, 1)
    assert secretary.branch_id is not None
    async with db.write() as session:
        early = await volunteers.create_activity(
            session,
            settings,
            secretary.actor(),
            ActivityDraft(
                "晨练服务",
                datetime(2026, 12, 5, 7, 0, tzinfo=TZ),
                datetime(2026, 12, 5, 8, 0, tzinfo=TZ),
                "公园",
                3,
                Audience("branch", secretary.branch_id, ""),
            ),
            now=NOW,
        )
    await sign_up(db, settings, a, early.activity_id)
    for hours_before, urgent in ((2, True), (24, False)):
        at = datetime(2026, 12, 5, 7, 0, tzinfo=TZ) - timedelta(hours=hours_before)
        payload = {"activity_id": early.activity_id, "hours": hours_before}
        async with db.write() as session:
            await volunteers.fire_reminder(
                session, settings, Firing(0, settings.org_id, payload, at, at, None)
            )
            await session.commit()
        async with db.read() as session:
            reminder = await session.scalar(
                select(Delivery)
                .where(Delivery.text.contains(f"约 {hours_before} 小时后开始"))
                .order_by(Delivery.id.desc())
            )
        assert reminder is not None and reminder.urgent is urgent, hours_before


async def test_no_cancelling_once_checked_in(
    db: Database, org: OrgBuilder, settings: VolunteerSettings
) -> None:
    secretary, (a, b) = await people(org, 2)
    activity_id = await create(db, settings, secretary, 1)
    await in_turn(db, settings, [a, b], activity_id)
    async with db.write() as session:
        await volunteer_checkin.mark(
            session,
            settings,
            secretary.actor(),
            activity_id,
            "in",
            ["队员00"],
            now=START - timedelta(minutes=20),
        )
    with pytest.raises(Invalid) as refused:
        await cancel(db, settings, a, activity_id, START - timedelta(minutes=10))
    assert refused.value.key == "activity.checked_in"
    stored = await statuses(db, activity_id)
    assert (stored[a.member_id], stored[b.member_id]) == ("confirmed", "waiting")


async def test_a_shared_name_is_never_guessed(
    db: Database, org: OrgBuilder, settings: VolunteerSettings, org_id: int
) -> None:
    admin = await org.member("主任", telegram_id=99, role=Role.ADMIN, branch=None)
    first = await org.member("王伟", telegram_id=1, branch="第一支部")
    second = await org.member("王伟", telegram_id=2, branch="第二支部")
    async with db.write() as session:
        done = await volunteers.create_activity(
            session,
            settings,
            admin.actor(),
            ActivityDraft("全局活动", START, END, "广场", 5, Audience("org", None, "")),
            now=NOW,
        )
    for who in (first, second):
        await sign_up(db, settings, who, done.activity_id)
    async with db.write() as session:
        marked = await volunteer_checkin.mark(
            session, settings, admin.actor(), done.activity_id, "in", ["王伟"], now=START
        )
    assert marked.marked == [] and marked.ambiguous == [
        f"王伟（#{first.member_id}、#{second.member_id}）"
    ]
    async with db.write() as session:
        marked = await volunteer_checkin.mark(
            session,
            settings,
            admin.actor(),
            done.activity_id,
            "in",
            [f"#{second.member_id}"],
            now=START,
        )
    assert marked.marked == [f"#{second.member_id}"]
    async with db.write() as session:
        await volunteer_hours.close_activity(
            session, settings, done.activity_id, now=END + timedelta(hours=1)
        )
        await session.commit()
    async with db.write() as session:
        with pytest.raises(Invalid) as ambiguous:
            await volunteer_hours.adjust_hours(
                session, settings, admin.actor(), done.activity_id, "王伟", 60, "核实"
            )
    assert ambiguous.value.key == "sethours.ambiguous"
    async with db.read() as session:
        report = await volunteer_hours.hours_report(
            session, settings, admin.actor(), NOW, END + timedelta(days=1)
        )
    # The organisation's ranking says which branch each 王伟 and each group belongs to.
    assert [(r.name, r.minutes) for r in report.members] == [("第二支部/王伟", 150)]
    assert [r.name for r in report.groups] == ["第二支部/第一党小组"]
