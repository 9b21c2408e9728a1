"""Time polls (时间征集): slots, ticks under concurrency, the tally, reminders, the meeting made."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.channels.message import button_rows
from bot.config import FollowupConfig, MeetingsConfig
from bot.delivery import QuietHours
from bot.errors import Denied, Invalid
from bot.scheduler import Firing
from bot.services import timepolls
from bot.services.items import PushSettings
from bot.services.meetings import MeetingSettings
from bot.services.timepolls import PollDraft, SlotTally, Tally, status_text
from storage.db import Database
from storage.models import Delivery, Invitation, Job, Meeting, Member, PollVote, Role, TimePoll
from tests.conftest import OrgBuilder, Person

TZ = ZoneInfo("Asia/Shanghai")
# Thursday 2025-11-20, 10:00 in Shanghai.
NOW = datetime(2025, 11, 20, 2, 0, tzinfo=UTC)


def local(month: int, day: int, hour: int, minute: int = 0, year: int = 2025) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TZ).astimezone(UTC)


FRI = local(11, 28, 14, 30)
SAT = local(11, 29, 19, 0)
TUE = local(12, 2, 15, 0)


def make_settings(org_id: int, **cfg: int) -> MeetingSettings:
    push = PushSettings(org_id, "zh", TZ, QuietHours(0, 0, TZ), FollowupConfig())
    return MeetingSettings(push, MeetingsConfig(**cfg))  # type: ignore[arg-type]


@pytest.fixture
def settings(org_id: int) -> MeetingSettings:
    return make_settings(org_id)


async def branch(org: OrgBuilder, members: int = 3) -> tuple[Person, list[Person]]:
    """A secretary and `members` members in 第一支部, and one member of 第二支部."""
    secretary = await org.member("书记", role=Role.SECRETARY, telegram_id=1)
    people = [await org.member(f"党员{n:02d}", telegram_id=100 + n) for n in range(members)]
    await org.member("外支部", branch="第二支部", telegram_id=999)
    return secretary, people


async def create(
    db: Database,
    settings: MeetingSettings,
    who: Person,
    slots: tuple[datetime, ...] = (FRI, SAT, TUE),
    *,
    kind: str | None = "general",
    title: str = "第四季度党员大会",
    ref: str | None = None,
) -> timepolls.Created:
    async with db.write() as session:
        return await timepolls.create_poll(
            session, settings, who.actor(), PollDraft(kind, title, ref, slots), now=NOW
        )


async def slot_ids(db: Database, poll_id: int) -> list[int]:
    async with db.read() as session:
        return [s.id for s in await timepolls._slots(session, poll_id)]


async def toggle(
    db: Database, settings: MeetingSettings, who: Person, slot_id: int
) -> timepolls.Toggled:
    async with db.write() as session:
        return await timepolls.toggle(session, settings, who.actor(), slot_id, now=NOW)


async def tally_of(
    db: Database, settings: MeetingSettings, who: Person, poll_id: int
) -> timepolls.Tally:
    async with db.read() as session:
        return await timepolls.poll_tally(session, settings, who.actor(), poll_id)


async def deliveries(db: Database) -> list[Delivery]:
    async with db.read() as session:
        return list((await session.scalars(select(Delivery).order_by(Delivery.id))).all())


def labels(delivery: Delivery) -> list[str]:
    # The outbox keeps the channel-neutral form (bot.channels.message).
    return [b["label"] for row in button_rows(delivery.reply_markup) for b in row]


# ---------------------------------------------------------------- slots as typed


def test_slots_are_read_in_the_organisations_zone() -> None:
    assert timepolls.parse_slot("2025-11-28 14:30", TZ, NOW) == FRI
    assert timepolls.parse_slot("2025/11/28 14:30", TZ, NOW) == FRI
    assert timepolls.parse_slot("11-28 14:30", TZ, NOW) == FRI
    assert timepolls.parse_slot(" 11/28  14：30 ", TZ, NOW) == FRI
    assert timepolls.parse_slot("12-2 15:00", TZ, NOW) == TUE


def test_a_slot_without_year_is_the_next_such_date() -> None:
    # 11-20 09:00 has passed this morning; 11-20 11:00 has not.
    assert timepolls.parse_slot("11-20 09:00", TZ, NOW) == local(11, 20, 9, year=2026)
    assert timepolls.parse_slot("11-20 11:00", TZ, NOW) == local(11, 20, 11)
    assert timepolls.parse_slot("01-05 09:00", TZ, NOW) == local(1, 5, 9, year=2026)


@pytest.mark.parametrize(
    "text", ["明天下午", "11-28", "11-28 25:00", "13-01 10:00", "02-30 10:00", "11-28 14:3"]
)
def test_unreadable_slots_are_refused(text: str) -> None:
    with pytest.raises(Invalid) as exc:
        timepolls.parse_slot(text, TZ, NOW)
    assert exc.value.key == "poll.bad_slot"


@pytest.mark.parametrize(
    ("slots", "key"),
    [
        ((FRI,), "poll.slot_count"),
        (tuple(FRI + timedelta(days=n) for n in range(9)), "poll.slot_count"),
        ((FRI, SAT, FRI), "poll.slot_duplicate"),
        ((FRI, NOW - timedelta(minutes=1)), "poll.slot_past"),
        ((FRI, NOW), "poll.slot_past"),
    ],
)
async def test_bad_slot_lists_create_nothing(
    db: Database, org: OrgBuilder, settings: MeetingSettings, slots: tuple[datetime, ...], key: str
) -> None:
    secretary, _ = await branch(org)
    with pytest.raises(Invalid) as exc:
        await create(db, settings, secretary, slots)
    assert exc.value.key == key
    async with db.read() as session:
        assert await session.scalar(select(func.count(TimePoll.id))) == 0
        assert await session.scalar(select(func.count(Delivery.id))) == 0


async def test_too_long_a_title_is_refused(
    db: Database, org: OrgBuilder, settings: MeetingSettings
) -> None:
    secretary, _ = await branch(org)
    with pytest.raises(Invalid) as exc:
        await create(db, settings, secretary, title="长" * 101)
    assert exc.value.key == "item.title_too_long"


# ---------------------------------------------------------------- creating


async def test_poll_goes_to_each_reachable_audience_member_with_a_toggle_per_slot(
    db: Database, org: OrgBuilder, settings: MeetingSettings
) -> None:
    secretary, _ = await branch(org, 2)
    unbound = await org.member("未绑定")
    blocked = await org.member("已屏蔽", telegram_id=555)
    async with db.write() as session:
        member = await session.get(Member, blocked.member_id)
        assert member is not None
        member.unreachable_at = NOW
        await session.commit()
    created = await create(db, settings, secretary, (SAT, FRI))
    # The audience is the whole branch; the unbound and the blocked cannot be sent to.
    assert created.sent == 3
    assert created.tally.total == 5 and created.tally.voters == 0
    rows = await deliveries(db)
    assert sorted(d.chat_id for d in rows) == [1, 100, 101]
    first = rows[0]
    assert "第四季度党员大会" in first.text and "支部党员大会" in first.text
    # Sorted by time, labelled in the org's zone with the weekday.
    assert labels(first) == ["⬜ 11-28 周五 14:30", "⬜ 11-29 周六 19:00"]
    ids = await slot_ids(db, created.poll_id)
    assert [row[0]["action"] for row in button_rows(first.reply_markup)] == [
        f"tp:v:{i}" for i in ids
    ]
    async with db.read() as session:
        job = await session.scalar(select(Job).where(Job.kind == timepolls.JOB_REMINDER))
    assert job is not None and job.next_run_at == NOW + timedelta(hours=24)
    assert json.loads(job.payload) == {"poll_id": created.poll_id}
    assert unbound.member_id not in [d.member_id for d in rows]


async def test_no_reminder_is_planned_when_turned_off(
    db: Database, org: OrgBuilder, org_id: int
) -> None:
    secretary, _ = await branch(org)
    await create(db, make_settings(org_id, poll_remind_hours=0), secretary)
    async with db.read() as session:
        assert await session.scalar(select(func.count(Job.id))) == 0


async def test_audience_follows_the_kind(
    db: Database, org: OrgBuilder, settings: MeetingSettings
) -> None:
    secretary, people = await branch(org)
    await org.member("二组", group="第二党小组", telegram_id=300)
    async with db.write() as session:
        member = await session.get(Member, people[0].member_id)
        assert member is not None
        member.committee = True
        await session.commit()
    committee = await create(db, settings, secretary, kind="committee")
    assert committee.tally.total == 2  # the secretary and one committee member
    group = await create(db, settings, secretary, kind="group", ref="#第二党小组")
    assert group.tally.total == 1


async def test_a_group_leader_polls_their_group_by_default(
    db: Database, org: OrgBuilder, settings: MeetingSettings
) -> None:
    _, people = await branch(org)
    leader = await org.member("组长", role=Role.GROUP_LEADER, telegram_id=50)
    created = await create(db, settings, leader, kind=None, title="")
    assert created.title == "党小组会"
    assert created.tally.kind == "group" and created.tally.total == len(people) + 2
    with pytest.raises(Denied):
        await create(db, settings, leader, kind="general")


# ---------------------------------------------------------------- ticking


async def test_toggle_ticks_and_unticks_and_shows_the_members_choice(
    db: Database, org: OrgBuilder, settings: MeetingSettings
) -> None:
    secretary, people = await branch(org)
    created = await create(db, settings, secretary)
    fri, sat, _ = await slot_ids(db, created.poll_id)
    on = await toggle(db, settings, people[0], fri)
    assert on.ticked and on.label == "11-28 周五 14:30"
    await toggle(db, settings, people[0], sat)
    result = await toggle(db, settings, people[0], fri)
    assert not result.ticked
    texts = [b["text"] for row in result.markup["inline_keyboard"] for b in row]
    assert texts == ["⬜ 11-28 周五 14:30", "✅ 11-29 周六 19:00", "⬜ 12-02 周二 15:00"]
    assert [s.names for s in result.tally.slots] == [(), ("党员00",), ()]
    assert result.tally.voters == 1


async def test_a_member_outside_the_audience_cannot_tick(
    db: Database, org: OrgBuilder, settings: MeetingSettings
) -> None:
    secretary, _ = await branch(org)
    outsider = await org.member("另一支部", branch="第二支部", telegram_id=700)
    created = await create(db, settings, secretary)
    fri = (await slot_ids(db, created.poll_id))[0]
    with pytest.raises(Denied) as exc:
        await toggle(db, settings, outsider, fri)
    assert exc.value.key == "not_your_button"
    async with db.read() as session:
        assert await session.scalar(select(func.count(PollVote.id))) == 0


async def test_many_members_toggling_at_once_give_exact_counts(
    db: Database, org: OrgBuilder, settings: MeetingSettings
) -> None:
    secretary, people = await branch(org, 32)
    created = await create(db, settings, secretary)
    fri, sat, tue = await slot_ids(db, created.poll_id)
    # In one burst: everyone ticks Friday, the even ones Saturday too, the first eight Tuesday.
    presses = [toggle(db, settings, p, fri) for p in people]
    presses += [toggle(db, settings, p, sat) for p in people[::2]]
    presses += [toggle(db, settings, p, tue) for p in people[:8]]
    await asyncio.gather(*presses)
    tally = await tally_of(db, settings, secretary, created.poll_id)
    assert [s.count for s in tally.slots] == [32, 16, 8]
    assert tally.voters == 32 and tally.total == 33
    # A second burst: the first ten untick Friday while the odd ones tick Saturday.
    await asyncio.gather(
        *[toggle(db, settings, p, fri) for p in people[:10]],
        *[toggle(db, settings, p, sat) for p in people[1::2]],
    )
    tally = await tally_of(db, settings, secretary, created.poll_id)
    assert [s.count for s in tally.slots] == [22, 32, 8]
    best = tally.best
    assert best is not None and best.slot_id == sat and tally.majority(best)
    async with db.read() as session:
        rows = (await session.execute(select(PollVote.slot_id, PollVote.member_id))).all()
    assert len(rows) == len(set(rows)) == 62


async def test_one_member_pressing_twice_at_once_never_fails(
    db: Database, org: OrgBuilder, settings: MeetingSettings
) -> None:
    secretary, people = await branch(org)
    created = await create(db, settings, secretary)
    fri = (await slot_ids(db, created.poll_id))[0]
    results = await asyncio.gather(*[toggle(db, settings, people[0], fri) for _ in range(6)])
    assert len(results) == 6
    async with db.read() as session:
        votes = await session.scalar(select(func.count(PollVote.id)))
    # Serialised presses cancel out in pairs; racing inserts keep one tick. Never two rows.
    assert votes in (0, 1)


# ---------------------------------------------------------------- the organiser's tally


async def test_tally_names_the_best_slot_and_whether_more_than_half_can_come(
    db: Database, org: OrgBuilder, settings: MeetingSettings
) -> None:
    secretary, people = await branch(org, 4)  # an audience of 5
    created = await create(db, settings, secretary)
    fri, sat, tue = await slot_ids(db, created.poll_id)
    text = timepolls.status_text(await tally_of(db, settings, secretary, created.poll_id), TZ)
    assert "已投票 0/5 人" in text and "还没有人勾选" in text
    for person in people[:2]:
        await toggle(db, settings, person, sat)
    await toggle(db, settings, people[2], tue)
    tally = await tally_of(db, settings, secretary, created.poll_id)
    text = timepolls.status_text(tally, TZ)
    assert "已投票 3/5 人" in text
    assert "11-29 周六 19:00：<b>2</b> 人（党员00、党员01）" in text
    assert "11-28 周五 14:30：0 人" in text
    assert "最合适：<b>11-29 周六 19:00</b>，2/5 人能参加" in text
    assert "未超过半数（需要至少 3 人）" in text and "半数以上党员到会" in text
    await toggle(db, settings, people[3], sat)
    text = timepolls.status_text(await tally_of(db, settings, secretary, created.poll_id), TZ)
    assert "3/5 人能参加" in text and "超过半数能参加" in text and "未超过" not in text
    markup = timepolls.status_markup(tally, TZ)
    assert markup is not None
    buttons = [(b["text"], b["callback_data"]) for row in markup["inline_keyboard"] for b in row]
    assert buttons == [
        ("定为会议 11-28 周五 14:30", f"tp:mk:{fri}"),
        ("定为会议 11-29 周六 19:00", f"tp:mk:{sat}"),
        ("定为会议 12-02 周二 15:00", f"tp:mk:{tue}"),
        ("提醒未投票", f"tp:rm:{created.poll_id}"),
    ]


async def test_equal_counts_make_the_earlier_slot_best(
    db: Database, org: OrgBuilder, settings: MeetingSettings
) -> None:
    secretary, people = await branch(org)
    created = await create(db, settings, secretary)
    fri, sat, _ = await slot_ids(db, created.poll_id)
    await toggle(db, settings, people[0], sat)
    await toggle(db, settings, people[1], fri)
    best = (await tally_of(db, settings, secretary, created.poll_id)).best
    assert best is not None and best.slot_id == fri


async def test_the_tally_is_for_those_who_manage_the_audience(
    db: Database, org: OrgBuilder, settings: MeetingSettings
) -> None:
    secretary, people = await branch(org)
    other = await org.member("二支书记", branch="第二支部", role=Role.SECRETARY, telegram_id=2)
    created = await create(db, settings, secretary)
    for who in (other, people[0]):
        with pytest.raises(Denied):
            await tally_of(db, settings, who, created.poll_id)


# ---------------------------------------------------------------- reminders


async def test_reminder_goes_to_non_voters_only(
    db: Database, org: OrgBuilder, settings: MeetingSettings
) -> None:
    secretary, people = await branch(org)
    created = await create(db, settings, secretary)
    fri = (await slot_ids(db, created.poll_id))[0]
    await toggle(db, settings, people[0], fri)
    await toggle(db, settings, secretary, fri)
    before = len(await deliveries(db))
    async with db.write() as session:
        count = await timepolls.remind(
            session, settings, secretary.actor(), created.poll_id, now=NOW
        )
    assert count == 2
    sent = (await deliveries(db))[before:]
    assert sorted(d.chat_id for d in sent) == [101, 102]
    assert all("还没有勾选" in d.text and len(labels(d)) == 3 for d in sent)


async def test_only_managers_may_remind(
    db: Database, org: OrgBuilder, settings: MeetingSettings
) -> None:
    secretary, _ = await branch(org)
    other = await org.member("二支书记", branch="第二支部", role=Role.SECRETARY, telegram_id=2)
    created = await create(db, settings, secretary)
    with pytest.raises(Denied):
        async with db.write() as session:
            await timepolls.remind(session, settings, other.actor(), created.poll_id, now=NOW)


async def test_the_planned_reminder_skips_a_closed_poll(
    db: Database, org: OrgBuilder, settings: MeetingSettings
) -> None:
    secretary, _ = await branch(org)
    created = await create(db, settings, secretary)
    fri = (await slot_ids(db, created.poll_id))[0]
    async with db.write() as session:
        await timepolls.make_meeting(session, settings, secretary.actor(), fri, now=NOW)
    before = len(await deliveries(db))
    firing = Firing(
        1, settings.org_id, {"poll_id": created.poll_id}, NOW, NOW + timedelta(days=1), None
    )
    async with db.write() as session:
        await timepolls.fire_reminder(session, settings, firing)
        await session.commit()
    assert len(await deliveries(db)) == before


# ---------------------------------------------------------------- making the meeting


async def test_make_meeting_invites_the_audience_and_closes_the_poll(
    db: Database, org: OrgBuilder, settings: MeetingSettings
) -> None:
    secretary, people = await branch(org)
    created = await create(db, settings, secretary)
    fri, sat, _ = await slot_ids(db, created.poll_id)
    for person in people:
        await toggle(db, settings, person, sat)
    async with db.write() as session:
        made = await timepolls.make_meeting(session, settings, secretary.actor(), sat, now=NOW)
    assert made.invited == 4 and made.count == 3 and made.total == 4
    assert not made.short_of_majority and made.tally.closed
    assert timepolls.status_markup(made.tally, TZ) is None
    assert f"已定为会议 #{made.meeting_id}" in timepolls.status_text(made.tally, TZ)
    async with db.read() as session:
        meeting = await session.get(Meeting, made.meeting_id)
        poll = await session.get(TimePoll, created.poll_id)
        invited = await session.scalar(
            select(func.count(Invitation.id)).where(Invitation.meeting_id == made.meeting_id)
        )
    assert meeting is not None and meeting.starts_at == SAT and meeting.kind == "general"
    assert meeting.title == "第四季度党员大会" and invited == 4
    assert poll is not None and poll.meeting_id == meeting.id and poll.closed_at == NOW
    # Closed: a second press, any other slot and any tick are refused and change nothing.
    for slot in (sat, fri):
        with pytest.raises(Invalid) as exc:
            async with db.write() as session:
                await timepolls.make_meeting(session, settings, secretary.actor(), slot, now=NOW)
        assert exc.value.key == "poll.already_made"
    with pytest.raises(Invalid) as exc:
        await toggle(db, settings, people[0], fri)
    assert exc.value.key == "poll.closed"
    with pytest.raises(Invalid):
        async with db.write() as session:
            await timepolls.remind(session, settings, secretary.actor(), created.poll_id, now=NOW)
    async with db.read() as session:
        assert await session.scalar(select(func.count(Meeting.id))) == 1


async def test_two_presses_at_once_make_one_meeting(
    db: Database, org: OrgBuilder, settings: MeetingSettings
) -> None:
    secretary, _ = await branch(org)
    created = await create(db, settings, secretary)
    fri, sat, _ = await slot_ids(db, created.poll_id)

    async def make(slot: int) -> object:
        async with db.write() as session:
            return await timepolls.make_meeting(session, settings, secretary.actor(), slot, now=NOW)

    results = await asyncio.gather(make(fri), make(sat), return_exceptions=True)
    made = [r for r in results if isinstance(r, timepolls.Made)]
    refused = [r for r in results if isinstance(r, Invalid)]
    assert len(made) == 1 and len(refused) == 1, results
    assert refused[0].key == "poll.already_made"
    async with db.read() as session:
        assert await session.scalar(select(func.count(Meeting.id))) == 1


async def test_a_general_meeting_short_of_half_is_made_with_a_warning(
    db: Database, org: OrgBuilder, settings: MeetingSettings
) -> None:
    secretary, people = await branch(org, 3)
    created = await create(db, settings, secretary)
    fri = (await slot_ids(db, created.poll_id))[0]
    await toggle(db, settings, people[0], fri)
    await toggle(db, settings, people[1], fri)  # 2 of 4 is not more than half
    async with db.write() as session:
        made = await timepolls.make_meeting(session, settings, secretary.actor(), fri, now=NOW)
    assert made.short_of_majority and made.count == 2 and made.total == 4


async def test_a_committee_meeting_needs_no_majority_warning(
    db: Database, org: OrgBuilder, settings: MeetingSettings
) -> None:
    secretary, _ = await branch(org)
    created = await create(db, settings, secretary, kind="committee")
    fri = (await slot_ids(db, created.poll_id))[0]
    async with db.write() as session:
        made = await timepolls.make_meeting(session, settings, secretary.actor(), fri, now=NOW)
    assert not made.short_of_majority and made.invited == 1


async def test_a_slot_that_has_passed_cannot_become_a_meeting(
    db: Database, org: OrgBuilder, settings: MeetingSettings
) -> None:
    secretary, _ = await branch(org)
    created = await create(db, settings, secretary)
    fri = (await slot_ids(db, created.poll_id))[0]
    with pytest.raises(Invalid) as exc:
        async with db.write() as session:
            await timepolls.make_meeting(
                session, settings, secretary.actor(), fri, now=FRI + timedelta(minutes=1)
            )
    assert exc.value.key == "meeting.in_past"
    async with db.read() as session:
        poll = await session.get(TimePoll, created.poll_id)
        assert poll is not None and poll.meeting_id is None
        assert await session.scalar(select(func.count(Meeting.id))) == 0


async def test_another_branchs_secretary_cannot_make_the_meeting(
    db: Database, org: OrgBuilder, settings: MeetingSettings
) -> None:
    secretary, _ = await branch(org)
    other = await org.member("二支书记", branch="第二支部", role=Role.SECRETARY, telegram_id=2)
    created = await create(db, settings, secretary)
    fri = (await slot_ids(db, created.poll_id))[0]
    with pytest.raises(Denied):
        async with db.write() as session:
            await timepolls.make_meeting(session, settings, other.actor(), fri, now=NOW)
    async with db.read() as session:
        assert await session.scalar(select(func.count(Meeting.id))) == 0


def test_a_tally_of_long_names_still_fits_one_message() -> None:
    names = tuple(f"{'很长的名字' * 20}{i}" for i in range(40))
    slots = tuple(
        SlotTally(i, datetime(2026, 12, 1 + i, 14, 30, tzinfo=TZ), names) for i in range(8)
    )
    tally = Tally(1, "general", "题" * 100, "zh", 40, 40, slots, None, None, None)
    text = status_text(tally, TZ)
    assert len(text) < 4096 and "(+" in text
