"""`branchbot demo` as a new user runs it, in Chinese and in English: the whole printed output
(standard output and standard error), read the way they would read it."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import time

import pytest

from bot.demo import CASTS, ZH

# Chinese characters and CJK punctuation (、，。（）「」 and the full-width forms).
_HAN = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
_LOGGED = re.compile(r"\b(WARNING|ERROR|CRITICAL)\b|Traceback|demo failed")
_MARKER = re.compile(r"^⏱ \d{4}-\d{2}-\d{2} \S+ (\d{2}):(\d{2})$", re.MULTILINE)


@pytest.fixture(scope="module")
def runs() -> dict[str, subprocess.CompletedProcess[str]]:
    """Both languages played once, side by side, as `branchbot demo [--lang en]` would, and
    the Chinese scenario again on Feishu (`branchbot demo --channel feishu`)."""
    plays = {"zh": ["--lang", "zh"], "en": ["--lang", "en"], "feishu": ["--channel", "feishu"]}
    started = {
        name: subprocess.Popen(
            [sys.executable, "-m", "bot", "demo", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        for name, args in plays.items()
    }
    done: dict[str, subprocess.CompletedProcess[str]] = {}
    for lang, process in started.items():
        out, err = process.communicate(timeout=240)
        done[lang] = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    return done


def transcript(runs: dict[str, subprocess.CompletedProcess[str]], lang: str) -> str:
    run = runs[lang]
    assert run.returncode == 0, run.stderr
    return run.stdout


@pytest.mark.parametrize("lang", ["zh", "en", "feishu"])
def test_the_demo_prints_no_warnings_or_errors(
    runs: dict[str, subprocess.CompletedProcess[str]], lang: str
) -> None:
    run = runs[lang]
    assert run.returncode == 0
    assert run.stderr == ""
    assert not _LOGGED.search(run.stdout), _LOGGED.search(run.stdout)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_command_list_is_shown_once(
    runs: dict[str, subprocess.CompletedProcess[str]], lang: str
) -> None:
    text = transcript(runs, lang)
    assert len(re.findall(r"^/help — ", text, re.MULTILINE)) == 1
    # The four later welcomes say their list is the one already shown.
    assert text.count(CASTS[lang].help_again.split("{count}")[1]) == 4


def test_the_english_demo_is_english_throughout(
    runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    """The organisation, the members, their names, what they type and what the bot tells them:
    not one Chinese character or Chinese punctuation mark."""
    text = transcript(runs, "en")
    assert [line for line in text.splitlines() if _HAN.search(line)] == []
    assert "—— 1. The admin imports the roster ——" in text
    assert "Welcome, Zhang Wei!" in text and "Language: en" in text
    assert "2 (Zhang Wei, Li Na)" in text and "attended 2, on leave 1, absent 1" in text
    assert "/setdues Zhang Wei 50" in text and "Zhang Wei's monthly dues" in text


@pytest.mark.parametrize(
    ("lang", "greeting"),
    [
        ("zh", "您好，王主任！示范局机关党委，角色：管理员"),
        ("en", "Hello, Director Wang! "),
        # On Feishu the name comes from the tenant's directory.
        ("feishu", "您好，王主任！示范局机关党委，角色：管理员"),
    ],
)
def test_the_admin_is_greeted_by_name(
    runs: dict[str, subprocess.CompletedProcess[str]], lang: str, greeting: str
) -> None:
    text = transcript(runs, lang)
    assert greeting in text
    assert "管理员 100" not in text and "100!" not in text


@pytest.mark.parametrize("play", ["zh", "feishu"])
def test_the_chinese_demo_plays_every_scene(
    runs: dict[str, subprocess.CompletedProcess[str]], play: str
) -> None:
    """Every feature, on Telegram and on Feishu: the same scenes, the same outcomes."""
    text = transcript(runs, play)
    assert "欢迎，张三" in text and "欢迎，李四" in text
    assert "没有使用此命令的权限" in text
    # The meetings scenes: poll, meeting, leave, check-in, close with make-up, compliance.
    assert "✅ 超过半数能参加" in text and "已定为会议 #1" in text
    assert "已请假" in text and "签到成功" in text
    assert "出席 2，迟到 0，请假 1，缺席 1" in text
    assert "赵敏：缺席，" in text and "已补学" in text
    assert "三会一课完成情况" in text
    # Volunteering, dues and the task, to the end.
    assert "轮到您了" in text and "共 4.5 小时" in text
    assert "已确认收讫：张三" in text and "✅ 张三 已完成任务" in text
    assert text.rstrip().endswith(ZH.finished)


def _before(text: str, first: str, then: str) -> bool:
    return text.index(first) < text.index(then)


def test_notices_come_in_the_order_they_would_happen(
    runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    text = transcript(runs, "zh")
    # Meeting reminders a day and an hour ahead, and none once people have checked in.
    checked_in = text.index("👤 张三: /checkin")
    reminders = [m.start() for m in re.finditer("会议提醒", text)]
    assert reminders and all(at < checked_in for at in reminders)
    assert "24 小时后开会" in text and "1 小时后开会" in text
    # A button's new state shows before the next person taps.
    assert _before(text, "🤖 → 张三 (edit): buttons changed\n[✅ 已学习", "👤 李四 taps [写心得]")
    # The secretary hears of the postponement before the task is done, and the member of the
    # confirmed dues before the next scene.
    assert _before(text, "🤖 → 钱伟: 🕓 张三 已将任务延期", "👤 张三 taps [完成]")
    assert _before(text, "✅ 支部已确认收到您", "—— 18.")
    # Make-ups go out when check-in closes, before the minutes.
    assert _before(text, "📘 补学", "👤 钱伟: /minutes")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_everything_happens_at_sensible_hours(
    runs: dict[str, subprocess.CompletedProcess[str]], lang: str
) -> None:
    """The clock stops only in the day, and the waitlist offer never runs out at night."""
    text = transcript(runs, lang)
    markers = [time(int(h), int(m)) for h, m in _MARKER.findall(text)]
    assert markers and markers[0] == time(9, 0)
    assert all(time(7, 30) <= at < time(22, 0) for at in markers), markers
    offer = re.search(r"(?:请在|confirm by) \d{2}-\d{2} (\d{2}):(\d{2})", text)
    assert offer is not None
    assert time(7, 30) <= time(int(offer[1]), int(offer[2])) < time(22, 0), offer[0]


def test_on_feishu_members_join_by_typing_their_code_and_buttons_are_cards(
    runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    text = transcript(runs, "feishu")
    assert "local Feishu Open API" in text
    # No Telegram in a Feishu-only office: /invites lists codes, and a member sends theirs.
    assert "t.me/" not in text
    code = re.search(r"^张三（[^\n]*\n邀请码 (\w+)", text, re.MULTILINE)
    assert code is not None
    assert f"👤 张三: {code[1]}\n🤖 → 张三: 欢迎，张三！" in text
    # A press changes the card in place, and its notice arrives as a short message.
    assert "👤 张三 taps [已学习]\n🤖 → 张三: 已记录，谢谢！\n🤖 → 张三 (edit)" in text
    # Pictures are cards with an image (the check-in QR code), ledgers none here.
    assert "🖼 " in text
