"""The screenshot script's chat renderer and recorder, on a tiny transcript (no bot, no browser):
so `python docs/make_screenshots.py` cannot rot silently. The full run is not part of the suite."""

from __future__ import annotations

import struct

from bot.screenshots import (
    CHAT_SHOTS,
    WEB_SHOTS,
    ChatEntry,
    Moment,
    RecordingSandbox,
    render_chat,
    telegram_html,
)

# A PNG's signature and header chunk are all the renderer reads of a picture.
TINY_PNG = b"\x89PNG\r\n\x1a\n" + struct.pack(">I4sII", 13, b"IHDR", 29, 29) + b"\x08\x00\x00\x00"


def test_the_chat_page_escapes_what_members_write_and_keeps_telegrams_formatting() -> None:
    page = render_chat(
        [
            ChatEntry("notice", "12月5日 周六"),
            ChatEntry("member", "/study <script>alert(1)</script> & 第一议题", "09:00"),
            ChatEntry(
                "bot",
                '<b>已发布</b> #1 <a href="javascript:x">链接</a> <img src=x onerror=y>5 &lt; 6',
                "09:01",
                (("已学习", "写心得"), ("<i>取消</i>",)),
            ),
            ChatEntry("bot", "<b>签到码</b>", "09:02", photo=TINY_PNG),
            ChatEntry("bot", "", "09:03", document="台账<1>.xlsx"),
            ChatEntry("notice", "点按「已学习」 · 提示：已记录"),
        ],
        viewer="钱伟（支部书记）的手机",
        bot_name="示范局<机关>党委",
    )
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; 第一议题" in page
    assert "<b>已发布</b>" in page and '<span class="link">链接</span>' in page
    assert "javascript:" not in page and "<img src=x" not in page and "5 &lt; 6" in page
    assert '<span class="key">已学习</span><span class="key">写心得</span>' in page
    assert '<span class="key">&lt;i&gt;取消&lt;/i&gt;</span>' in page
    assert 'class="qr"' in page and "data:image/png;base64," in page
    assert "台账&lt;1&gt;.xlsx" in page
    assert "钱伟（支部书记）的手机" in page and "示范局&lt;机关&gt;党委" in page
    assert page.count('class="row notice"') == 2 and page.count('class="row member"') == 1
    assert '<span class="time">09:01</span>' in page


def test_telegram_html_closes_what_it_opens_and_drops_attributes() -> None:
    assert telegram_html("<b>粗<i>斜</b>后") == "<b>粗<i>斜</i></b>后"
    assert telegram_html("<i>未闭合") == "<i>未闭合</i>"
    assert telegram_html('<code class="x">1</code>') == "<code>1</code>"
    assert telegram_html("</b>孤立的结束标签") == "孤立的结束标签"


def test_a_long_message_is_cut_with_a_note() -> None:
    page = render_chat(
        [ChatEntry("bot", "\n".join(f"第{n}行" for n in range(1, 31)))],
        viewer="张三",
        bot_name="b",
        max_lines=5,
    )
    assert "第5行" in page and "第6行" not in page and "共 30 行" in page


async def test_the_recorder_orders_a_chat_with_dates_taps_and_toasts() -> None:
    sandbox = RecordingSandbox()
    token = sandbox.token
    sandbox.scene, sandbox.moment = "4", Moment("2026-12-05", "周六", "09:00")
    await sandbox.user_message(7, "/start abc", first_name="张三")
    await sandbox.call(token, "sendMessage", {"chat_id": 7, "text": "欢迎，张三！"})
    await sandbox.user_message(7, "/me", first_name="张三")
    status, body = await sandbox.call(
        token,
        "sendMessage",
        {
            "chat_id": 7,
            "text": "<b>学习</b>：第一议题",
            "parse_mode": "HTML",
            "reply_markup": {"inline_keyboard": [[{"text": "已学习", "callback_data": "s:1"}]]},
        },
    )
    assert status == 200
    sandbox.moment = Moment("2026-12-06", "周日", "10:30")
    update = await sandbox.press_button(7, body["result"]["message_id"], "s:1")
    query = update["callback_query"]["id"]
    await sandbox.call(token, "answerCallbackQuery", {"callback_query_id": query, "text": "已记录"})
    await sandbox.call(token, "sendMessage", {"chat_id": 7, "text": "谢谢"})
    sandbox.scene = "5"
    await sandbox.call(token, "sendMessage", {"chat_id": 7, "text": "下一幕"})

    entries = sandbox.conversation(7, ["4"], skip=("/start",))
    assert [(e.kind, e.text, e.time) for e in entries] == [
        ("notice", "12月5日 周六", ""),
        ("member", "/me", "09:00"),
        ("bot", "<b>学习</b>：第一议题", "09:00"),
        ("notice", "12月6日 周日", ""),
        ("notice", "点按「已学习」 · 提示：已记录", ""),
        ("bot", "谢谢", "10:30"),
    ]
    assert entries[2].buttons == (("已学习",),)
    assert [e.text for e in sandbox.conversation(7, ["5"])] == ["12月6日 周日", "下一幕"]


def test_every_picture_has_its_own_name() -> None:
    names = [s.name for s in CHAT_SHOTS] + [s.name for s in WEB_SHOTS]
    assert len(names) == len(set(names))
