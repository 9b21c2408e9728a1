"""Names as they enter: normalised (NFKC, no format characters, one space), never empty, capped;
and a roster cell csv cannot read costs that row only, never the rows after it."""

from __future__ import annotations

import pytest

from bot.errors import NotFound
from bot.services import members
from bot.services.names import MAX_MEMBER_NAME, MAX_UNIT_NAME, normalise_name
from bot.services.roster_csv import MAX_CELL_LENGTH, parse_roster
from storage.db import Database
from storage.models import Role
from tests.conftest import OrgBuilder
from tests.services.test_roster import members_by_name, run_import


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("张\u200b三", "张三"),
        ("\ufeff张三\u2060", "张三"),
        ("  第一\u3000\t支部  ", "第一 支部"),
        ("ＡＢＣ１", "ABC1"),
        ("\u2060", ""),
        ("\u200b \u200d", ""),
    ],
)
def test_names_are_normalised(typed: str, stored: str) -> None:
    assert normalise_name(typed) == stored


async def test_a_huge_cell_costs_its_row_only(db: Database, org_id: int) -> None:
    huge = "长" * 200_000
    assert len(huge) > MAX_CELL_LENGTH
    text = (
        "姓名,支部,党小组\n"
        "甲,第一支部,\n"
        f"{huge},第一支部,\n"  # line 3
        "乙,第一支部,\n"
        '"丙",第一支部,"第一党小组"\n'
        f'丁,第一支部,"{huge}"\n'  # line 6: quoted
        "戊,第一支部,\n"
    )
    parsed = parse_roster(text)
    assert [(e.line, e.reason) for e in parsed.errors] == [
        (3, "cell_too_long"),
        (6, "cell_too_long"),
    ]
    assert [(r.line, r.name) for r in parsed.rows] == [(2, "甲"), (4, "乙"), (5, "丙"), (7, "戊")]
    report = await run_import(db, org_id, text, skip_bad_rows=True)
    assert report.applied
    assert [e.line for e in report.errors] == [3, 6]
    assert sorted(report.created) == sorted(["甲", "乙", "丙", "戊"])
    assert set(await members_by_name(db)) >= {"甲", "乙", "丙", "戊"}


def test_invisible_empty_and_oversized_names_are_bad_rows() -> None:
    long_unit = "支" * (MAX_UNIT_NAME + 1)
    text = (
        "姓名,支部,党小组\n"
        "张三,第一支部,第一党小组\n"
        "张\u200b三,第一支部,第一党小组\n"  # line 3: the same 张三
        "\u2060,第一支部,\n"  # line 4: invisible only
        f"{'名' * (MAX_MEMBER_NAME + 1)},第一支部,\n"  # line 5
        f"李四,{long_unit},\n"  # line 6
        f"王五,第一支部,{long_unit}\n"  # line 7
        "赵六,\u200b,\n"  # line 8: invisible branch
        "钱七,第一支部,\u2060\n"  # line 9: invisible group
        f"{'名' * MAX_MEMBER_NAME},{'支' * MAX_UNIT_NAME},{'组' * MAX_UNIT_NAME}\n"  # line 10
        "孙\u00a0 八,第一\u200b支部,第一党小组\u200b\n"  # line 11
    )
    parsed = parse_roster(text)
    assert [(e.line, e.reason) for e in parsed.errors] == [
        (3, "duplicate"),
        (4, "no_name"),
        (5, "name_too_long"),
        (6, "branch_too_long"),
        (7, "group_too_long"),
        (8, "no_branch"),
        (9, "no_group"),
    ]
    assert [(r.line, r.name, r.branch, r.group) for r in parsed.rows] == [
        (2, "张三", "第一支部", "第一党小组"),
        (10, "名" * MAX_MEMBER_NAME, "支" * MAX_UNIT_NAME, "组" * MAX_UNIT_NAME),
        (11, "孙 八", "第一支部", "第一党小组"),
    ]
    # An invisible branch is not silently a secretary's own.
    secretary = parse_roster(text, default_branch="第一支部")
    assert (8, "no_branch") in [(e.line, e.reason) for e in secretary.errors]


async def test_a_reimport_with_invisible_characters_changes_nothing(
    db: Database, org_id: int
) -> None:
    await run_import(db, org_id, "姓名,支部,党小组\n张三,第一支部,第一党小组\n")
    report = await run_import(
        db, org_id, "姓名,支部,党小组\n张\u200b三 ,\ufeff第一支部,第一党小组\u2060\n"
    )
    assert (report.created, report.updated, report.unchanged) == ([], [], 1)
    assert list(await members_by_name(db)) == ["张三"]


async def test_names_typed_after_commands_are_normalised(
    db: Database, org_id: int, org: OrgBuilder
) -> None:
    admin = await org.member("管理员", branch=None, group=None, role=Role.ADMIN, telegram_id=4)
    await org.member("张三")
    async with db.write() as session:
        change = await members.set_role(
            session, org_id, admin.actor(), "张\u200b三\u2060", Role.GROUP_LEADER
        )
    assert (change.member.name, change.new) == ("张三", Role.GROUP_LEADER)
    async with db.read() as session:
        branch = await members.find_branch(session, org_id, "第一\u200b支部")
        assert branch.name == "第一支部"
        with pytest.raises(NotFound):
            await members.find_member(session, org_id, admin.actor(), "\u2060")
        overview = await members.members_overview(session, org_id, admin.actor(), "\u200b第一支部")
    assert overview.total_unbound >= 1


def test_every_row_error_has_its_text_in_both_languages() -> None:
    """A reason without a catalog text would fail where the preview shows it."""
    import re
    from pathlib import Path

    from bot.services import roster_csv
    from bot.texts import CATALOGS

    source = Path(roster_csv.__file__).read_text(encoding="utf-8")
    reasons = set(re.findall(r'RowError\(\s*[\w.]+,\s*"(\w+)"', source))
    assert {"cell_too_long", "branch_too_long", "group_too_long", "no_group"} <= reasons
    for language in ("zh", "en"):
        missing = sorted(r for r in reasons if f"roster_err.{r}" not in CATALOGS[language])
        assert missing == [], (language, missing)
