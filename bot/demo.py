"""`branchbot demo`: the whole product in one scripted chat, with no token and no internet.

It starts the local Bot API sandbox on loopback, runs the real bot against it in polling mode
with a temporary SQLite file, and plays people talking to it, in Chinese or (`--lang en`) in
English: the organisation's language, the members', their names and what they type. Each feature
adds its scene here.

The bot's clock starts at 09:00 today and moves on when the script says so ("three days later"),
one due job at a time, so every scheduled notice fires on time and in the order it would, and
the next line of the script waits until the bot has said all it has to say.
"""

from __future__ import annotations

import asyncio
import html
import re
import signal
import sys
import tempfile
from collections.abc import Callable
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.app import running
from bot.channels.address import FEISHU, TELEGRAM, alias
from bot.config import parse_config
from bot.sandbox import BotApiSandbox, run_sandbox
from bot.sandbox.feishu import FeishuStandIn, run_feishu_standin
from bot.services import dashboard_links, members
from bot.texts import CATALOGS, plain, t
from handlers.common import Deps
from storage.db import Database
from storage.models import Delivery, Job, utcnow

Who = tuple[int, str]
Buttons = list[tuple[str, str]]
LANGUAGES = ("zh", "en")
TIMEZONE = "Asia/Shanghai"
# The demo's day starts here, whenever it is run: office hours, not the middle of the night.
DAY_STARTS = time(9, 0)
# The bot has said all it will when nothing new has reached the sandbox for this long and
# nothing due is left in the outbox or the job table (an edit follows a button's answer in
# milliseconds).
QUIET_SECONDS = 0.1
SETTLE_TIMEOUT = 20.0

# A check-in code as sent: in <code> on Telegram, in backticks in a Feishu card.
_CODE = re.compile(r"(?:<code>|`)(\d{6})(?:</code>|`)")
_NUMBER = re.compile(r"#(\d+)")
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Cast:
    """Who plays the demo and what they say, in one language."""

    lang: str
    organisation: str
    admin: Who
    zhang: Who
    li: Who
    zhao: Who
    qian: Who
    roster_file: str
    roster: bytes
    study_title: str
    study_body: str
    reflection: str
    poll_kind: str
    poll_title: str
    leave_reason: str
    minutes: str
    activity: str
    place: str
    task: str
    postpone_reason: str
    headings: tuple[str, ...]
    dashboard: str
    links_note: str
    # How the transcript shows a command list it has already shown once in full.
    help_again: str
    finished: str

    @property
    def members(self) -> tuple[Who, ...]:
        return (self.zhang, self.li, self.zhao, self.qian)

    def heading(self, number: int) -> str:
        return f"\n—— {number}. {self.headings[number - 1]} ——"

    def when(self, moment: datetime) -> str:
        """A time marker: when the next lines happen on the bot's clock."""
        local = moment.astimezone(ZoneInfo(TIMEZONE))
        weekday = plain(t(self.lang, "holidays.weekdays")).split(",")[local.weekday()]
        return f"⏱ {local:%Y-%m-%d} {weekday} {local:%H:%M}"


ZH = Cast(
    lang="zh",
    organisation="示范局机关党委",
    admin=(100, "王主任"),
    zhang=(201, "张三"),
    li=(202, "李四"),
    zhao=(203, "赵敏"),
    qian=(204, "钱伟"),
    roster_file="花名册.csv",
    # GBK, as Excel in Chinese saves a CSV.
    roster=(
        "姓名,支部,党小组,角色,电话\n"
        "张三,机关第一支部,第一党小组,党员,13800000001\n"
        "李四,机关第一支部,第一党小组,党员,13800000002\n"
        "赵敏,机关第一支部,第二党小组,党小组长,\n"
        "钱伟,机关第一支部,第二党小组,书记,\n"
        "孙丽,机关第二支部,,书记,\n"
    ).encode("gbk"),
    study_title="第一议题",
    study_body="学习贯彻党的二十届四中全会精神",
    reflection="对照会议精神查找差距，把学习成果落实到岗位工作中。",
    poll_kind="党员大会",
    poll_title="学习四中全会精神",
    leave_reason="赴省委党校参加培训",
    minutes="传达学习四中全会精神，每名党员结合岗位撰写心得。",
    activity="社区环境整治",
    place="幸福里社区",
    task="整理本季度党建工作台账",
    postpone_reason="等待上级下发台账模板",
    headings=(
        "管理员导入花名册",
        "两名党员用邀请码加入",
        "党员尝试书记命令被拒绝",
        "书记发布学习内容",
        "两人确认，一人写心得",
        "书记查看完成情况并催办",
        "时间征集",
        "一键定为会议，发出通知；一人请假",
        "三天后开会：会前提醒，每分钟更换的签到码",
        "签到结束：考勤定稿，缺席者补学",
        "三会一课完成情况",
        "发布志愿服务活动：2 个名额",
        "三人报名，一人候补",
        "一人取消，候补者补上并确认",
        "三天后活动：提醒，现场签到、签退",
        "签退截止：时长定稿",
        "党费：设定金额、党员报缴、书记确认",
        "任务清单：布置、延期（写明原因）、完成销号",
    ),
    dashboard="网页工作台（演示数据）",
    links_note="（每个链接只能用一次；再次运行演示可得到新链接。端口 {port}。）\n按 Ctrl+C 停止。",
    help_again="（{count} 条，同 /help，此处从略）",
    finished="演示结束",
)

EN = Cast(
    lang="en",
    organisation="Demo Bureau Party Committee",
    admin=(100, "Director Wang"),
    zhang=(201, "Zhang Wei"),
    li=(202, "Li Na"),
    zhao=(203, "Zhao Min"),
    qian=(204, "Qian Feng"),
    roster_file="roster.csv",
    roster=(
        b"name,branch,group,role,phone\n"
        b"Zhang Wei,Bureau Branch 1,Group 1,member,13800000001\n"
        b"Li Na,Bureau Branch 1,Group 1,member,13800000002\n"
        b"Zhao Min,Bureau Branch 1,Group 2,group leader,\n"
        b"Qian Feng,Bureau Branch 1,Group 2,secretary,\n"
        b"Sun Li,Bureau Branch 2,,secretary,\n"
    ),
    study_title="First topic",
    study_body="The spirit of the Fourth Plenary Session of the 20th Central Committee",
    reflection="I checked my work against the session's spirit and will apply it at my post.",
    poll_kind="general",
    poll_title="Studying the Fourth Plenum",
    leave_reason="On a training course at the provincial Party school",
    minutes="Relayed the Fourth Plenum; every member writes a reflection on their own work.",
    activity="Community clean-up",
    place="Xingfuli Community",
    task="Compile this quarter's Party-work ledger",
    postpone_reason="waiting for the new ledger template",
    headings=(
        "The admin imports the roster",
        "Two members join with their invite links",
        "A member tries a secretary's command",
        "The secretary posts a study item",
        "Two confirm, one writes a reflection",
        "The secretary follows up and nudges",
        "Finding a time that suits",
        "The best slot becomes a meeting; one member asks for leave",
        "Three days later: reminders, check-in with the rotating code",
        "Check-in closes: attendance is final, make-up for the absent",
        "Which meetings are still owed",
        "A volunteer activity with 2 places",
        "Three sign up; the third waits",
        "A cancellation promotes the waitlist",
        "Three days later: reminders, check-in and check-out",
        "Check-out closes: the hours are final",
        "Party dues for one month: amounts, reported, confirmed",
        "A task: assigned, postponed with a reason, done",
    ),
    dashboard="The dashboard, with the demo's records",
    links_note=(
        "(each link works once; run the demo again for new ones. Port {port}.)\n"
        "Press Ctrl+C to stop."
    ),
    help_again=" ({count} commands, as /help lists them: not repeated here)",
    finished="demo finished",
)

CASTS = {"zh": ZH, "en": EN}


@dataclass
class DemoClock:
    """The bot's clock in the demo: real time moved to 09:00 today, plus however far the script
    has moved it on, so a meeting three days away can be held and closed in seconds."""

    offset: timedelta = field(default_factory=timedelta)

    @classmethod
    def from_morning(cls, tz: ZoneInfo) -> DemoClock:
        now = utcnow()
        morning = datetime.combine(now.astimezone(tz).date(), DAY_STARTS, tzinfo=tz)
        return cls(morning - now)

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def advance_to(self, moment: datetime) -> None:
        self.offset += max(moment - self(), timedelta(0))


class Transcript:
    """What the demo prints: the sandbox's events, the headings, and a time marker before the
    first event after the clock has moved. A command list already shown is not repeated."""

    def __init__(self, out: Callable[[str], None], cast: Cast) -> None:
        self.out = out
        self.cast = cast
        self.help_title = plain(_TAG.sub("", t(cast.lang, "help.title")))
        self.help_shown = False
        self._marker: str | None = None
        self._last_marker: str | None = None

    def say(self, line: str) -> None:
        self.out(line)

    def mark(self, marker: str) -> None:
        """Print `marker` before the next event, unless it is the one already shown."""
        self._marker = None if marker == self._last_marker else marker

    def event(self, line: str) -> None:
        if self._marker is not None:
            self.out(self._marker)
            self._last_marker, self._marker = self._marker, None
        self.out(self._without_repeated_help(line))

    def _without_repeated_help(self, line: str) -> str:
        head, found, commands = line.partition(f"\n\n{self.help_title}\n")
        if not found:
            return line
        if not self.help_shown:
            self.help_shown = True
            return line
        count = len(commands.splitlines())
        return f"{head}\n\n{self.help_title}{self.cast.help_again.format(count=count)}"


def _visible(template: str) -> str:
    """The text a user sees of a catalog template's opening, up to its first parameter."""
    return html.unescape(_TAG.sub("", template.split("{", 1)[0])).strip()


class Shown:
    """A message as its reader sees it, on either channel, as it is now (an edit changes it)."""

    def __init__(self, ref: int | str, read: Callable[[], tuple[str, str, Buttons]]) -> None:
        self.ref = ref
        self._read = read

    @property
    def text(self) -> str:
        """As sent: the HTML subset on Telegram, card markdown on Feishu."""
        return self._read()[0]

    @property
    def plain(self) -> str:
        return self._read()[1]

    @property
    def buttons(self) -> Buttons:
        """(label, action data) of its buttons, in order."""
        return self._read()[2]


class People(Protocol):
    """The cast's side of one messenger: what they send and what reaches them."""

    def events(self) -> int: ...

    def count(self, who: Who) -> int: ...

    async def wait(self, who: Who, after: int) -> Shown: ...

    async def say(self, who: Who, text: str) -> None: ...

    async def upload(self, who: Who, file_name: str, data: bytes) -> None: ...

    async def press(self, who: Who, message: Shown, data: str) -> None: ...

    async def wait_for_edit(self, who: Who, message: Shown, edits: int) -> None: ...

    def account(self, who: Who) -> int: ...

    def joining(self, code: str) -> str: ...


class TelegramPeople:
    def __init__(self, sandbox: BotApiSandbox) -> None:
        self.sandbox = sandbox

    def events(self) -> int:
        return len(self.sandbox.transcript)

    def count(self, who: Who) -> int:
        return len(self.sandbox.messages_to(who[0]))

    async def wait(self, who: Who, after: int) -> Shown:
        m = await self.sandbox.wait_for_message(who[0], after=after, timeout=15)

        def read() -> tuple[str, str, Buttons]:
            rows = (m.reply_markup or {}).get("inline_keyboard", [])
            buttons = [
                (str(b.get("text", "")), str(b.get("callback_data", ""))) for r in rows for b in r
            ]
            return m.caption or m.text or "", m.plain_text or m.plain_caption or "", buttons

        return Shown(m.message_id, read)

    async def say(self, who: Who, text: str) -> None:
        await self.sandbox.user_message(who[0], text, first_name=who[1])

    async def upload(self, who: Who, file_name: str, data: bytes) -> None:
        await self.sandbox.user_document(who[0], file_name, data, first_name=who[1])

    async def press(self, who: Who, message: Shown, data: str) -> None:
        assert isinstance(message.ref, int)
        update = await self.sandbox.press_button(who[0], message.ref, data, first_name=who[1])
        await self.sandbox.wait_for_answer(update["callback_query"]["id"], timeout=10)

    async def wait_for_edit(self, who: Who, message: Shown, edits: int) -> None:
        assert isinstance(message.ref, int)
        await self.sandbox.wait_for_edit(who[0], message.ref, edits=edits, timeout=10)

    def account(self, who: Who) -> int:
        return who[0]

    def joining(self, code: str) -> str:
        # Telegram's invite is a link that opens the bot with /start <code>.
        return f"/start {code}"


class FeishuPeople:
    """The cast on Feishu: each has an open id, and writes to the bot through the stand-in."""

    def __init__(self, standin: FeishuStandIn, cast: Cast) -> None:
        self.standin = standin
        for who in (cast.admin, *cast.members):
            standin.add_user(self.open_id(who), who[1])

    @staticmethod
    def open_id(who: Who) -> str:
        return f"ou_demo{who[0]}"

    def events(self) -> int:
        return len(self.standin.transcript) + len(self.standin.calls)

    def count(self, who: Who) -> int:
        return len(self.standin.messages_to(self.open_id(who)))

    async def wait(self, who: Who, after: int) -> Shown:
        m = await self.standin.wait_for_message(self.open_id(who), after=after, timeout=15)

        def read() -> tuple[str, str, Buttons]:
            buttons = [
                (label, str(value.get("d", "")) if isinstance(value, dict) else value)
                for label, value in m.buttons
            ]
            return m.text, m.plain, buttons

        return Shown(m.message_id, read)

    async def say(self, who: Who, text: str) -> None:
        await self.standin.user_says(self.open_id(who), text)

    async def upload(self, who: Who, file_name: str, data: bytes) -> None:
        await self.standin.user_sends_file(self.open_id(who), file_name, data)

    async def press(self, who: Who, message: Shown, data: str) -> None:
        label = next(label for label, d in message.buttons if d == data)
        await self.standin.press(self.open_id(who), str(message.ref), label)

    async def wait_for_edit(self, who: Who, message: Shown, edits: int) -> None:
        await self.standin.wait_for_edit(str(message.ref), edits=edits, timeout=10)

    def account(self, who: Who) -> int:
        return alias(FEISHU, self.open_id(who))

    def joining(self, code: str) -> str:
        # No deep links on Feishu: the member types the code.
        return code


@dataclass
class Scene:
    people: People
    transcript: Transcript
    db: Database
    clock: DemoClock

    @property
    def cast(self) -> Cast:
        return self.transcript.cast

    def say(self, line: str) -> None:
        self.transcript.say(line)

    def label(self, key: str, **params: Any) -> str:
        """A button's label as the bot shows it in the cast's language."""
        return plain(t(self.cast.lang, key, **params))

    def opening(self, key: str) -> str:
        """How a message of catalog text `key` starts, as its reader sees it."""
        return _visible(CATALOGS[self.cast.lang][key])

    async def expect(
        self, who: Who, after: int, *, opening: str | None = None, button: str | None = None
    ) -> Shown:
        """The first message to `who` after index `after` that shows the first words of catalog
        text `opening` and has a button labelled with catalog text `button`, whichever are given
        (other pushes, such as reminders, may arrive in between)."""
        shows = self.opening(opening) if opening else None
        label = self.label(button) if button else None
        index = after
        while True:
            message = await self.people.wait(who, index)
            if (shows is None or shows in message.plain) and (
                label is None or label in [text for text, _ in message.buttons]
            ):
                return message
            index += 1

    def count(self, who: Who) -> int:
        return self.people.count(who)

    def counts(self) -> dict[Who, int]:
        return {who: self.count(who) for who in self.cast.members}

    async def _busy(self) -> bool:
        """Whether a job is due by the bot's clock, or a message waits in the outbox."""
        now = self.clock()
        async with self.db.read() as session:
            job = await session.scalar(
                select(Job.id).where(Job.active.is_(True), Job.next_run_at <= now).limit(1)
            )
            delivery = await session.scalar(
                select(Delivery.id)
                .where(Delivery.status.in_(("pending", "sending")), Delivery.not_before <= now)
                .limit(1)
            )
        return job is not None or delivery is not None

    async def settle(self) -> None:
        """Wait until the bot has said all it has to say by now: due jobs fired, due messages
        sent, and nothing new (an edit, a notice) reaching the messenger for a moment."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_TIMEOUT
        seen, quiet_since = -1, 0.0
        while True:
            events = self.people.events()
            if events != seen or await self._busy():
                seen, quiet_since = events, loop.time()
            elif loop.time() - quiet_since >= QUIET_SECONDS:
                return
            if loop.time() > deadline:
                raise TimeoutError(f"the bot was still busy after {SETTLE_TIMEOUT:.0f}s")
            await asyncio.sleep(0.02)

    async def _next_due(self, until: datetime) -> datetime | None:
        """The next moment, up to `until`, when a job is due or a held message may go."""
        now = self.clock()
        async with self.db.read() as session:
            job = await session.scalar(
                select(Job.next_run_at)
                .where(Job.active.is_(True), Job.next_run_at > now, Job.next_run_at <= until)
                .order_by(Job.next_run_at)
                .limit(1)
            )
            held = await session.scalar(
                select(Delivery.not_before)
                .where(
                    Delivery.status == "pending",
                    Delivery.not_before > now,
                    Delivery.not_before <= until,
                )
                .order_by(Delivery.not_before)
                .limit(1)
            )
        due = [moment for moment in (job, held) if moment is not None]
        return min(due) if due else None

    async def advance_to(self, moment: datetime) -> None:
        """Move the bot's clock on to `moment`, stopping at every job due on the way so each
        fires on time and its notices come out in order."""
        while (due := await self._next_due(moment)) is not None:
            self.clock.advance_to(due)
            self.transcript.mark(self.cast.when(due))
            await self.settle()
        self.clock.advance_to(moment)
        self.transcript.mark(self.cast.when(moment))
        await self.settle()

    async def press(self, who: Who, message: Shown, data: str) -> None:
        await self.people.press(who, message, data)
        await self.settle()

    async def _answered(self, who: Who, before: int) -> Shown:
        reply = await self.people.wait(who, before)
        await self.settle()
        return reply

    async def send(self, who: Who, text: str) -> Shown:
        before = self.count(who)
        await self.people.say(who, text)
        return await self._answered(who, before)

    async def upload(self, who: Who, file_name: str, data: bytes) -> Shown:
        before = self.count(who)
        await self.people.upload(who, file_name, data)
        return await self._answered(who, before)

    async def tap(self, who: Who, message: Shown, key: str, **params: Any) -> Shown:
        """Tap the button labelled with catalog text `key`; the bot answers with a message."""
        before = self.count(who)
        await self.people.press(who, message, button_data(message, self.label(key, **params)))
        return await self._answered(who, before)

    async def tap_for_toast(self, who: Who, message: Shown, key: str) -> None:
        """A button that answers with a short notice instead of a message."""
        await self.press(who, message, button_data(message, self.label(key)))


def button_data(message: Shown, label: str) -> str:
    for text, data in message.buttons:
        if text == label:
            return data
    raise LookupError(f"no button {label!r}; the message has {[t for t, _ in message.buttons]}")


def invite_codes(text: str, names: tuple[str, ...]) -> dict[str, str]:
    """Each name's invite code from /invites: the name, its place in brackets, then the
    Telegram link, or the code alone where there is no Telegram."""
    codes: dict[str, str] = {}
    for name in names:
        link_or_code = r"(?:https://t\.me/\w+\?start=|(?:邀请码|code) )(\w+)"
        match = re.search(rf"^{re.escape(name)}\s*[（(][^\n]*\n{link_or_code}", text, re.MULTILINE)
        if match is None:
            raise KeyError(f"no invite link for {name}")
        codes[name] = match[1]
    return codes


def _number(message: Shown) -> int:
    """The record number (#12) a confirmation names first."""
    match = _NUMBER.search(message.plain)
    if match is None:
        raise AssertionError(f"no record number in {message.plain!r}")
    return int(match[1])


def _code(message: Shown) -> str:
    match = _CODE.search(message.text)
    if match is None:
        raise AssertionError(f"no check-in code in {message.plain!r}")
    return match[1]


def _buttons(message: Shown) -> list[tuple[str, str]]:
    return message.buttons


async def onboarding_scene(scene: Scene) -> dict[str, str]:
    c = scene.cast
    scene.say(c.heading(1))
    await scene.send(c.admin, "/start")
    # The upload is answered at once; the preview, and then the import, come from the
    # background (a worker process).
    before = scene.count(c.admin)
    await scene.upload(c.admin, c.roster_file, c.roster)
    preview = await scene.expect(c.admin, before, button="import.confirm")
    before = scene.count(c.admin)
    await scene.tap(c.admin, preview, "import.confirm")
    await scene.expect(c.admin, before, opening="import.done")
    invites = await scene.send(c.admin, "/invites")
    codes = invite_codes(invites.plain, tuple(who[1] for who in c.members))

    scene.say(c.heading(2))
    await scene.send(c.zhang, scene.people.joining(codes[c.zhang[1]]))
    await scene.send(c.li, scene.people.joining(codes[c.li[1]]))
    await scene.send(c.zhang, "/me")

    scene.say(c.heading(3))
    await scene.send(c.li, "/members")
    await scene.send(c.admin, "/members")
    return codes


async def study_scene(scene: Scene, codes: dict[str, str]) -> None:
    c = scene.cast
    scene.say(c.heading(4))
    await scene.send(c.qian, scene.people.joining(codes[c.qian[1]]))
    await scene.send(c.zhao, scene.people.joining(codes[c.zhao[1]]))
    before = scene.counts()
    due = scene.clock().astimezone(ZoneInfo(TIMEZONE)).date() + timedelta(days=7)
    keyword = "截止" if c.lang == "zh" else "due"
    await scene.send(c.qian, f"/study {c.study_title} | {c.study_body} | {keyword} {due}")
    pushes = {
        who: await scene.expect(who, before[who], button="item.btn_studied") for who in c.members
    }

    scene.say(c.heading(5))
    await scene.tap_for_toast(c.zhang, pushes[c.zhang], "item.btn_studied")
    await scene.tap(c.li, pushes[c.li], "item.btn_reflect")
    await scene.send(c.li, c.reflection)
    await scene.tap_for_toast(c.qian, pushes[c.qian], "item.btn_studied")

    scene.say(c.heading(6))
    await scene.send(c.qian, "/item 1")
    before = scene.counts()
    await scene.send(c.qian, "/nudge 1")
    nudged = await scene.expect(c.zhao, before[c.zhao], button="item.btn_studied")
    await scene.tap_for_toast(c.zhao, nudged, "item.btn_studied")
    await scene.send(c.qian, "/items")


async def meeting_scene(scene: Scene) -> None:
    c = scene.cast
    scene.say(c.heading(7))
    tz = ZoneInfo(TIMEZONE)
    today = scene.clock().astimezone(tz).date()
    first, second = today + timedelta(days=3), today + timedelta(days=4)
    before = scene.counts()
    await scene.send(
        c.qian, f"/timepoll {c.poll_kind} {c.poll_title} | {first} 14:30 | {second} 09:00"
    )
    status = await scene.expect(c.qian, before[c.qian], button="poll.btn_remind")
    polls = {
        who: await scene.expect(who, before[who], opening="poll.invitation") for who in c.members
    }
    ticks = {c.zhang: (0,), c.li: (0, 1), c.zhao: (1,), c.qian: (0,)}
    for who, slots in ticks.items():
        for slot in slots:
            await scene.press(who, polls[who], _buttons(polls[who])[slot][1])
    await scene.people.wait_for_edit(c.qian, status, 5)
    make = _visible(CATALOGS[c.lang]["poll.btn_make"])
    best = next(data for label, data in _buttons(status) if label.startswith(make))

    scene.say(c.heading(8))
    before = scene.counts()
    await scene.press(c.qian, status, best)
    made = await scene.expect(c.qian, before[c.qian], opening="poll.made")
    meeting = _number(made)
    invites = {
        who: await scene.expect(who, before[who], button="meeting.btn_attend") for who in c.members
    }
    await scene.tap_for_toast(c.zhang, invites[c.zhang], "meeting.btn_attend")
    await scene.tap_for_toast(c.qian, invites[c.qian], "meeting.btn_attend")
    await scene.tap(c.li, invites[c.li], "meeting.btn_leave")
    await scene.send(c.li, c.leave_reason)

    scene.say(c.heading(9))
    start = datetime.combine(first, time(14, 30), tzinfo=tz)
    await scene.advance_to(start - timedelta(minutes=5))
    shown = await scene.send(c.qian, f"/checkincode {meeting}")
    code = _code(shown)
    await scene.send(c.zhang, f"/checkin {code}")
    await scene.send(c.qian, f"/checkin {code}")
    await scene.send(c.zhao, "/checkin 000000")

    scene.say(c.heading(10))
    before = scene.counts()
    await scene.advance_to(start + timedelta(minutes=31))
    await scene.expect(c.qian, before[c.qian], opening="meeting.closed_report")
    makeup = await scene.expect(c.zhao, before[c.zhao], opening="item.head_makeup")
    await scene.expect(c.li, before[c.li], opening="item.head_makeup")
    before = scene.counts()
    await scene.send(c.qian, f"/minutes {meeting} {c.minutes}")
    await scene.tap_for_toast(c.zhao, makeup, "item.btn_studied")
    await scene.send(c.qian, f"/attendance {meeting}")

    scene.say(c.heading(11))
    await scene.send(c.qian, "/compliance")
    await scene.send(c.zhao, "/me")


async def volunteer_scene(scene: Scene) -> None:
    c = scene.cast
    scene.say(c.heading(12))
    tz = ZoneInfo(TIMEZONE)
    day = scene.clock().astimezone(tz).date() + timedelta(days=3)
    before = scene.counts()
    posted = await scene.send(c.qian, f"/activity {c.activity} | {day} 09:00-11:30 | {c.place} | 2")
    activity = _number(posted)
    calls = {
        who: await scene.expect(who, before[who], button="activity.btn_signup") for who in c.members
    }

    scene.say(c.heading(13))
    await scene.tap(c.zhang, calls[c.zhang], "activity.btn_signup")
    await scene.tap(c.li, calls[c.li], "activity.btn_signup")
    await scene.tap(c.zhao, calls[c.zhao], "activity.btn_signup")

    scene.say(c.heading(14))
    before = scene.counts()
    await scene.tap(c.li, calls[c.li], "activity.btn_cancel")
    offer = await scene.expect(c.zhao, before[c.zhao], button="activity.btn_accept")
    await scene.tap(c.zhao, offer, "activity.btn_accept")
    await scene.send(c.qian, f"/roster {activity}")

    scene.say(c.heading(15))
    start = datetime.combine(day, time(9, 0), tzinfo=tz)
    end = start.replace(hour=11, minute=30)
    await scene.advance_to(start - timedelta(minutes=5))
    shown = await scene.send(c.qian, f"/activitycode {activity}")
    code = _code(shown)
    await scene.send(c.zhang, f"/checkin {code}")
    await scene.send(c.zhao, f"/checkin {code}")
    await scene.advance_to(end - timedelta(minutes=30))
    shown = await scene.send(c.qian, f"/activitycode {activity} out")
    await scene.send(c.zhang, f"/checkin {_code(shown)}")

    scene.say(c.heading(16))
    before = scene.counts()
    await scene.advance_to(end + timedelta(minutes=61))
    await scene.expect(c.qian, before[c.qian], opening="activity.closed_report")
    await scene.send(c.qian, f"/roster {activity}")
    await scene.send(c.qian, "/hours")
    await scene.send(c.zhao, "/me")


async def dues_and_task_scene(scene: Scene) -> None:
    c = scene.cast
    scene.say(c.heading(17))
    await scene.send(c.qian, f"/setdues {c.zhang[1]} 50")
    await scene.send(c.qian, f"/setdues {c.zhao[1]} 32.5")
    before = scene.count(c.zhang)
    await scene.send(c.zhang, "/todo")
    owed = await scene.expect(c.zhang, before, button="dues.btn_paid")
    await scene.tap(c.zhang, owed, "dues.btn_paid")
    before = scene.count(c.qian)
    await scene.send(c.qian, "/dues")
    confirm = await scene.expect(c.qian, before, opening="dues.confirm_hint")
    await scene.tap(c.qian, confirm, "dues.btn_confirm_all", count=1)

    scene.say(c.heading(18))
    due = scene.clock().astimezone(ZoneInfo(TIMEZONE)).date() + timedelta(days=7)
    before = scene.count(c.zhang)
    made = await scene.send(c.qian, f"/task {c.task} | {c.zhang[1]} | {due}")
    task = _number(made)
    card = await scene.expect(c.zhang, before, button="task.btn_postpone")
    await scene.tap(c.zhang, card, "task.btn_postpone")
    await scene.send(c.zhang, f"{due + timedelta(days=3)} {c.postpone_reason}")
    await scene.tap(c.zhang, card, "task.btn_done")
    await scene.send(c.qian, "/tasks")
    await scene.send(c.qian, f"/task {task}")


async def serve_dashboard(scene: Scene, deps: Deps, port: int) -> None:
    """Keep the demo's bot and dashboard up, with a login link for the secretary and the admin,
    until Ctrl+C or SIGTERM."""
    c = scene.cast
    base = deps.config.dashboard.public_url.rstrip("/")
    scene.say(f"\n—— {c.dashboard} ——")
    for who in (c.qian, c.admin):
        async with deps.db.read() as session:
            actor = await members.get_actor(
                session, scene.people.account(who), deps.default_language
            )
        assert actor is not None
        async with deps.db.write() as session:
            token, _ = await dashboard_links.issue(
                session, actor, minutes=deps.config.dashboard.link_minutes, now=deps.now()
            )
        role = plain(t(c.lang, f"role.{actor.role.value}"))
        # "name (role): link", one a line (bot/screenshots.py reads them).
        scene.say(f"{actor.name} ({role}): {base}/dashboard/login?t={token}")
    scene.say(c.links_note.format(port=port))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def run_demo(
    out: Callable[[str], None] | None = None,
    *,
    serve_port: int | None = None,
    lang: str = "zh",
    channel: str = TELEGRAM,
) -> int:
    cast = CASTS[lang]
    transcript = Transcript(out or (lambda line: print(line, flush=True)), cast)
    with tempfile.TemporaryDirectory(prefix="branchbot-demo-") as tmp:
        settings = _demo_settings(cast, Path(tmp) / "demo.db", serve_port)
        async with AsyncExitStack() as stack:
            people: People
            if channel == FEISHU:
                standin = FeishuStandIn()
                standin.on_event = transcript.event
                base = await stack.enter_async_context(run_feishu_standin(standin))
                feishu_people = FeishuPeople(standin, cast)
                people = feishu_people
                # An office on Feishu alone: no Telegram token; the admin by their open id.
                settings["feishu"] = {
                    "app_id": standin.app_id,
                    "app_secret": standin.app_secret,
                    "mode": "webhook",
                    "verification_token": standin.verification_token,
                    "encrypt_key": standin.encrypt_key,
                    "api_base_url": base,
                    "port": 0,
                    "admins": [feishu_people.open_id(cast.admin)],
                    "per_chat_interval_seconds": 0.2,
                }
                where = f"local Feishu Open API at {base}"
            else:
                sandbox = BotApiSandbox()
                sandbox.on_event = transcript.event
                base = await stack.enter_async_context(run_sandbox(sandbox))
                people = TelegramPeople(sandbox)
                settings["telegram"] = {
                    "token": sandbox.token,
                    "api_base_url": f"{base}/bot",
                    "mode": "polling",
                    # The demo plays a week's work in half a minute.
                    "member_burst": 200,
                }
                settings["organisation"]["admins"] = [cast.admin[0]]
                where = f"local Bot API at {base}"
            config = parse_config(settings, env={})
            transcript.say(f"branchbot demo: {where}, store {tmp}/demo.db")
            clock = DemoClock.from_morning(ZoneInfo(TIMEZONE))
            transcript.mark(cast.when(clock()))
            async with running(config, clock=clock) as (_, deps):
                if channel == FEISHU:
                    standin.callback_url = f"{deps.metrics.feishu_at}{config.feishu.path}"
                scene = Scene(people, transcript, deps.db, clock)
                try:
                    await scene.settle()
                    codes = await onboarding_scene(scene)
                    await study_scene(scene, codes)
                    await meeting_scene(scene)
                    await volunteer_scene(scene)
                    await dues_and_task_scene(scene)
                    if serve_port is not None:
                        await serve_dashboard(scene, deps, serve_port)
                except (TimeoutError, LookupError, AssertionError) as exc:
                    print(f"demo failed: {exc}", file=sys.stderr)
                    return 1
    transcript.say(f"\n{cast.finished}")
    return 0


def _demo_settings(cast: Cast, db_path: Path, serve_port: int | None) -> dict[str, Any]:
    return {
        "database": {"url": f"sqlite+aiosqlite:///{db_path}"},
        "organisation": {"name": cast.organisation, "timezone": TIMEZONE, "language": cast.lang},
        # The organisation's usual quiet hours (22:00 to 07:30); a brisk pace.
        "delivery": {"per_chat_interval_seconds": 0.2},
        # Jobs due after the clock moves on fire within a fraction of a second.
        "scheduler": {"tick_seconds": 0.05},
        # The clock jumps days ahead: no admin reminder about next year's holidays in the middle
        # of the scenes.
        "holidays": {"notice_reminder": False},
        "dashboard": {
            "enabled": serve_port is not None,
            "port": serve_port or 8080,
            "public_url": f"http://127.0.0.1:{serve_port or 8080}",
        },
        # /healthz and /metrics on any free port: the demo never fights over 8081.
        "health": {"port": 0},
    }
