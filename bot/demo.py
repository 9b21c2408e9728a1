"""`branchbot demo`: the whole product in one scripted chat, with no token and no internet.

It starts the local Bot API sandbox on loopback, runs the real bot against it in polling mode
with a temporary SQLite file, and plays people talking to it. Each feature adds its scene here.
"""

from __future__ import annotations

import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.app import running
from bot.config import parse_config
from bot.sandbox import BotApiSandbox, SentMessage, run_sandbox

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
_INVITE_LINE = re.compile(r"^(\S+?)（[^）]*）\s*\nhttps://t\.me/\w+\?start=(\w+)", re.MULTILINE)


@dataclass
class Scene:
    sandbox: BotApiSandbox
    say: Callable[[str], None]

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
    preview = await scene.upload(ADMIN, "花名册.csv", DEMO_ROSTER.encode("gbk"))
    await scene.tap(ADMIN, preview, "确认导入")
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


async def run_demo(out: Callable[[str], None] | None = None) -> int:
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
                    },
                    "database": {"url": f"sqlite+aiosqlite:///{Path(tmp) / 'demo.db'}"},
                    "organisation": {"name": "示范局机关党委", "admins": [ADMIN[0]]},
                    # The demo may run at any hour: no quiet hours, and a brisk pace.
                    "delivery": {
                        "quiet_start": "00:00",
                        "quiet_end": "00:00",
                        "per_chat_interval_seconds": 0.2,
                    },
                },
                env={},
            )
            say(f"branchbot demo: local Bot API at {base}, store {tmp}/demo.db")
            async with running(config):
                scene = Scene(sandbox, say)
                try:
                    codes = await onboarding_scene(scene)
                    await study_scene(scene, codes)
                except (TimeoutError, KeyError) as exc:
                    print(f"demo failed: {exc}", file=sys.stderr)
                    return 1
    say("\ndemo finished")
    return 0
