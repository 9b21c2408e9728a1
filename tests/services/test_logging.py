"""The log's formats ([logging]), the update id on its lines, and cutting members' text out."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot import background, logs


def _record(
    message: str, *args: object, level: int = logging.INFO, exc: BaseException | None = None
) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("bot.test", level, __file__, 1, message, args, exc_info)


@pytest.fixture
def handling() -> Iterator[None]:
    """As while update 4242 is handled."""
    token = logs.update_id.set(4242)
    yield
    logs.update_id.reset(token)


def test_json_lines_have_time_level_logger_and_message() -> None:
    line = json.loads(logs.JsonFormatter().format(_record("sent %s messages to %s", 3, "张三")))
    assert set(line) == {"time", "level", "logger", "message"}
    assert line["level"] == "INFO" and line["logger"] == "bot.test"
    assert line["message"] == "sent 3 messages to 张三"
    assert line["time"].endswith("+00:00") and "T" in line["time"]


def test_json_lines_carry_the_update_being_handled(handling: None) -> None:
    line = json.loads(logs.JsonFormatter().format(_record("working")))
    assert line["update_id"] == 4242


def test_json_lines_carry_the_traceback() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        error = exc
    text = logs.JsonFormatter().format(_record("failed", level=logging.ERROR, exc=error))
    assert "\n" not in text  # one object a line
    line = json.loads(text)
    assert line["level"] == "ERROR" and "RuntimeError: boom" in line["exception"]


def test_text_lines_name_the_update_being_handled(handling: None) -> None:
    text = logs.TextFormatter().format(_record("working"))
    assert text.endswith(" INFO bot.test [update 4242]: working")


def test_text_lines_outside_an_update() -> None:
    assert logs.TextFormatter().format(_record("idle")).endswith(" INFO bot.test: idle")


@contextlib.contextmanager
def bare_root() -> Iterator[logging.Logger]:
    """The root logger without pytest's handlers (added as the test starts), as a fresh process
    has it; restored after."""
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    for handler in saved:
        root.removeHandler(handler)
    try:
        yield root
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)
        root.setLevel(level)


def test_configure_sets_level_and_format() -> None:
    stream, again = io.StringIO(), io.StringIO()
    with bare_root() as root:
        logs.configure("WARNING", "json", stream=stream)
        logging.getLogger("bot.x").info("not shown")
        logging.getLogger("bot.x").warning("shown")
        # Called again (a second `main` in one process), it replaces its handler.
        logs.configure("DEBUG", "text", stream=again)
        handlers = len(root.handlers)
        logging.getLogger("bot.x").debug("detail")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["level"], line["message"]) for line in lines] == [("WARNING", "shown")]
    assert handlers == 1
    assert again.getvalue().rstrip().endswith("DEBUG bot.x: detail")


def test_configure_leaves_someone_elses_handlers_alone() -> None:
    theirs = logging.StreamHandler(io.StringIO())
    with bare_root() as root:
        root.addHandler(theirs)
        logs.configure("DEBUG", "json", stream=io.StringIO())
        handlers, level = list(root.handlers), root.level
    assert handlers == [theirs] and level != logging.DEBUG


def test_redact_cuts_the_whole_text_its_lines_and_words() -> None:
    member = "我的心得 SECRET-4242\n第二行内容"
    trace = (
        "ValueError: could not read '我的心得 SECRET-4242\\n第二行内容'\n"
        "KeyError: 'SECRET-4242'\n"
        'IntegrityError: [parameters: ("第二行内容",)]\n'
        'json: "\\u6211\\u7684\\u5fc3\\u5f97 SECRET-4242"\n'
        "  File x.py, line 3, in handle"
    )
    cut = logs.redact(trace, [member])
    for piece in ("SECRET", "心得", "第二行", "\\u6211"):
        assert piece not in cut
    # What is not the member's stays.
    assert "ValueError: could not read" in cut and "File x.py, line 3, in handle" in cut


def test_redact_cuts_a_quote_cut_short() -> None:
    """asyncpg quotes a bad value's first 40 characters (then "..."): no whole text, line or
    word of the member's is there, but a run of it is, and goes."""
    member = "我这个月因为出差在外地所以没有办法参加支部的组织生活会议请假一次谢谢书记的理解和支持"
    quoted = repr(member)[:40] + "..."
    trace = f"DataError: invalid input for query argument $2: {quoted} (expected int)"
    cut = logs.redact(trace, [member])
    assert "出差" not in cut and "外地" not in cut
    assert cut.startswith("DataError: invalid input for query argument $2: '")
    assert cut.endswith("‹…›... (expected int)")
    # A short run that merely looks alike stays.
    assert logs.redact("in handle_message", ["message"]) == "in handle_‹…›"
    assert logs.redact("File x.py, line 3", ["x.py, li"]) == "File ‹…›ne 3"


def test_log_redacted_keeps_the_traceback_without_the_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("bot.test")
    try:
        raise ValueError("bad title 'MARKER-77 学习'")
    except ValueError as exc:
        error = exc
    with caplog.at_level(logging.INFO):
        logs.log_redacted(
            log, logging.ERROR, "update %s failed", 5, error=error, hide=["MARKER-77 学习"]
        )
    (record,) = caplog.records
    assert record.getMessage() == "update 5 failed" and record.levelno == logging.ERROR
    assert record.funcName == "test_log_redacted_keeps_the_traceback_without_the_text"
    assert "ValueError: bad title" in caplog.text and "MARKER-77" not in caplog.text


def test_member_texts_and_the_update_described() -> None:
    class Chat:
        id = 9

    class Update:
        effective_chat = Chat()
        effective_user = Chat()

        def to_dict(self) -> dict[str, object]:
            return {
                "update_id": 1,
                "message": {
                    "text": "hello there",
                    "chat": {"id": 9, "first_name": "张"},
                    "reply_to_message": {"caption": "a photo"},
                    "document": {"file_name": "名单.csv"},
                },
            }

    assert logs.member_texts(Update()) == ["hello there", "a photo", "名单.csv"]
    assert logs.describe_update(Update()) == "message in chat 9 from user 9"
    assert logs.member_texts(None) == [] and logs.describe_update(None) == "NoneType"


def test_worker_processes_log_as_the_bot_does(capfd: pytest.CaptureFixture[str]) -> None:
    """Heavy work runs in spawned processes, which start with no logging: they are set up with
    the bot's level and format, so a JSON log stays one object a line."""
    with bare_root():
        assert logs.current() is None
        logs.configure("WARNING", "json", stream=io.StringIO())
        assert logs.current() == ("WARNING", "json")
        pool = background.ProcessPool(1)
        # Started here, as in the bot: after `configure`.
        executor = pool._pool()
    try:
        worker = logging.getLogger("bot.worker")
        executor.submit(worker.info, "not shown").result(timeout=60)
        executor.submit(worker.warning, "from a worker").result(timeout=60)
    finally:
        pool.close()
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    assert [json.loads(line)["message"] for line in lines] == ["from a worker"]
