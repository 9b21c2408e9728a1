"""The quantitative part of a half-year or annual work report (工作总结), filled in from the
records: a draft for the secretary to complete, as DOCX and as Markdown.

The document is built once as sections of paragraphs and tables, then written in both formats,
so the two always say the same.
"""

from __future__ import annotations

import io
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from docx import Document
from docx.shared import Pt
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE as _CONTROL
from sqlalchemy.ext.asyncio import AsyncSession

from bot.auth import Actor
from bot.errors import Invalid
from bot.services import ledger, stats
from bot.services.meetings import MeetingSettings
from bot.services.stats import Rate, Stats

# A member is named under the problems when they confirmed less than this share of at least
# LOW_MIN_PUSHES pushes.
LOW_SHARE = Decimal("0.5")
LOW_MIN_PUSHES = 2
SUMMARY_PERIODS = ("H1", "H2")


@dataclass
class Section:
    heading: str
    paragraphs: list[str] = field(default_factory=list)
    table: tuple[tuple[str, ...], list[list[str]]] | None = None


@dataclass(frozen=True)
class Summary:
    title: str
    sections: list[Section]


def check_period(period: ledger.ReportPeriod) -> None:
    """A summary is for a half-year or a year."""
    if not (period.key.endswith(SUMMARY_PERIODS) or len(period.key) == 4):
        raise Invalid("summary.usage")


def _pct(rate: Rate) -> str:
    return f"{rate.percent}%" if rate.percent is not None else "—"


def _period_name(period: ledger.ReportPeriod) -> str:
    year = period.start.year
    if period.key.endswith("H1"):
        return f"{year}年上半年"
    if period.key.endswith("H2"):
        return f"{year}年下半年"
    return f"{year}年"


@dataclass
class Digest:
    """What the summary needs from the ledger's rows, gathered as they stream past: a year of a
    large organisation is never held in memory whole."""

    # (branch, meeting kind) -> the meetings someone came to.
    held: dict[tuple[str, str], set[int]] = field(default_factory=lambda: defaultdict(set))
    dues_rows: int = 0
    dues_paid: int = 0
    dues_confirmed: Decimal = Decimal(0)
    tasks: Counter[str] = field(default_factory=Counter)
    task_count: int = 0
    # "姓名（支部）" -> confirmed / pushed, over study items and reminders.
    confirmations: dict[str, Rate] = field(default_factory=lambda: defaultdict(Rate))

    def add(self, key: str, rows: list[ledger.Row]) -> None:
        if key == "meetings":
            # 支部 at 6, 类型 at 1, 结果 at 11.
            for row in rows:
                if row[11] in ("出席", "迟到"):
                    self.held[(row[6], row[1])].add(row[0])
        elif key in ("study", "reminders"):
            # 姓名 and 支部 at 4-5, 状态 at 7.
            for row in rows:
                self.confirmations[f"{row[4]}（{row[5]}）"].add(row[7] != "未确认")
        elif key == "dues":
            self.dues_rows += len(rows)
            for row in rows:
                if row[5] == "已确认":
                    self.dues_paid += 1
                    self.dues_confirmed += row[4]
        elif key == "tasks":
            self.task_count += len(rows)
            self.tasks.update(row[4] for row in rows)


# The sheets the summary reads; the others are not fetched at all.
DIGESTED = ("study", "reminders", "meetings", "dues", "tasks")


async def digest(sheets: list[ledger.Sheet]) -> Digest:
    found = Digest()
    for sheet in sheets:
        if sheet.key in DIGESTED:
            async for batch in sheet.batches():
                found.add(sheet.key, batch)
    return found


def build(stats: Stats, rows: Digest, org_name: str) -> Summary:
    scope = stats.scope.label or org_name
    s = stats
    study, reminders, awareness = s.total("study"), s.total("reminders"), s.total("awareness")
    sections = [
        Section(
            "一、基本情况",
            [f"本期在册党员 {s.members} 名，已绑定机器人 {s.bound} 名。"],
        ),
        Section(
            "二、理论学习和廉政教育",
            [
                f"推送理论学习内容 {s.study_items} 次，应学习 {study.total} 人次，"
                f"已学习 {study.done} 人次，学习完成率 {_pct(study)}。",
                f"发送廉政提醒 {s.reminder_items} 次，应阅 {reminders.total} 人次，"
                f"已阅 {reminders.done} 人次，已阅率 {_pct(reminders)}。",
                f"知晓率（已确认/已推送）{_pct(awareness)}。",
            ],
        ),
    ]
    held = rows.held
    kinds = sorted({kind for _, kind in held})
    branches = sorted({branch for branch, _ in held})
    meeting_section = Section(
        "三、组织生活（三会一课）",
        [
            f"召开会议 {s.meetings_held} 次。"
            + "".join(f"{kind}出席率 {_pct(rate)}；" for kind, rate in s.by_kind.items()),
            f"按规定应开 {s.compliance.required} 次，已开 {s.compliance.held} 次。",
        ],
    )
    if kinds:
        meeting_section.table = (
            ("支部", *kinds),
            [[b, *(str(len(held[(b, k)])) for k in kinds)] for b in branches],
        )
    sections.append(meeting_section)
    sections.append(
        Section(
            "四、志愿服务",
            [
                f"开展志愿服务活动 {s.activities} 次，参与党员 {s.volunteers} 名，"
                f"累计服务 {s.hours} 小时。"
            ],
        )
    )
    sections.append(
        Section(
            "五、党费收缴",
            [
                f"已确认收缴党费 {rows.dues_confirmed:.2f} 元（{rows.dues_paid} 人次），"
                f"已报待确认 {rows.dues_rows - rows.dues_paid} 人次。"
            ],
        )
    )
    states = rows.tasks
    sections.append(
        Section(
            "六、任务落实",
            [
                f"布置任务 {rows.task_count} 项，已完成 {states['已完成']} 项，"
                f"进行中 {states['进行中']} 项，逾期 {states['已逾期']} 项。"
            ],
        )
    )
    problems: list[str] = []
    if s.compliance.overdue:
        problems.append("以下组织生活未按期召开：" + "；".join(s.compliance.overdue) + "。")
    low = _low_confirmation(rows.confirmations)
    if low:
        problems.append("以下党员学习和廉政提醒确认率偏低：" + "、".join(low) + "。")
    if states["已逾期"]:
        problems.append(f"有 {states['已逾期']} 项任务逾期未完成。")
    sections.append(Section("七、存在的问题", problems or ["（数据未显示突出问题，请补充。）"]))
    sections.append(Section("八、下一步打算", ["（请书记结合实际补充。）"]))
    title = f"{scope}{_period_name(s.period)}党建工作总结（初稿）"
    return Summary(title, sections)


def _low_confirmation(counts: dict[str, Rate]) -> list[str]:
    return [
        name
        for name, rate in sorted(counts.items())
        if rate.total >= LOW_MIN_PUSHES and Decimal(rate.done) / rate.total < LOW_SHARE
    ]


def markdown(summary: Summary) -> str:
    lines = [f"# {summary.title}", ""]
    for section in summary.sections:
        lines += [f"## {section.heading}", ""]
        for paragraph in section.paragraphs:
            lines += [paragraph, ""]
        if section.table:
            headers, rows = section.table
            lines.append("| " + " | ".join(headers) + " |")
            lines.append("|" + " --- |" * len(headers))
            lines += ["| " + " | ".join(row) + " |" for row in rows]
            lines.append("")
    return "\n".join(lines)


def _clean(text: str) -> str:
    """Word, like XLSX, refuses control characters a member may have typed into a name."""
    return _CONTROL.sub("", text)


def docx_bytes(summary: Summary) -> bytes:
    document = Document()
    style = document.styles["Normal"]
    style.font.size = Pt(12)
    document.add_heading(_clean(summary.title), level=0)
    for section in summary.sections:
        document.add_heading(section.heading, level=1)
        for paragraph in section.paragraphs:
            document.add_paragraph(_clean(paragraph))
        if section.table:
            headers, rows = section.table
            table = document.add_table(rows=1, cols=len(headers))
            table.style = "Table Grid"
            for cell, header in zip(table.rows[0].cells, headers, strict=True):
                cell.text = _clean(header)
            for row in rows:
                for cell, value in zip(table.add_row().cells, row, strict=True):
                    cell.text = _clean(value)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


async def summary_for(
    session: AsyncSession,
    settings: MeetingSettings,
    actor: Actor,
    period_text: str | None,
    branch_name: str | None,
    org_name: str,
    *,
    now: datetime,
) -> tuple[ledger.Scope, ledger.ReportPeriod, Summary]:
    found = await ledger.open_ledger(
        session, settings.org_id, settings.tz, actor, period_text, branch_name, now=now
    )
    scope, period = found.scope, found.period
    check_period(period)
    view = await stats.compliance_in(session, settings, actor, scope, period, now=now)
    figures = await stats.count(session, settings.org_id, settings.tz, scope, period, view)
    return scope, period, build(figures, await digest(found.sheets), org_name)


def file_stem(scope: ledger.Scope, period: ledger.ReportPeriod) -> str:
    return f"工作总结-{scope.label or '全部'}-{period.key}"
