"""Roster import: encodings, headers, bad rows, re-import, scope and deactivation; the row
limit; applying in short transactions, and an import cut short then run again."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli import main
from bot.errors import Denied, Invalid
from bot.services import roster
from bot.services.roster import ImportScope, Tally
from bot.services.roster_csv import MAX_ROSTER_ROWS, RosterFileError, decode, parse_roster
from storage.db import Database
from storage.models import AuditEntry, Branch, Group, InviteCode, Member, Organisation, Role
from tests.conftest import OrgBuilder

ROSTER = (
    "姓名,支部,党小组,角色,电话\n"
    "张三,第一支部,第一党小组,书记,13800000001\n"
    "李四,第一支部,第一党小组,党员,13800000002\n"
    "王五,第二支部,,组长,\n"
)
CLI = ImportScope(None, "cli")


async def run_import(
    db: Database, org_id: int, text: str, scope: ImportScope = CLI, **kw: Any
) -> roster.ImportReport:
    return await roster.import_roster(db, org_id, parse_roster(text), scope, invite_days=30, **kw)


async def confirm(
    db: Database, org_id: int, pending_id: int, scope: ImportScope
) -> roster.ImportReport:
    """The confirm button, then its background job."""
    assert scope.actor_member_id is not None
    async with db.write() as session:
        await roster.begin_apply(session, pending_id, scope.actor_member_id)
        await session.commit()
    return await roster.apply_upload(
        db, org_id, pending_id, scope, invite_days=30, skip_bad_rows=False
    )


async def members_by_name(db: Database) -> dict[str, Member]:
    async with db.read() as session:
        return {m.name: m for m in (await session.scalars(select(Member))).all()}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_decode_accepts_utf8_bom_and_gbk(encoding: str) -> None:
    parsed = parse_roster(decode(ROSTER.encode(encoding)))
    assert [r.name for r in parsed.rows] == ["张三", "李四", "王五"]
    assert parsed.errors == []
    assert parsed.rows[0].role is Role.SECRETARY
    assert parsed.rows[2].role is Role.GROUP_LEADER
    assert parsed.rows[2].group is None


def test_english_headers_in_any_order() -> None:
    parsed = parse_roster("Phone,Role,Group,Branch,Name\n,member,G1,B1,Alice\n")
    row = parsed.rows[0]
    assert (row.name, row.branch, row.group, row.role, row.phone) == (
        "Alice",
        "B1",
        "G1",
        Role.MEMBER,
        None,
    )


def test_undecodable_and_headerless_files_are_refused() -> None:
    with pytest.raises(RosterFileError) as info:
        decode(b"\xff\xfe\x00\x81\x30\x81")
    assert info.value.reason == "encoding"
    with pytest.raises(RosterFileError) as info:
        parse_roster("名字,部门\n张三,一\n")
    assert info.value.reason == "missing_column"
    with pytest.raises(RosterFileError) as info:
        parse_roster("")
    assert info.value.reason == "empty"


def test_every_bad_row_is_reported_with_its_line() -> None:
    text = (
        "姓名,支部,角色,电话\n"
        ",第一支部,党员,\n"  # line 2: no name
        "甲,,党员,\n"  # line 3: no branch
        "乙,第一支部,主任,\n"  # line 4: unknown role
        "丙,第一支部,党员,abc\n"  # line 5: bad phone
        "丁,第一支部,党员,\n"  # line 6: fine
        "丁,第一支部,党员,\n"  # line 7: duplicate
    )
    parsed = parse_roster(text)
    assert [(e.line, e.reason) for e in parsed.errors] == [
        (2, "no_name"),
        (3, "no_branch"),
        (4, "bad_role"),
        (5, "bad_phone"),
        (7, "duplicate"),
    ]
    assert [r.name for r in parsed.rows] == ["丁"]


async def test_import_creates_branches_groups_members_and_invites(
    db: Database, org_id: int
) -> None:
    report = await run_import(db, org_id, ROSTER)
    assert report.applied
    assert sorted(report.created) == ["张三", "李四", "王五"]
    assert report.new_branches == ["第一支部", "第二支部"]
    assert report.new_groups == ["第一支部/第一党小组"]
    people = await members_by_name(db)
    assert people["张三"].role is Role.SECRETARY
    assert people["张三"].phone == "13800000001"
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Branch)) == 2
        assert await session.scalar(select(func.count()).select_from(Group)) == 1
        assert await session.scalar(select(func.count()).select_from(InviteCode)) == 3
        actions = (await session.scalars(select(AuditEntry.action))).all()
    assert actions.count("member.created") == 3
    assert "roster.imported" in actions


async def test_reimporting_the_same_file_changes_nothing(db: Database, org_id: int) -> None:
    await run_import(db, org_id, ROSTER)
    before = await members_by_name(db)
    report = await run_import(db, org_id, ROSTER)
    assert (report.created, report.updated, report.unchanged) == ([], [], 3)
    after = await members_by_name(db)
    assert {n: m.updated_at for n, m in after.items()} == {
        n: m.updated_at for n, m in before.items()
    }
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(InviteCode)) == 3


async def test_a_changed_row_updates_that_member_only(db: Database, org_id: int) -> None:
    await run_import(db, org_id, ROSTER)
    changed = ROSTER.replace(
        "李四,第一支部,第一党小组,党员,13800000002", "李四,第一支部,第二党小组,党小组长,13900000000"
    )
    report = await run_import(db, org_id, changed)
    assert report.updated == ["李四"]
    assert report.unchanged == 2
    li = (await members_by_name(db))["李四"]
    assert li.role is Role.GROUP_LEADER
    assert li.phone == "13900000000"
    async with db.read() as session:
        group = await session.get(Group, li.group_id)
    assert group is not None and group.name == "第二党小组"


async def test_missing_members_stay_unless_deactivate_missing(db: Database, org_id: int) -> None:
    await run_import(db, org_id, ROSTER)
    shorter = "\n".join(ROSTER.splitlines()[:2]) + "\n"  # only 张三
    report = await run_import(db, org_id, shorter)
    assert report.deactivated == []
    assert (await members_by_name(db))["李四"].active
    report = await run_import(db, org_id, shorter, deactivate_missing=True)
    assert report.deactivated == ["李四"]
    people = await members_by_name(db)
    assert not people["李四"].active
    assert people["王五"].active  # another branch: not in the file's scope


async def test_bad_rows_import_nothing_unless_skipped(db: Database, org_id: int) -> None:
    text = ROSTER + "赵六,第一支部,,主任,\n"
    report = await run_import(db, org_id, text)
    assert not report.applied
    assert [(e.line, e.reason) for e in report.errors] == [(5, "bad_role")]
    assert await members_by_name(db) == {}
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Branch)) == 0
    report = await run_import(db, org_id, text, skip_bad_rows=True)
    assert report.applied
    assert sorted(await members_by_name(db)) == ["张三", "李四", "王五"]


async def test_dry_run_reports_and_changes_nothing(db: Database, org_id: int) -> None:
    report = await run_import(db, org_id, ROSTER, dry_run=True)
    assert not report.applied
    assert sorted(report.created) == ["张三", "李四", "王五"]
    assert await members_by_name(db) == {}


async def test_secretary_imports_only_into_own_branch(
    db: Database, org_id: int, org: OrgBuilder
) -> None:
    secretary = await org.member("书记甲", branch="第一支部", role=Role.SECRETARY, telegram_id=500)
    async with db.read() as session:
        scope = await roster.scope_for(session, secretary.actor())
    assert scope.only_branch == "第一支部"
    text = "姓名,支部,角色\n新人,,党员\n外人,第二支部,党员\n升官,第一支部,管理员\n"
    report = await roster.import_roster(
        db, org_id, parse_roster(text, default_branch=scope.only_branch), scope, invite_days=30
    )
    assert not report.applied
    assert [(e.line, e.reason) for e in report.errors] == [
        (3, "other_branch"),
        (4, "cannot_grant_admin"),
    ]
    assert report.created == ["新人"]
    assert "新人" not in await members_by_name(db)


async def test_member_cannot_get_an_import_scope(org: OrgBuilder, db: Database) -> None:
    member = await org.member("普通党员", role=Role.MEMBER, telegram_id=501)
    async with db.read() as session:
        with pytest.raises(Denied):
            await roster.scope_for(session, member.actor())


async def test_upload_preview_then_confirm_once(db: Database, org_id: int, org: OrgBuilder) -> None:
    admin = await org.member("管理员甲", branch=None, group=None, role=Role.ADMIN, telegram_id=600)
    preview = await roster.preview_upload(db, org_id, admin.actor(), "r.csv", ROSTER.encode("gbk"))
    assert preview.pending_id is not None
    assert sorted(preview.report.created) == ["张三", "李四", "王五"]
    assert set(await members_by_name(db)) == {"管理员甲"}  # nothing applied yet

    scope = ImportScope(admin.member_id, "bot")
    report = await confirm(db, org_id, preview.pending_id, scope)
    assert report.applied
    with pytest.raises(Denied) as info:
        await confirm(db, org_id, preview.pending_id, scope)
    assert info.value.key == "import_settled"
    with pytest.raises(Denied) as info:
        await roster.apply_upload(
            db, org_id, preview.pending_id, scope, invite_days=30, skip_bad_rows=False
        )
    assert info.value.key == "import_settled"
    assert len(await members_by_name(db)) == 4


async def test_someone_elses_upload_cannot_be_confirmed(
    db: Database, org_id: int, org: OrgBuilder
) -> None:
    admin = await org.member("管理员甲", branch=None, group=None, role=Role.ADMIN, telegram_id=600)
    other = await org.member("管理员乙", branch=None, group=None, role=Role.ADMIN, telegram_id=601)
    preview = await roster.preview_upload(db, org_id, admin.actor(), "r.csv", ROSTER.encode())
    assert preview.pending_id is not None
    with pytest.raises(Denied) as info:
        await confirm(db, org_id, preview.pending_id, ImportScope(other.member_id, "bot"))
    assert info.value.key == "not_your_button"
    assert set(await members_by_name(db)) == {"管理员甲", "管理员乙"}


async def test_unreadable_upload_is_a_clear_error(
    db: Database, org_id: int, org: OrgBuilder
) -> None:
    admin = await org.member("管理员甲", branch=None, group=None, role=Role.ADMIN, telegram_id=600)
    with pytest.raises(Invalid) as info:
        await roster.preview_upload(db, org_id, admin.actor(), "r.csv", b"\xff\xfe\x81\x30")
    assert info.value.key == "roster_file.encoding"


COMMITTEE_VALUES = [
    ("是", True),
    ("否", False),
    ("yes", True),
    ("No", False),
    ("Y", True),
    ("n", False),
    ("1", True),
    ("0", False),
    ("TRUE", True),
    ("false", False),
    ("√", True),
    ("✓", True),
    (" 是 ", True),
    ("", False),
]


@pytest.mark.parametrize("header", ["支委", "委员", "committee", " Committee "])
@pytest.mark.parametrize(("value", "expected"), COMMITTEE_VALUES)
def test_committee_column_accepts_every_listed_value(
    header: str, value: str, expected: bool
) -> None:
    parsed = parse_roster(f"姓名,支部,{header}\n张三,第一支部,{value}\n")
    assert parsed.errors == []
    assert parsed.has_committee
    assert parsed.rows[0].committee is expected


def test_without_a_committee_column_rows_carry_no_flag() -> None:
    parsed = parse_roster(ROSTER)
    assert not parsed.has_committee
    assert {r.committee for r in parsed.rows} == {None}


def test_unknown_committee_value_is_a_row_error_with_its_line() -> None:
    parsed = parse_roster("姓名,支部,支委\n张三,第一支部,是\n李四,第一支部,委员\n王五,第一支部,×\n")
    assert [(e.line, e.reason, e.value) for e in parsed.errors] == [
        (3, "bad_committee", "委员"),
        (4, "bad_committee", "×"),
    ]
    assert [r.name for r in parsed.rows] == ["张三"]


COMMITTEE_ROSTER = "姓名,支部,支委\n张三,第一支部,是\n李四,第一支部,\n王五,第一支部,否\n"


async def test_import_sets_and_clears_the_committee_flag(db: Database, org_id: int) -> None:
    report = await run_import(db, org_id, COMMITTEE_ROSTER)
    assert report.applied
    assert report.committee_joined == ["张三"]
    people = await members_by_name(db)
    assert {n: m.committee for n, m in people.items()} == {
        "张三": True,
        "李四": False,
        "王五": False,
    }

    swapped = COMMITTEE_ROSTER.replace("张三,第一支部,是", "张三,第一支部,否").replace(
        "李四,第一支部,", "李四,第一支部,√"
    )
    report = await run_import(db, org_id, swapped)
    assert report.applied
    assert sorted(report.updated) == ["张三", "李四"]
    assert (report.committee_joined, report.committee_left, report.unchanged) == (
        ["李四"],
        ["张三"],
        1,
    )
    people = await members_by_name(db)
    assert {n: m.committee for n, m in people.items()} == {
        "张三": False,
        "李四": True,
        "王五": False,
    }
    async with db.read() as session:
        updates = (
            await session.scalars(
                select(AuditEntry.details).where(AuditEntry.action == "member.updated")
            )
        ).all()
    assert sorted(updates) == [
        '{"changes": {"committee": ["False", "True"]}}',
        '{"changes": {"committee": ["True", "False"]}}',
    ]


async def test_a_file_without_the_committee_column_keeps_the_flags(
    db: Database, org_id: int
) -> None:
    await run_import(db, org_id, COMMITTEE_ROSTER)
    report = await run_import(db, org_id, "姓名,支部,电话\n张三,第一支部,13800000001\n")
    assert report.updated == ["张三"]
    assert (report.committee_joined, report.committee_left) == ([], [])
    people = await members_by_name(db)
    assert people["张三"].committee
    assert people["张三"].phone == "13800000001"


async def test_upload_preview_names_committee_changes_and_applies_them_on_confirm(
    db: Database, org_id: int, org: OrgBuilder
) -> None:
    await run_import(db, org_id, COMMITTEE_ROSTER)
    secretary = await org.member("书记甲", branch="第一支部", role=Role.SECRETARY, telegram_id=500)
    text = "姓名,委员\n张三,n\n李四,y\n王五,0\n新人,1\n"
    preview = await roster.preview_upload(
        db, org_id, secretary.actor(), "r.csv", text.encode("gbk")
    )
    report = preview.report
    assert preview.pending_id is not None
    assert report.created == ["新人"]
    assert sorted(report.updated) == ["张三", "李四"]
    assert report.committee_joined == ["李四", "新人"]
    assert report.committee_left == ["张三"]
    assert (await members_by_name(db))["张三"].committee  # the preview changed nothing

    async with db.read() as session:
        scope = await roster.scope_for(session, secretary.actor())
    applied = await confirm(db, org_id, preview.pending_id, scope)
    assert applied.applied
    people = await members_by_name(db)
    assert {n: people[n].committee for n in ("张三", "李四", "王五", "新人")} == {
        "张三": False,
        "李四": True,
        "王五": False,
        "新人": True,
    }


def test_a_file_over_the_row_limit_is_refused_naming_the_limit() -> None:
    rows = "".join(f"成员{i},第一支部\n" for i in range(MAX_ROSTER_ROWS + 1))
    with pytest.raises(RosterFileError) as info:
        parse_roster("姓名,支部\n" + rows)
    assert (info.value.reason, info.value.value) == ("too_many_rows", "100000")
    # Exactly at the limit is fine (empty lines do not count).
    parsed = parse_roster("姓名,支部\n\n" + rows.split("\n", 1)[1])
    assert len(parsed.rows) == MAX_ROSTER_ROWS


def test_the_command_line_refuses_a_file_over_the_row_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = tmp_path / "b.toml"
    cfg.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "c.db"}"\n')
    big = tmp_path / "big.csv"
    rows = "".join(f"成员{i},第一支部\n" for i in range(MAX_ROSTER_ROWS + 1))
    big.write_text("姓名,支部\n" + rows, encoding="utf-8")
    assert main(["roster", "import", str(big), "--config", str(cfg)]) == 1
    assert "花名册一次最多导入 100000 行" in capsys.readouterr().err


async def test_a_large_import_writes_in_short_transactions(db: Database, org_id: int) -> None:
    """10,000 rows: twenty batches of 500, each its own commit, and another writer gets its
    turn while the import is still writing."""
    text = "姓名,支部,党小组\n" + "".join(
        f"成员{i:05d},第一支部,第{i % 20}小组\n" for i in range(10_000)
    )
    loop = asyncio.get_running_loop()
    commits = 0
    first_batch = asyncio.Event()

    def committed(_: Any) -> None:
        nonlocal commits
        commits += 1
        # The branch and the groups come first (one commit), then the batches.
        if commits == 2:
            loop.call_soon_threadsafe(first_batch.set)

    async def another_writer() -> int:
        await first_batch.wait()
        async with db.write() as session:
            session.add(Organisation(name="另一个组织", timezone="Asia/Shanghai"))
            await session.commit()
        return commits

    event.listen(db.engine.sync_engine, "commit", committed)
    try:
        other = asyncio.create_task(another_writer())
        report = await run_import(db, org_id, text)
        commits_when_the_other_wrote = await other
    finally:
        event.remove(db.engine.sync_engine, "commit", committed)
    assert report.applied and len(report.created) == 10_000
    # The units, 20 batches, the closing record; and the other writer's one.
    assert commits == 1 + 10_000 // roster.BATCH_ROWS + 1 + 1
    # The other writer did not wait for the whole file.
    assert commits_when_the_other_wrote < commits - 5
    assert len(await members_by_name(db)) == 10_000


class Crashing:
    """A checkpoint kept in memory whose process "dies" at the n-th save (before its commit)."""

    def __init__(self, die_at: int | None = None) -> None:
        self.tally = Tally()
        self.saves = 0
        self.die_at = die_at

    async def load(self) -> Tally:
        return Tally.from_json(self.tally.to_json())

    async def save(self, session: AsyncSession, tally: Tally) -> None:
        self.saves += 1
        if self.saves == self.die_at:
            raise RuntimeError("killed")
        # Kept only if the transaction commits.
        saved = tally.to_json()

        def keep(_: Any) -> None:
            self.tally = Tally.from_json(saved)

        event.listen(session.sync_session, "after_commit", keep, once=True)


async def state(db: Database) -> list[tuple[Any, ...]]:
    async with db.read() as session:
        members = (
            await session.execute(
                select(
                    Member.name,
                    Member.group_id.is_(None),
                    Member.role,
                    Member.phone,
                    Member.active,
                    func.count(InviteCode.id),
                )
                .outerjoin(InviteCode, InviteCode.member_id == Member.id)
                .group_by(Member.id)
                .order_by(Member.name)
            )
        ).all()
        actions = (
            await session.execute(
                select(AuditEntry.action, func.count())
                .group_by(AuditEntry.action)
                .order_by(AuditEntry.action)
            )
        ).all()
    return [*map(tuple, members), *map(tuple, actions)]


async def test_an_import_cut_short_and_run_again_ends_as_one_clean_run(
    db: Database, org_id: int
) -> None:
    await run_import(db, org_id, ROSTER)
    text = (
        "姓名,支部,党小组,角色,电话\n"
        + "张三,第一支部,第二党小组,书记,13800000001\n"  # moves group
        + "".join(f"新人{i},第一支部,第三党小组,党员,\n" for i in range(5))
    )
    checkpoint = Crashing(die_at=2)
    with pytest.raises(RuntimeError):
        await run_import(
            db, org_id, text, batch_rows=2, deactivate_missing=True, checkpoint=checkpoint
        )
    # The first batch (two rows, in file order) was committed, the second rolled back.
    assert checkpoint.tally == Tally(created=1, updated=1, deactivated=0)
    checkpoint.die_at = None
    report = await run_import(
        db, org_id, text, batch_rows=2, deactivate_missing=True, checkpoint=checkpoint
    )
    assert report.applied
    assert report.totals == Tally(created=5, updated=1, deactivated=1, finished=True)
    assert report.unchanged == 0
    after_rerun = await state(db)
    # Run once more: the import is finished, nothing is written again.
    again = await run_import(
        db, org_id, text, batch_rows=2, deactivate_missing=True, checkpoint=checkpoint
    )
    assert again.applied and await state(db) == after_rerun

    # One clean run of the same file on a fresh organisation's copy gives the same state.
    async with db.write() as session:
        other = Organisation(name="对照组织", timezone="Asia/Shanghai")
        session.add(other)
        await session.commit()
        other_id = other.id
    await run_import(db, other_id, ROSTER)
    clean = await run_import(db, other_id, text, deactivate_missing=True)
    assert (len(clean.created), len(clean.updated), len(clean.deactivated)) == (5, 1, 1)
    async with db.read() as session:
        by_org = (
            await session.execute(
                select(Member.organisation_id, Member.name, Member.active, Member.role).order_by(
                    Member.name
                )
            )
        ).all()
    ours = [(n, a, r) for o, n, a, r in by_org if o == org_id]
    theirs = [(n, a, r) for o, n, a, r in by_org if o == other_id]
    assert ours == theirs
    actions = dict((await state(db))[-4:])
    assert actions["roster.imported"] == 4  # two per organisation: the first file and this one
