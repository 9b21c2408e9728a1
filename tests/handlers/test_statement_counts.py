"""How many SQL statements the hot paths cost: the caller lookup, /me, /todo, 「已学习」 (first
and repeated) and a meeting check-in (first and repeated).

Only what the handler itself issues is counted: the statements of an update that does nothing
(/help, or a press no feature handles) are measured right before and taken away, and statements
on the inbound bookkeeping's tables are left out, so the per-update de-duplication may change
without changing these counts. BEGIN (SQLite's own statement) is not counted either.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import event, func, select

from bot.sandbox import SentMessage, button_data
from bot.services import members
from storage.models import ItemTally, Role
from tests.handlers.conftest import Harness

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=TZ)
START = datetime(2026, 12, 3, 14, 30, tzinfo=TZ)
SECRETARY, ZHANG = 10, 1
# The de-duplication's tables (before and after the inbox rewrite): not the handler's work.
BOOKKEEPING = re.compile(r"\b(processed_updates|inbox)\b", re.IGNORECASE)
WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)

T = TypeVar("T")


@contextmanager
def statements(harness: Harness) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.strip().upper().startswith("BEGIN") or BOOKKEEPING.search(statement):
            return
        seen.append(statement)

    engine = harness.deps.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    # Prepared statements on SQLite run on the driver's own connections (storage.fast).
    harness.deps.db.listen_to_prepared(lambda sql: record(None, None, sql))
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
        harness.deps.db.listen_to_prepared(None)


async def own(
    harness: Harness, baseline: Callable[[], Awaitable[object]], work: Callable[[], Awaitable[T]]
) -> tuple[list[str], T]:
    """The statements `work` issues beyond those of the do-nothing update `baseline`."""
    with statements(harness) as base:
        await baseline()
    with statements(harness) as seen:
        result = await work()
    extra = list((Counter(seen) - Counter(base)).elements())
    return extra, result


def writes(sql: list[str]) -> list[str]:
    return [s for s in sql if WRITE.match(s)]


async def org(harness: Harness) -> None:
    await harness.org.member("书记", telegram_id=SECRETARY, role=Role.SECRETARY)
    await harness.org.member("张三", telegram_id=ZHANG)
    await harness.org.member("李四", telegram_id=2)
    harness.set_now(T0)


async def test_the_caller_is_one_statement(harness: Harness) -> None:
    await org(harness)
    with statements(harness) as seen:
        async with harness.deps.db.read() as session:
            actor = await members.get_actor(session, ZHANG, "zh")
    assert actor is not None and actor.name == "张三" and actor.role is Role.MEMBER
    assert len(seen) == 1, seen


async def test_hot_paths_stay_within_their_statement_budgets(harness: Harness) -> None:
    await org(harness)
    assert "50.00" in await harness.say(SECRETARY, "/setdues 张三 50")
    assert "推送给" in await harness.say(SECRETARY, "/study 第一议题 | 学习内容")
    assert "任务 #" in await harness.say(SECRETARY, "/task 整理台账 | 张三 | 2026-12-20")
    reply = await harness.say(SECRETARY, "/meeting 党员大会 2026-12-03 14:30 学习")
    meeting_id = int(re.findall(r"#(\d+)", reply)[0])
    await harness.flush()

    async def help_() -> object:
        return await harness.send(ZHANG, "/help")

    # Was 17: the record, its branch and group, six counts, three sums, attendance, dues, tasks.
    me, card = await own(harness, help_, lambda: harness.say(ZHANG, "/me"))
    assert "张三" in card and "任务：进行中 1，其中逾期 0" in card
    assert len(me) <= 2, me

    # Was 5.
    todo_sql, todo = await own(harness, help_, lambda: harness.send(ZHANG, "/todo"))
    assert len(todo) == 4  # the title, the study item, the dues, the task
    assert len(todo_sql) <= 3, todo_sql

    study = next(m for m in todo if "第一议题" in (m.text or ""))
    data = button_data(study, "已学习")

    async def stale_press() -> object:
        return await harness.press(ZHANG, study, "zz:0:0")

    # Was 5: the item, the receipt, then the writes.
    first, (answer, _) = await own(harness, stale_press, lambda: harness.press(ZHANG, study, data))
    assert answer["text"] == "已记录，谢谢！"
    assert len(first) <= 4, first
    assert any("receipts" in w for w in writes(first)), first
    assert any("item_tallies" in w for w in writes(first)), first
    # Was 2; a repeat writes nothing.
    again, (answer, _) = await own(harness, stale_press, lambda: harness.press(ZHANG, study, data))
    assert answer["text"] == "已经记录过了。"
    assert len(again) <= 1 and writes(again) == [], again
    async with harness.deps.db.read() as session:
        assert await session.scalar(select(func.sum(ItemTally.done))) == 1

    harness.set_now(START - timedelta(minutes=5))
    code = await checkin_code(harness, meeting_id)
    # Was 5: the member's wrong codes, the open meetings, the invitation, then the writes.
    checkin, done = await own(harness, help_, lambda: harness.say(ZHANG, f"/checkin {code}"))
    assert "签到成功" in done
    assert len(checkin) <= 3, checkin
    # Was 3; a repeat writes nothing.
    again, done = await own(harness, help_, lambda: harness.say(ZHANG, f"/checkin {code}"))
    assert "已签到过" in done
    assert len(again) <= 1 and writes(again) == [], again


async def checkin_code(harness: Harness, meeting_id: int) -> str:
    replies: list[SentMessage] = await harness.send(SECRETARY, f"/checkincode {meeting_id}")
    match = re.search(r"签到码：<code>(\d{6})</code>", replies[0].caption or "")
    assert match, replies[0].caption
    return match[1]
