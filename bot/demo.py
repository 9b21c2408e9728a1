"""`branchbot demo`: the whole product in one scripted chat, with no token and no internet.

It starts the local Bot API sandbox on loopback, runs the real bot against it in polling mode
with a temporary SQLite file, and plays people talking to it. Each feature adds its scene here.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import tempfile
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.app import running
from bot.config import parse_config
from bot.sandbox import BotApiSandbox, SentMessage, run_sandbox
from bot.services import dashboard_links, members
from handlers.common import Deps
from storage.models import utcnow

ADMIN = (100, "王主任")
ZHANG = (201, "张三")
LI = (202, "李四")
ZHAO = (203, "赵敏")
QIAN = (204, "钱伟")

DEMO_ROSTER = (
    "姓名,支部,党小组,角色,电话\n"
    "张三,机关第一支部,第一党小组,党员,13800000001\n"
    "李四,机关第一支部,第一党小组,党员,13800000002\n"
    "赵敏,机关第一支部,第二党小组,党小组长,\n"
    "钱伟,机关第一支部,第二党小组,书记,\n"
    "孙丽,机关第二支部,,书记,\n"
)
_CODE = re.compile(r"<code>(\d{6})</code>")
_MEETING_ID = re.compile(r"#(\d+)")
_INVITE_LINE = re.compile(r"^(\S+?)（[^）]*）\s*\nhttps://t\.me/\w+\?start=(\w+)", re.MULTILINE)


@dataclass
class DemoClock:
    """The bot's clock in the demo: real time plus however far the script has jumped ahead, so
    a meeting three days away can be checked in and closed in seconds."""

    offset: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return utcnow() + self.offset

    def advance_to(self, moment: datetime) -> None:
        self.offset += moment - self()


@dataclass
class Scene:
    sandbox: BotApiSandbox
    say: Callable[[str], None]
    clock: DemoClock = field(default_factory=DemoClock)

    async def expect(self, who: tuple[int, str], after: int, contains: str) -> SentMessage:
        """The first message to `who` after index `after` that shows `contains` (other pushes,
        such as reminders, may arrive in between)."""
        index = after
        while True:
            message = await self.sandbox.wait_for_message(who[0], after=index, timeout=15)
            if contains in (message.text or message.caption or ""):
                return message
            index += 1

    def count(self, who: tuple[int, str]) -> int:
        return len(self.sandbox.messages_to(who[0]))

    async def press(self, who: tuple[int, str], message: SentMessage, data: str) -> None:
        user_id, name = who
        update = await self.sandbox.press_button(user_id, message.message_id, data, first_name=name)
        await self.sandbox.wait_for_answer(update["callback_query"]["id"], timeout=10)

    async def send(self, who: tuple[int, str], text: str) -> SentMessage:
        user_id, name = who
        before = len(self.sandbox.messages_to(user_id))
        await self.sandbox.user_message(user_id, text, first_name=name)
        return await self.sandbox.wait_for_message(user_id, after=before, timeout=10)

    async def upload(self, who: tuple[int, str], file_name: str, data: bytes) -> SentMessage:
        user_id, name = who
        before = len(self.sandbox.messages_to(user_id))
        await self.sandbox.user_document(user_id, file_name, data, first_name=name)
        return await self.sandbox.wait_for_message(user_id, after=before, timeout=10)

    async def tap(self, who: tuple[int, str], message: SentMessage, label: str) -> SentMessage:
        user_id, name = who
        before = len(self.sandbox.messages_to(user_id))
        data = self.sandbox.button_data(message, label)
        await self.sandbox.press_button(user_id, message.message_id, data, first_name=name)
        return await self.sandbox.wait_for_message(user_id, after=before, timeout=10)

    async def tap_for_toast(self, who: tuple[int, str], message: SentMessage, label: str) -> None:
        """A button that answers with a short notice instead of a message."""
        user_id, name = who
        data = self.sandbox.button_data(message, label)
        update = await self.sandbox.press_button(user_id, message.message_id, data, first_name=name)
        await self.sandbox.wait_for_answer(update["callback_query"]["id"], timeout=10)

    async def pushed(self, who: tuple[int, str], after: int) -> SentMessage:
        return await self.sandbox.wait_for_message(who[0], after=after, timeout=15)


async def onboarding_scene(scene: Scene) -> dict[str, str]:
    scene.say("\n—— 1. 管理员导入花名册 / The admin imports the roster ——")
    await scene.send(ADMIN, "/start")
    # The upload is answered at once; the preview, and then the import, come from the
    # background (a worker process).
    before = scene.count(ADMIN)
    await scene.upload(ADMIN, "花名册.csv", DEMO_ROSTER.encode("gbk"))
    preview = await scene.expect(ADMIN, before, "花名册预览")
    before = scene.count(ADMIN)
    await scene.tap(ADMIN, preview, "确认导入")
    await scene.expect(ADMIN, before, "已导入")
    invites = await scene.send(ADMIN, "/invites")
    codes = dict(_INVITE_LINE.findall(invites.text or ""))

    scene.say("\n—— 2. 两名党员用邀请码加入 / Two members join with their invite codes ——")
    await scene.send(ZHANG, f"/start {codes['张三']}")
    await scene.send(LI, f"/start {codes['李四']}")
    await scene.send(ZHANG, "/me")

    scene.say("\n—— 3. 党员尝试书记命令被拒绝 / A member tries a secretary command ——")
    await scene.send(LI, "/members")
    await scene.send(ADMIN, "/members")
    return codes


async def study_scene(scene: Scene, codes: dict[str, str]) -> None:
    scene.say("\n—— 4. 书记发布学习内容 / The secretary posts a study item ——")
    await scene.send(QIAN, f"/start {codes['钱伟']}")
    await scene.send(ZHAO, f"/start {codes['赵敏']}")
    counts = {who: len(scene.sandbox.messages_to(who[0])) for who in (ZHANG, LI, ZHAO, QIAN)}
    await scene.send(QIAN, "/study 第一议题 | 学习贯彻党的二十届四中全会精神 | 截止 2099-12-31")
    pushes = {
        who: await scene.pushed(who, counts[who] + (1 if who == QIAN else 0))
        for who in (ZHANG, LI, ZHAO, QIAN)
    }

    scene.say("\n—— 5. 两人确认，一人写心得 / Two confirm, one writes a reflection ——")
    await scene.tap_for_toast(ZHANG, pushes[ZHANG], "已学习")
    await scene.tap(LI, pushes[LI], "写心得")
    await scene.send(LI, "对照会议精神查找差距，把学习成果落实到岗位工作中。")
    await scene.tap_for_toast(QIAN, pushes[QIAN], "已学习")

    scene.say("\n—— 6. 书记查看完成情况并催办 / The secretary follows up and nudges ——")
    await scene.send(QIAN, "/item 1")
    before = len(scene.sandbox.messages_to(ZHAO[0]))
    await scene.send(QIAN, "/nudge 1")
    await scene.pushed(ZHAO, before)
    await scene.send(QIAN, "/items")


def _buttons(message: SentMessage) -> list[tuple[str, str]]:
    rows = (message.reply_markup or {}).get("inline_keyboard", [])
    return [(str(b.get("text", "")), str(b.get("callback_data", ""))) for row in rows for b in row]


async def meeting_scene(scene: Scene) -> None:
    scene.say("\n—— 7. 时间征集 / Finding a time that suits ——")
    tz = ZoneInfo("Asia/Shanghai")
    today = scene.clock().astimezone(tz).date()
    first, second = today + timedelta(days=3), today + timedelta(days=4)
    members = (ZHANG, LI, ZHAO, QIAN)
    before = {who: scene.count(who) for who in members}
    await scene.send(QIAN, f"/timepoll 党员大会 学习四中全会精神 | {first} 14:30 | {second} 09:00")
    status = await scene.expect(QIAN, before[QIAN], "已投票")
    polls = {who: await scene.expect(who, before[who], "请勾选") for who in members}
    ticks = {ZHANG: (0,), LI: (0, 1), ZHAO: (1,), QIAN: (0,)}
    for who, slots in ticks.items():
        for slot in slots:
            await scene.press(who, polls[who], _buttons(polls[who])[slot][1])
    await scene.sandbox.wait_for_edit(QIAN[0], status.message_id, edits=5, timeout=10)
    make = next(data for label, data in _buttons(status) if label.startswith("定为会议"))

    scene.say("\n—— 8. 一键定为会议，发出通知；一人请假 / The best slot becomes a meeting ——")
    before = {who: scene.count(who) for who in members}
    await scene.press(QIAN, status, make)
    made = await scene.expect(QIAN, before[QIAN], "已定为会议 #")
    match = _MEETING_ID.search(made.text or "")
    assert match is not None
    meeting = int(match[1])
    invites = {who: await scene.expect(who, before[who], "<b>会议通知</b>") for who in members}
    await scene.tap_for_toast(ZHANG, invites[ZHANG], "参加")
    await scene.tap_for_toast(QIAN, invites[QIAN], "参加")
    await scene.tap(LI, invites[LI], "请假")
    await scene.send(LI, "赴省委党校参加培训")

    scene.say("\n—— 9. 会前签到：每分钟更换的签到码 / Check-in with the rotating code ——")
    start = datetime.combine(first, datetime.min.time(), tzinfo=tz).replace(hour=14, minute=30)
    scene.clock.advance_to(start - timedelta(minutes=5))
    shown = await scene.send(QIAN, f"/checkincode {meeting}")
    code = _CODE.search(shown.caption or "")
    assert code is not None
    await scene.send(ZHANG, f"/checkin {code[1]}")
    await scene.send(QIAN, f"/checkin {code[1]}")
    await scene.send(ZHAO, "/checkin 000000")

    scene.say("\n—— 10. 签到结束：考勤定稿，缺席者补学 / Attendance closes; make-up ——")
    before = {who: scene.count(who) for who in members}
    scene.clock.advance_to(start + timedelta(minutes=31))
    await scene.expect(QIAN, before[QIAN], "签到已结束")
    makeup = await scene.expect(ZHAO, before[ZHAO], "补学")
    await scene.expect(LI, before[LI], "补学")
    before = {who: scene.count(who) for who in members}
    await scene.send(QIAN, f"/minutes {meeting} 传达学习四中全会精神，每名党员结合岗位撰写心得。")
    await scene.expect(ZHAO, before[ZHAO], "传达学习")
    await scene.tap_for_toast(ZHAO, makeup, "已学习")
    await scene.send(QIAN, f"/attendance {meeting}")

    scene.say("\n—— 11. 三会一课完成情况 / Which meetings are still owed ——")
    await scene.send(QIAN, "/compliance")
    await scene.send(ZHAO, "/me")


async def volunteer_scene(scene: Scene) -> None:
    scene.say("\n—— 12. 发布志愿服务活动：2 个名额 / A volunteer activity with 2 places ——")
    tz = ZoneInfo("Asia/Shanghai")
    day = scene.clock().astimezone(tz).date() + timedelta(days=3)
    members = (ZHANG, LI, ZHAO, QIAN)
    before = {who: scene.count(who) for who in members}
    posted = await scene.send(QIAN, f"/activity 社区环境整治 | {day} 09:00-11:30 | 幸福里社区 | 2")
    match = re.search(r"活动 #(\d+)", posted.text or "")
    assert match is not None
    activity = int(match[1])
    calls = {who: await scene.expect(who, before[who], "志愿服务招募") for who in members}

    scene.say("\n—— 13. 三人报名，一人候补 / Three sign up; the third waits ——")
    await scene.tap(ZHANG, calls[ZHANG], "报名")
    await scene.tap(LI, calls[LI], "报名")
    await scene.tap(ZHAO, calls[ZHAO], "报名")

    scene.say("\n—— 14. 一人取消，候补者补上并确认 / A cancellation promotes the waitlist ——")
    before = {who: scene.count(who) for who in members}
    await scene.tap(LI, calls[LI], "取消报名")
    offer = await scene.expect(ZHAO, before[ZHAO], "轮到您了")
    await scene.tap(ZHAO, offer, "确认参加")
    await scene.send(QIAN, f"/roster {activity}")

    scene.say("\n—— 15. 现场签到、签退 / Check-in and check-out with the rotating codes ——")
    start = datetime.combine(day, datetime.min.time(), tzinfo=tz).replace(hour=9)
    end = start.replace(hour=11, minute=30)
    scene.clock.advance_to(start - timedelta(minutes=5))
    shown = await scene.send(QIAN, f"/activitycode {activity}")
    code = _CODE.search(shown.caption or "")
    assert code is not None
    await scene.send(ZHANG, f"/checkin {code[1]}")
    await scene.send(ZHAO, f"/checkin {code[1]}")
    scene.clock.advance_to(end - timedelta(minutes=30))
    shown = await scene.send(QIAN, f"/activitycode {activity} out")
    code = _CODE.search(shown.caption or "")
    assert code is not None
    await scene.send(ZHANG, f"/checkin {code[1]}")

    scene.say("\n—— 16. 签退截止：时长定稿 / Check-out closes; the hours are final ——")
    before = {who: scene.count(who) for who in members}
    scene.clock.advance_to(end + timedelta(minutes=61))
    await scene.expect(QIAN, before[QIAN], "已结束")
    await scene.send(QIAN, f"/roster {activity}")
    await scene.send(QIAN, "/hours")
    await scene.send(ZHAO, "/me")


async def dues_and_task_scene(scene: Scene) -> None:
    scene.say("\n—— 17. 党费：设定金额、党员报缴、书记确认 / Party dues for one month ——")
    await scene.send(QIAN, "/setdues 张三 50")
    await scene.send(QIAN, "/setdues 赵敏 32.5")
    before = scene.count(ZHANG)
    await scene.send(ZHANG, "/todo")
    owed = await scene.expect(ZHANG, before, "尚未缴纳")
    await scene.tap(ZHANG, owed, "已缴纳")
    before = scene.count(QIAN)
    await scene.send(QIAN, "/dues")
    confirm = await scene.expect(QIAN, before, "点按钮确认收讫")
    await scene.tap(QIAN, confirm, "全部确认（1 人）")

    scene.say("\n—— 18. 任务清单：布置、延期（写明原因）、完成销号 / A task carried to done ——")
    tz = ZoneInfo("Asia/Shanghai")
    due = scene.clock().astimezone(tz).date() + timedelta(days=7)
    before = scene.count(ZHANG)
    made = await scene.send(QIAN, f"/task 整理第四季度党建工作台账 | 张三 | {due}")
    match = re.search(r"任务 #(\d+)", made.text or "")
    assert match is not None
    task = int(match[1])
    card = await scene.expect(ZHANG, before, "新任务")
    await scene.tap(ZHANG, card, "延期")
    await scene.send(ZHANG, f"{due + timedelta(days=3)} 等待上级下发台账模板")
    await scene.tap(ZHANG, card, "完成")
    await scene.send(QIAN, "/tasks")
    await scene.send(QIAN, f"/task {task}")


async def serve_dashboard(scene: Scene, deps: Deps, port: int) -> None:
    """Keep the demo's bot and dashboard up, with a login link for the secretary and the admin,
    until Ctrl+C or SIGTERM."""
    base = deps.config.dashboard.public_url.rstrip("/")
    scene.say("\n—— 网页工作台 / The dashboard, with the demo's records ——")
    for name, who in (("钱伟（书记）", QIAN), ("王主任（管理员）", ADMIN)):
        async with deps.db.read() as session:
            actor = await members.get_actor(session, who[0], deps.default_language)
        assert actor is not None
        async with deps.db.write() as session:
            token, _ = await dashboard_links.issue(
                session, actor, minutes=deps.config.dashboard.link_minutes, now=deps.now()
            )
        scene.say(f"{name}: {base}/dashboard/login?t={token}")
    scene.say(f"(each link works once; run the demo again for new ones. Port {port}.)")
    scene.say("Press Ctrl+C to stop.")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()


async def run_demo(
    out: Callable[[str], None] | None = None, *, serve_port: int | None = None
) -> int:
    say = out or (lambda line: print(line, flush=True))
    sandbox = BotApiSandbox()
    sandbox.on_event = say
    with tempfile.TemporaryDirectory(prefix="branchbot-demo-") as tmp:
        async with run_sandbox(sandbox) as base:
            config = parse_config(
                {
                    "telegram": {
                        "token": sandbox.token,
                        "api_base_url": f"{base}/bot",
                        "mode": "polling",
                        # The demo plays a week's work in half a minute.
                        "member_burst": 200,
                    },
                    "database": {"url": f"sqlite+aiosqlite:///{Path(tmp) / 'demo.db'}"},
                    "organisation": {"name": "示范局机关党委", "admins": [ADMIN[0]]},
                    # The demo may run at any hour: no quiet hours, and a brisk pace.
                    "delivery": {
                        "quiet_start": "00:00",
                        "quiet_end": "00:00",
                        "per_chat_interval_seconds": 0.2,
                    },
                    # Jobs due after the clock jumps ahead fire within a fraction of a second.
                    "scheduler": {"tick_seconds": 0.2},
                    "dashboard": {
                        "enabled": serve_port is not None,
                        "port": serve_port or 8080,
                        "public_url": f"http://127.0.0.1:{serve_port or 8080}",
                    },
                },
                env={},
            )
            say(f"branchbot demo: local Bot API at {base}, store {tmp}/demo.db")
            clock = DemoClock()
            async with running(config, clock=clock) as (_, deps):
                scene = Scene(sandbox, say, clock)
                try:
                    codes = await onboarding_scene(scene)
                    await study_scene(scene, codes)
                    await meeting_scene(scene)
                    await volunteer_scene(scene)
                    await dues_and_task_scene(scene)
                    if serve_port is not None:
                        await serve_dashboard(scene, deps, serve_port)
                except (TimeoutError, KeyError, AssertionError) as exc:
                    print(f"demo failed: {exc}", file=sys.stderr)
                    return 1
    say("\ndemo finished")
    return 0
