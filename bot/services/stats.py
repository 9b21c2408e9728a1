"""Statistics for a period and scope, counted from the ledger's own tables so that a figure and
the row behind it can never disagree: awareness (confirmed / pushed), attendance by meeting
kind, compliance with the required meetings, volunteer hours, per branch and group."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from bot.auth import Actor
from bot.services import compliance, ledger
from bot.services.meetings import MeetingSettings


@dataclass
class Rate:
    done: int = 0
    total: int = 0

    @property
    def percent(self) -> Decimal | None:
        """Whole percent, None when there was nothing to count."""
        if not self.total:
            return None
        # 四舍五入, as a report reader expects: 1/8 is 13 %, not 12 %.
        return (Decimal(100 * self.done) / self.total).quantize(Decimal("1"), ROUND_HALF_UP)

    def add(self, done: bool) -> None:
        self.total += 1
        self.done += done


@dataclass
class Unit:
    """A branch, or a group inside one ("第一支部/第一党小组")."""

    name: str
    study: Rate = field(default_factory=Rate)
    reminders: Rate = field(default_factory=Rate)
    attendance: Rate = field(default_factory=Rate)
    hours: Decimal = Decimal(0)

    @property
    def awareness(self) -> Rate:
        return Rate(self.study.done + self.reminders.done, self.study.total + self.reminders.total)


@dataclass(frozen=True)
class Compliance:
    required: int
    held: int
    # "第一支部 支部委员会 2026年11月" for each period that ended without the meeting.
    overdue: list[str]


@dataclass(frozen=True)
class Stats:
    scope: ledger.Scope
    period: ledger.ReportPeriod
    branches: list[Unit]
    groups: list[Unit]
    by_kind: dict[str, Rate]
    compliance: Compliance
    study_items: int
    reminder_items: int
    meetings_held: int
    activities: int
    volunteers: int
    members: int
    bound: int

    def total(self, part: str) -> Rate:
        rate = Rate()
        for unit in self.branches:
            one: Rate = getattr(unit, part)
            rate.done += one.done
            rate.total += one.total
        return rate

    @property
    def units(self) -> list[Unit]:
        """Each branch, then its groups ("第一支部", "第一支部/第一党小组", …)."""
        return sorted(self.branches + self.groups, key=lambda u: u.name)

    @property
    def hours(self) -> Decimal:
        return sum((u.hours for u in self.branches), Decimal(0))


def from_tables(
    scope: ledger.Scope,
    period: ledger.ReportPeriod,
    tables: list[ledger.Table],
    compliance_view: Compliance,
) -> Stats:
    by_key = {t.key: t for t in tables}
    branches: dict[str, Unit] = {}
    groups: dict[str, Unit] = {}

    def units(branch: str, group: str) -> list[Unit]:
        found = [branches.setdefault(branch, Unit(branch))]
        if group:
            found.append(groups.setdefault(f"{branch}/{group}", Unit(f"{branch}/{group}")))
        return found

    for row in by_key["members"].rows:
        units(row[2], row[3])
    # Study and reminders: 姓名, 支部, 党小组 at 4-6; 状态 at 7.
    for key, part in (("study", "study"), ("reminders", "reminders")):
        for row in by_key[key].rows:
            for unit in units(row[5], row[6]):
                getattr(unit, part).add(row[7] != "未确认")
    by_kind: dict[str, Rate] = defaultdict(Rate)
    held: set[int] = set()
    # Meetings: 类型 at 1, 支部 and 党小组 at 6-7, 结果 at 11 (未结束 until the close).
    for row in by_key["meetings"].rows:
        if row[11] == "未结束":
            continue
        came = row[11] in ("出席", "迟到")
        by_kind[row[1]].add(came)
        if came:
            held.add(row[0])
        for unit in units(row[6], row[7]):
            unit.attendance.add(came)
    # Volunteer service: 支部, 党小组 at 7-8, hours at 12.
    volunteers: set[str] = set()
    activities: set[int] = set()
    for row in by_key["volunteers"].rows:
        if isinstance(row[12], Decimal):
            # Held means someone served: sign-ups all cancelled or no-shows do not count.
            activities.add(row[0])
            volunteers.add(f"{row[7]}/{row[6]}")
            for unit in units(row[7], row[8]):
                unit.hours += row[12]
    members = by_key["members"].rows
    return Stats(
        scope,
        period,
        sorted(branches.values(), key=lambda u: u.name),
        sorted(groups.values(), key=lambda u: u.name),
        dict(sorted(by_kind.items())),
        compliance_view,
        len({row[0] for row in by_key["study"].rows}),
        len({row[0] for row in by_key["reminders"].rows}),
        len(held),
        len(activities),
        len(volunteers),
        sum(1 for row in members if row[8] == "是"),
        sum(1 for row in members if row[7] == "是" and row[8] == "是"),
    )


async def compliance_in(
    session: AsyncSession,
    settings: MeetingSettings,
    actor: Actor,
    scope: ledger.Scope,
    period: ledger.ReportPeriod,
    *,
    now: datetime,
) -> Compliance:
    """Required vs held for each quarter the period spans (its months, for a month)."""
    months = (period.end.year - period.start.year) * 12 + period.end.month - period.start.month
    views = [period.key] if months == 1 else period.quarters
    required = held = 0
    overdue: list[str] = []
    lang = actor.language
    for view in views:
        report = await compliance.report(session, settings, actor, view, now=now)
        for branch in report.branches:
            if branch.branch_id not in scope.branch_ids:
                continue
            rows = [(branch.name, row) for row in branch.kinds]
            rows += [(f"{branch.name}/{g.name}", row) for g in branch.groups for row in g.kinds]
            for unit, row in rows:
                required += row.required
                held += min(row.held, row.required)
                overdue += [
                    f"{unit} {ledger.KIND_NAMES.get(row.kind, row.kind)} {p.label(lang)}"
                    for p in row.overdue
                ]
    return Compliance(required, held, list(dict.fromkeys(overdue)))


async def build(
    session: AsyncSession,
    settings: MeetingSettings,
    actor: Actor,
    period_text: str | None,
    branch_name: str | None,
    *,
    now: datetime,
) -> Stats:
    scope, period, tables = await ledger.build(
        session, settings.org_id, settings.tz, actor, period_text, branch_name, now=now
    )
    view = await compliance_in(session, settings, actor, scope, period, now=now)
    return from_tables(scope, period, tables, view)
