"""Binding accounts, the caller's identity, overviews, roles, start-up admins, update ids."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from bot.auth import Access, allowed, authorize, commands_for
from bot.errors import Denied, Invalid, NotFound
from bot.inbound import Fairness, FairnessSettings
from bot.services import invites, members, organisation, updates
from storage.db import Database
from storage.models import AuditEntry, InboxUpdate, InviteCode, Member, Role, utcnow
from tests.conftest import OrgBuilder


async def test_bind_ties_account_to_member(db: Database, org: OrgBuilder) -> None:
    zhang = await org.member("张三")
    async with db.write() as session:
        result = await invites.bind(session, zhang.code, 1001)
    assert not result.already_bound
    assert (result.member.name, result.member.branch, result.member.group) == (
        "张三",
        "第一支部",
        "第一党小组",
    )
    async with db.read() as session:
        actor = await members.get_actor(session, 1001, "zh")
        code = await session.scalar(select(InviteCode).where(InviteCode.code == zhang.code))
        audit = await session.scalar(select(AuditEntry).where(AuditEntry.action == "member.bound"))
    assert actor is not None and actor.member_id == zhang.member_id
    assert code is not None and code.used_by_telegram_id == 1001
    assert audit is not None and audit.entity_id == zhang.member_id


async def test_same_account_same_code_again_just_greets(db: Database, org: OrgBuilder) -> None:
    zhang = await org.member("张三")
    async with db.write() as session:
        await invites.bind(session, zhang.code, 1001)
    async with db.write() as session:
        result = await invites.bind(session, zhang.code, 1001)
    assert result.already_bound


async def test_used_code_is_refused_to_another_account(db: Database, org: OrgBuilder) -> None:
    zhang = await org.member("张三")
    async with db.write() as session:
        await invites.bind(session, zhang.code, 1001)
    async with db.write() as session:
        with pytest.raises(Denied) as info:
            await invites.bind(session, zhang.code, 2002)
    assert info.value.key == "invite_used"


async def test_unknown_and_expired_codes_are_refused(db: Database, org: OrgBuilder) -> None:
    zhang = await org.member("张三")
    async with db.write() as session:
        with pytest.raises(NotFound) as info:
            await invites.bind(session, "nosuchcode", 1001)
    assert info.value.key == "invite_unknown"
    async with db.write() as session:
        await session.execute(update(InviteCode).values(expires_at=utcnow() - timedelta(minutes=1)))
        await session.commit()
    async with db.write() as session:
        with pytest.raises(Denied) as info2:
            await invites.bind(session, zhang.code, 1001)
    assert info2.value.key == "invite_expired"


async def test_second_account_for_a_bound_account_is_refused(db: Database, org: OrgBuilder) -> None:
    zhang = await org.member("张三")
    li = await org.member("李四")
    async with db.write() as session:
        await invites.bind(session, zhang.code, 1001)
    async with db.write() as session:
        with pytest.raises(Denied) as info:
            await invites.bind(session, li.code, 1001)
    assert info.value.key == "account_already_bound"
    async with db.read() as session:
        li_row = await session.get(Member, li.member_id)
    assert li_row is not None and li_row.telegram_user_id is None


async def test_concurrent_binds_of_one_code_bind_once(db: Database, org: OrgBuilder) -> None:
    zhang = await org.member("张三")

    async def attempt(telegram_id: int) -> str:
        async with db.write() as session:
            try:
                await invites.bind(session, zhang.code, telegram_id)
            except Denied as exc:
                return exc.key
            return "ok"

    outcomes = await asyncio.gather(*(attempt(3000 + i) for i in range(5)))
    assert sorted(outcomes) == ["invite_used"] * 4 + ["ok"]


async def test_configured_admin_placeholder_hands_over_to_roster_record(
    db: Database, org_id: int, org: OrgBuilder
) -> None:
    async with db.write() as session:
        await organisation.promote_admins(session, org_id, (9000,))
    async with db.read() as session:
        actor = await members.get_actor(session, 9000, "zh")
    assert actor is not None and actor.role is Role.ADMIN and actor.branch_id is None
    wang = await org.member("王五")
    async with db.write() as session:
        result = await invites.bind(session, wang.code, 9000)
    assert result.member.role is Role.ADMIN
    async with db.read() as session:
        actor = await members.get_actor(session, 9000, "zh")
    assert actor is not None and actor.member_id == wang.member_id
    assert actor.role is Role.ADMIN


async def test_promote_admins_is_idempotent(db: Database, org_id: int) -> None:
    for _ in range(2):
        async with db.write() as session:
            await organisation.promote_admins(session, org_id, (9000, 9001))
    async with db.read() as session:
        admins = (await session.scalars(select(Member).where(Member.role == Role.ADMIN))).all()
    assert sorted(m.telegram_user_id or 0 for m in admins) == [9000, 9001]


async def test_binding_happens_at_the_bots_clock(db: Database, org: OrgBuilder) -> None:
    zhang = await org.member("张三")
    later = utcnow() + timedelta(days=3)
    async with db.write() as session:
        await invites.bind(session, zhang.code, 1001, now=later)
    async with db.read() as session:
        assert await session.scalar(select(Member.bound_at).where(Member.name == "张三")) == later
    li = await org.member("李四")
    with pytest.raises(Denied) as expired:
        async with db.write() as session:
            await invites.bind(session, li.code, 1002, now=utcnow() + timedelta(days=400))
    assert expired.value.key == "invite_expired"


async def test_a_configured_admin_takes_their_messenger_name_once(
    db: Database, org_id: int
) -> None:
    async with db.write() as session:
        await organisation.promote_admins(session, org_id, (9000,))
    async with db.write() as session:
        # Nothing usable: the placeholder stays.
        assert await organisation.name_admin(session, 9000, " \u200b ") is None
    async with db.write() as session:
        assert await organisation.name_admin(session, 9000, "王\u200b主任 ") == "王主任"
    async with db.write() as session:
        # Named once: a later name in the messenger does not rename the record.
        assert await organisation.name_admin(session, 9000, "Wang") is None
        # Nor is anyone else's record touched.
        assert await organisation.name_admin(session, 9001, "Li") is None
    async with db.read() as session:
        actor = await members.get_actor(session, 9000, "zh")
        named = await session.scalar(select(AuditEntry).where(AuditEntry.action == "member.named"))
    assert actor is not None and actor.name == "王主任"
    assert named is not None


async def test_inactive_member_is_a_stranger(db: Database, org: OrgBuilder) -> None:
    zhang = await org.member("张三", telegram_id=1001)
    async with db.write() as session:
        await session.execute(update(Member).values(active=False))
        await session.commit()
    async with db.read() as session:
        assert await members.get_actor(session, 1001, "zh") is None
    async with db.write() as session:
        with pytest.raises(NotFound):
            await invites.bind(session, zhang.code, 1001)


async def test_language_choice_is_stored(db: Database, org: OrgBuilder) -> None:
    zhang = await org.member("张三", telegram_id=1001)
    async with db.write() as session:
        await members.set_language(session, zhang.actor(), "en")
    async with db.read() as session:
        actor = await members.get_actor(session, 1001, "zh")
    assert actor is not None and actor.language == "en"
    async with db.write() as session:
        with pytest.raises(Invalid):
            await members.set_language(session, zhang.actor(), "fr")


async def test_overview_is_scoped_by_role(db: Database, org_id: int, org: OrgBuilder) -> None:
    sec = await org.member("书记", role=Role.SECRETARY, telegram_id=1)
    await org.member("甲", group="第一党小组", telegram_id=2)
    leader = await org.member("组长", group="第二党小组", role=Role.GROUP_LEADER, telegram_id=3)
    await org.member("乙", group="第二党小组")
    await org.member("丙", branch="第二支部", group=None)
    admin = await org.member("管理员", branch=None, group=None, role=Role.ADMIN, telegram_id=4)

    async with db.read() as session:
        mine = await members.members_overview(session, org_id, sec.actor())
        group_view = await members.members_overview(session, org_id, leader.actor())
        everything = await members.members_overview(session, org_id, admin.actor())
        with pytest.raises(Denied):
            await members.members_overview(session, org_id, sec.actor(), "第二支部")
    assert [(c.group, c.bound, c.unbound) for c in mine.counts] == [
        ("第一党小组", 2, 0),
        ("第二党小组", 1, 1),
    ]
    assert mine.unbound == [("乙", "第一支部", "第二党小组")]
    assert [(c.group, c.bound, c.unbound) for c in group_view.counts] == [("第二党小组", 1, 1)]
    assert everything.total_unbound == 2
    assert ("丙", "第二支部", "") in everything.unbound


async def test_setrole_scope_and_admin_rules(db: Database, org_id: int, org: OrgBuilder) -> None:
    sec = await org.member("书记", role=Role.SECRETARY, telegram_id=1)
    await org.member("甲")
    await org.member("外支部", branch="第二支部")
    admin = await org.member("管理员", branch=None, group=None, role=Role.ADMIN, telegram_id=4)

    async with db.write() as session:
        change = await members.set_role(session, org_id, sec.actor(), "甲", Role.GROUP_LEADER)
    assert (change.old, change.new) == (Role.MEMBER, Role.GROUP_LEADER)
    async with db.write() as session:
        with pytest.raises(Denied) as info:
            await members.set_role(session, org_id, sec.actor(), "甲", Role.ADMIN)
    assert info.value.key == "cannot_grant"
    async with db.write() as session:
        with pytest.raises(NotFound):
            await members.set_role(session, org_id, sec.actor(), "外支部", Role.SECRETARY)
    async with db.write() as session:
        change = await members.set_role(session, org_id, admin.actor(), "外支部", Role.SECRETARY)
    assert change.new is Role.SECRETARY
    async with db.read() as session:
        entries = (
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "member.role"))
        ).all()
    assert [e.actor_member_id for e in entries] == [sec.member_id, admin.member_id]


async def test_ambiguous_name_asks_for_the_number(
    db: Database, org_id: int, org: OrgBuilder
) -> None:
    admin = await org.member("管理员", branch=None, group=None, role=Role.ADMIN, telegram_id=4)
    first = await org.member("同名", branch="第一支部")
    await org.member("同名", branch="第二支部")
    async with db.write() as session:
        with pytest.raises(Invalid) as info:
            await members.set_role(session, org_id, admin.actor(), "同名", Role.SECRETARY)
    assert f"#{first.member_id}" in info.value.params["options"]
    async with db.write() as session:
        change = await members.set_role(
            session, org_id, admin.actor(), f"#{first.member_id}", Role.SECRETARY
        )
    assert change.member.id == first.member_id


def test_role_by_command_matrix() -> None:
    from tests.conftest import Person

    def actor(role: Role):
        return Person(1, "x", 1, 1, 1, role, "c").actor()

    secretary_commands = {"invites", "setrole", "import"}
    for name in secretary_commands | {"members"}:
        assert not allowed(None, name)
        assert not allowed(actor(Role.MEMBER), name)
        with pytest.raises(Denied) as info:
            authorize(actor(Role.MEMBER), name)
        assert info.value.key == "no_permission"
        with pytest.raises(Denied) as info:
            authorize(None, name)
        assert info.value.key == "not_registered"
    for name in secretary_commands:
        assert not allowed(actor(Role.GROUP_LEADER), name)
        assert allowed(actor(Role.SECRETARY), name)
        assert allowed(actor(Role.ADMIN), name)
    assert [c.name for c in commands_for(None)] == ["start", "help"]
    assert all(c.access <= Access.MEMBER for c in commands_for(actor(Role.MEMBER)))


def _update(update_id: int, user: int = 5) -> dict[str, object]:
    chat = {"id": user, "type": "private"}
    sender = {"id": user, "is_bot": False, "first_name": "x"}
    return {
        "update_id": update_id,
        "message": {"message_id": 1, "date": 0, "chat": chat, "from": sender},
    }


async def test_update_ids_are_kept_once(db: Database) -> None:
    now = utcnow()
    async with db.write() as session:
        assert await updates.admit(session, [_update(42)], now, now) == {42}
        await session.commit()
    async with db.write() as session:
        assert await updates.admit(session, [_update(42), _update(44)], now, now) == {44}
    async with db.write() as session:
        # Not committed: as if the process died before the update was kept; kept again.
        assert await updates.admit(session, [_update(44)], now, now) == {44}
    async with db.write() as session:
        assert await updates.prune(session) == 0


async def test_kept_updates_remember_their_lane_and_payload(db: Database) -> None:
    now = utcnow()
    async with db.write() as session:
        await updates.admit(session, [_update(7, user=99)], now, now)
        await session.commit()
    async with db.read() as session:
        row = await session.get(InboxUpdate, 7)
    assert row is not None and row.chat_id == 99 and row.done_at is None
    assert '"update_id": 7' in row.payload


async def test_an_unfinished_update_is_taken_back_once_its_lease_runs_out(db: Database) -> None:
    now = utcnow()
    async with db.write() as session:
        await updates.admit(session, [_update(1), _update(2)], now, now + timedelta(seconds=60))
        await updates.finish(session, [2], now)
        await session.commit()
    later = now + timedelta(seconds=61)
    async with db.write() as session:
        # Still leased: nothing to take back yet.
        assert await updates.reclaim(session, now, now, set(), 10) == []
        taken = await updates.reclaim(session, later, later + timedelta(seconds=60), set(), 10)
        await session.commit()
    assert [u["update_id"] for u in taken] == [1]
    async with db.write() as session:
        # Leased again by the one who took it back.
        assert await updates.reclaim(session, later, later, set(), 10) == []


async def test_a_member_who_writes_is_reachable_again(db: Database, org: OrgBuilder) -> None:
    zhang = await org.member("张三", telegram_id=5)
    async with db.write() as session:
        await session.execute(
            update(Member).where(Member.id == zhang.member_id).values(unreachable_at=utcnow())
        )
        await session.commit()
    now = utcnow()
    async with db.write() as session:
        await updates.admit(session, [_update(1, user=5)], now, now)
        await session.commit()
    async with db.read() as session:
        member = await session.get(Member, zhang.member_id)
    assert member is not None and member.unreachable_at is None


async def test_invites_list_reuses_codes_and_replaces_expired(
    db: Database, org_id: int, org: OrgBuilder
) -> None:
    zhang = await org.member("张三")
    await org.member("李四", telegram_id=7)  # bound: not listed
    async with db.write() as session:
        lines = await invites.invites_for_unbound(session, org_id, valid_days=30)
    assert [(line.name, line.code) for line in lines] == [("张三", zhang.code)]
    async with db.write() as session:
        await session.execute(update(InviteCode).values(expires_at=utcnow() - timedelta(days=1)))
        await session.commit()
    async with db.write() as session:
        renewed = await invites.invites_for_unbound(session, org_id, valid_days=30)
    assert renewed[0].code != zhang.code
    async with db.write() as session:
        again = await invites.invites_for_unbound(session, org_id, valid_days=30)
    assert again[0].code == renewed[0].code
    assert invites.deep_link("my_bot", "abc") == "https://t.me/my_bot?start=abc"


async def test_renaming_the_organisation_keeps_its_records(
    db: Database, org_id: int, org: OrgBuilder
) -> None:
    await org.member("张三")
    async with db.write() as session:
        renamed = await organisation.ensure_organisation(session, "新名称党委", "Asia/Shanghai")
    assert renamed == org_id
    async with db.read() as session:
        names = (await session.scalars(select(Member.name))).all()
    assert "张三" in names


async def test_a_member_over_the_allowance_is_refused_and_told_once() -> None:
    fairness = Fairness(FairnessSettings(burst=3, per_minute=60, stranger_burst=1))
    results = [await fairness.take(7) for _ in range(5)]
    assert results == [(True, False)] * 3 + [(False, True), (False, False)]
    # Another member has their own allowance; a stranger gets the smaller one.
    assert await fairness.take(8) == (True, False)
    assert [await fairness.take(9, stranger=True) for _ in range(2)] == [
        (True, False),
        (False, True),
    ]


async def test_the_allowance_comes_back_with_time() -> None:
    fairness = Fairness(FairnessSettings(burst=2, per_minute=6000))
    assert [(await fairness.take(7))[0] for _ in range(3)] == [True, True, False]
    await asyncio.sleep(0.05)  # 100 a second: the bucket has drained
    assert await fairness.take(7) == (True, False)
