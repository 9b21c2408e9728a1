"""Every key from the environment (BRANCHBOT_<SECTION>_<KEY>), telegram.proxy and the proxy the
environment gives, [logging], the warnings of `config check`, and `branchbot --version`."""

from __future__ import annotations

import importlib.metadata
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any, Literal

import pytest

from bot.cli import main
from bot.config import (
    _SECTIONS,
    ConfigError,
    env_name,
    environment_warnings,
    load_config,
    parse_config,
    parse_hhmm,
    proxy_from_environment,
)

FILE = """
[webhook]
secret_token = "from-the-file"
port = 8443
"""


def _as_env_text(value: Any) -> str:
    """A value as an operator would write it in an environment variable."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    return str(value)


def _every_key() -> list[tuple[str, str]]:
    return [(section, f.name) for section, cls in _SECTIONS.items() for f in fields(cls)]


@pytest.mark.parametrize(("section", "key"), _every_key())
def test_every_key_can_come_from_the_environment(section: str, key: str) -> None:
    """Each key's variable is read and parsed to the key's type: a value different from the
    default where the type allows one, else the default itself, written as text."""
    cls = _SECTIONS[section]
    expected_type = typing.get_type_hints(cls)[key]
    default = getattr(cls(), key)
    value: Any = default
    if expected_type is bool:
        value = not default
    elif expected_type is int and default > 0:
        value = default + 1
    elif expected_type is float:
        value = default + 0.5
    elif typing.get_origin(expected_type) is Literal:
        value = next(c for c in typing.get_args(expected_type) if c != default)
    elif expected_type == tuple[int, ...]:
        value = (7, 3)
    elif expected_type == tuple[str, ...]:
        value = ("ou_a", "ou_b")
    data: dict[str, Any] = {}
    if (section, key) == ("dashboard", "secret_key"):
        value = "k" * 32
    elif (section, key) == ("feishu", "app_id"):
        # An app needs its secret too.
        data = {"feishu": {"app_secret": "s"}}
        value = "cli_from_env"
    elif (section, key) == ("telegram", "mode") and value == "webhook":
        # Webhook mode needs its two keys too.
        data = {"webhook": {"secret_token": "tok", "public_url": "https://bot.example.org"}}
    elif expected_type is str and not default:
        value = {
            "proxy": "http://127.0.0.1:3128",
            "public_url": "https://bot.example.org",
            "count_from": "2027-01-01",
        }.get(key, "from-env")
    elif expected_type is str:
        # Another valid value: a time for a time, a zone for the zone, else the default grown.
        value = "10:45" if parse_hhmm(default) else default + "x"
        value = "Europe/Berlin" if key == "timezone" else value
    cfg = parse_config(data, env={env_name(section, key): _as_env_text(value)})
    got = getattr(getattr(cfg, section), key)
    assert got == value and type(got) is type(value)
    # Changed, except a count whose default is 0 (the file's 0 may mean "off").
    assert value != default or (expected_type is int and default == 0)


def test_the_environment_wins_over_the_file_and_an_empty_variable_is_ignored(
    tmp_path: Path,
) -> None:
    path = tmp_path / "branchbot.toml"
    path.write_text(FILE, encoding="utf-8")
    cfg = load_config(
        path,
        env={
            "BRANCHBOT_WEBHOOK_SECRET_TOKEN": "from-the-environment",
            "BRANCHBOT_DASHBOARD_SECRET_KEY": "s" * 40,
            "BRANCHBOT_WEBHOOK_PORT": "",
        },
    )
    assert cfg.webhook.secret_token == "from-the-environment"
    assert cfg.dashboard.secret_key == "s" * 40
    assert cfg.webhook.port == 8443


@pytest.mark.parametrize(
    ("variable", "text", "expected"),
    [
        ("BRANCHBOT_ORGANISATION_ADMINS", "111, 222", (111, 222)),
        ("BRANCHBOT_ORGANISATION_ADMINS", "123456789", (123456789,)),
        ("BRANCHBOT_ORGANISATION_ADMINS", "[111, 222]", (111, 222)),
        ("BRANCHBOT_ORGANISATION_ADMINS", "[]", ()),
        ("BRANCHBOT_DELIVERY_ALLOW_PAID_BROADCAST", "1", True),
        ("BRANCHBOT_DELIVERY_ALLOW_PAID_BROADCAST", "off", False),
        ("BRANCHBOT_DELIVERY_RATE_PER_SECOND", "20", 20.0),
        ("BRANCHBOT_DELIVERY_QUIET_START", "23:15", "23:15"),
        ("BRANCHBOT_ORGANISATION_NAME", "市直机关党委", "市直机关党委"),
    ],
)
def test_values_are_read_as_the_file_would_read_them(
    variable: str, text: str, expected: object
) -> None:
    section, key = {
        "BRANCHBOT_ORGANISATION_ADMINS": ("organisation", "admins"),
        "BRANCHBOT_DELIVERY_ALLOW_PAID_BROADCAST": ("delivery", "allow_paid_broadcast"),
        "BRANCHBOT_DELIVERY_RATE_PER_SECOND": ("delivery", "rate_per_second"),
        "BRANCHBOT_DELIVERY_QUIET_START": ("delivery", "quiet_start"),
        "BRANCHBOT_ORGANISATION_NAME": ("organisation", "name"),
    }[variable]
    cfg = parse_config({}, env={variable: text})
    assert getattr(getattr(cfg, section), key) == expected


@pytest.mark.parametrize(
    ("variable", "text", "key", "problem"),
    [
        ("BRANCHBOT_WEBHOOK_PORT", "84x3", "webhook.port", "expected an integer, got '84x3'"),
        ("BRANCHBOT_WEBHOOK_PORT", "70000", "webhook.port", "must be between 1 and 65535"),
        ("BRANCHBOT_WEBHOOK_SECRET_TOKEN", "has space", "webhook.secret_token", "1-256"),
        ("BRANCHBOT_ORGANISATION_LANGUAGE", "fr", "organisation.language", "expected one of"),
        ("BRANCHBOT_ORGANISATION_ADMINS", "1,x", "organisation.admins", "list of integers"),
        ("BRANCHBOT_DELIVERY_ALLOW_PAID_BROADCAST", "maybe", "delivery.allow_paid_broadcast", ""),
        ("BRANCHBOT_DELIVERY_QUIET_END", "7.30", "delivery.quiet_end", "a time like"),
        ("BRANCHBOT_DASHBOARD_SECRET_KEY", "short", "dashboard.secret_key", "32"),
        ("BRANCHBOT_LOGGING_LEVEL", "LOUD", "logging.level", "'DEBUG', 'INFO'"),
        ("BRANCHBOT_TELEGRAM_PROXY", "ftp://127.0.0.1:21", "telegram.proxy", "socks5"),
    ],
)
def test_a_bad_value_from_the_environment_names_the_key_and_the_variable(
    variable: str, text: str, key: str, problem: str
) -> None:
    data = {"dashboard": {"enabled": True}} if "DASHBOARD" in variable else {}
    with pytest.raises(ConfigError) as info:
        parse_config(data, env={variable: text})
    assert info.value.key == key
    assert problem in info.value.problem
    assert info.value.problem.endswith(f"(from the environment: {variable})")


def test_the_old_dashboard_secret_name_still_works_and_the_new_one_wins() -> None:
    old = "o" * 32
    new = "n" * 32
    assert parse_config({}, env={"BRANCHBOT_DASHBOARD_SECRET": old}).dashboard.secret_key == old
    both = {"BRANCHBOT_DASHBOARD_SECRET": old, "BRANCHBOT_DASHBOARD_SECRET_KEY": new}
    assert parse_config({}, env=both).dashboard.secret_key == new


def test_every_problem_is_reported_file_and_environment_alike() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(
            {"invites": {"valid_days": 0}},
            env={"BRANCHBOT_WEBHOOK_PORT": "x", "BRANCHBOT_SCHEDULER_GRACE_HOURS": "-1"},
        )
    keys = [key for key, _ in info.value.problems]
    assert sorted(keys) == ["invites.valid_days", "scheduler.grace_hours", "webhook.port"]
    assert "(from the environment" not in dict(info.value.problems)["invites.valid_days"]


def test_unknown_variables_that_look_like_keys_are_warned_about() -> None:
    env = {
        "BRANCHBOT_WEBHOOK_SECRET": "x",  # the key is secret_token
        "BRANCHBOT_WEBHOK_PORT": "8443",  # the section misspelt
        "BRANCHBOT_TELEGRAM_TOKEN": "1:a",
        "BRANCHBOT_DASHBOARD_SECRET": "k" * 32,  # the older name: known
        "BRANCHBOT_TEST_DATABASE_URL": "sqlite+aiosqlite://",  # the tests', not a key
        "HOME": "/root",
    }
    warnings = environment_warnings(env)
    assert len(warnings) == 2, warnings
    port, secret = warnings  # sorted by name
    assert secret.startswith("BRANCHBOT_WEBHOOK_SECRET:") and "ignored" in secret
    assert "did you mean BRANCHBOT_WEBHOOK_SECRET_TOKEN?" in secret
    assert port.startswith("BRANCHBOT_WEBHOK_PORT:") and "BRANCHBOT_WEBHOOK_PORT?" in port


def test_config_check_warns_about_an_unknown_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "branchbot.toml"
    path.write_text('[telegram]\ntoken = "1:a"\n', encoding="utf-8")
    monkeypatch.setenv("BRANCHBOT_DASHBOARD_SECRETKEY", "x")
    assert main(["config", "check", "--config", str(path)]) == 0
    out = capsys.readouterr()
    assert "OK" in out.out
    assert "warning: BRANCHBOT_DASHBOARD_SECRETKEY:" in out.err
    assert "BRANCHBOT_DASHBOARD_SECRET_KEY" in out.err


def test_config_check_names_the_variable_of_a_bad_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "branchbot.toml"
    path.write_text("", encoding="utf-8")
    monkeypatch.setenv("BRANCHBOT_WEBHOOK_PORT", "eighty")
    assert main(["config", "check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert (
        "configuration error: webhook.port: expected an integer, got 'eighty' "
        "(from the environment: BRANCHBOT_WEBHOOK_PORT)"
    ) in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"branchbot {importlib.metadata.version('branchbot')}"


# ---------------------------------------------------------------- telegram.proxy


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:7890",
        "http://proxy.example.org",
        "https://user:p%40ss@proxy.example.org:8443",
        "socks5://127.0.0.1:1080",
        "socks5://user:password@10.0.0.2:1080",
        "socks5h://127.0.0.1:1080",
    ],
)
def test_proxy_urls_accepted(url: str) -> None:
    assert parse_config({"telegram": {"proxy": url}}, env={}).telegram.proxy == url


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("127.0.0.1:7890", "expected a URL like"),
        ("ftp://127.0.0.1:21", "expected a URL like"),
        ("socks4://127.0.0.1:1080", "expected a URL like"),
        ("http://", "expected a URL like"),
        ("http://127.0.0.1:99999", "expected a URL like"),
        ("socks5://127.0.0.1", "needs a port"),
        ("http://127.0.0.1:3128/path", "no path"),
    ],
)
def test_bad_proxy_urls_name_the_key(url: str, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"telegram": {"proxy": url}}, env={})
    assert info.value.key == "telegram.proxy"
    assert problem in info.value.problem


def test_a_bad_proxy_url_is_shown_without_its_password() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({"telegram": {"proxy": "socks5://me:hunter2@127.0.0.1"}}, env={})
    assert "hunter2" not in str(info.value)
    assert "socks5://me:***@127.0.0.1" in str(info.value)


TELEGRAM = "https://api.telegram.org/bot"


@pytest.mark.parametrize(
    ("env", "found"),
    [
        ({"HTTPS_PROXY": "http://10.0.0.1:3128"}, ("HTTPS_PROXY", "http://10.0.0.1:3128")),
        # Without a scheme, as curl reads it: an HTTP proxy.
        ({"HTTPS_PROXY": "proxy.corp:3128"}, ("HTTPS_PROXY", "http://proxy.corp:3128")),
        ({"https_proxy": "http://a:1", "HTTPS_PROXY": "http://b:2"}, ("https_proxy", "http://a:1")),
        ({"ALL_PROXY": "socks5://10.0.0.1:1080"}, ("ALL_PROXY", "socks5://10.0.0.1:1080")),
        ({"HTTPS_PROXY": "http://a:1", "ALL_PROXY": "http://b:2"}, ("HTTPS_PROXY", "http://a:1")),
        # HTTP_PROXY is for http:// endpoints.
        ({"HTTP_PROXY": "http://10.0.0.1:3128"}, None),
        ({"HTTPS_PROXY": "http://a:1", "NO_PROXY": "localhost,.telegram.org"}, None),
        ({"HTTPS_PROXY": "http://a:1", "no_proxy": "api.telegram.org"}, None),
        ({"HTTPS_PROXY": "http://a:1", "NO_PROXY": "*"}, None),
        ({"HTTPS_PROXY": "http://a:1", "NO_PROXY": "example.org"}, ("HTTPS_PROXY", "http://a:1")),
        ({}, None),
    ],
)
def test_the_environments_proxy(env: dict[str, str], found: tuple[str, str] | None) -> None:
    assert proxy_from_environment(TELEGRAM, env) == found


def test_a_local_bot_api_takes_no_proxy_from_the_environment() -> None:
    env = {"HTTP_PROXY": "http://a:1", "ALL_PROXY": "http://a:1", "HTTPS_PROXY": "http://a:1"}
    assert proxy_from_environment("http://127.0.0.1:8081/bot", env) is None
    assert proxy_from_environment("http://localhost:8081/bot", env) is None
    assert proxy_from_environment("http://[::1]:8081/bot", env) is None
    assert proxy_from_environment("http://10.0.0.5:8081/bot", env) == ("HTTP_PROXY", "http://a:1")
    assert proxy_from_environment("http://10.0.0.5/bot", {**env, "NO_PROXY": "10.0.0.0/8"}) is None


def test_the_key_wins_over_the_environment_which_fills_an_empty_key() -> None:
    env = {"HTTPS_PROXY": "http://10.0.0.1:3128"}
    assert parse_config({}, env=env).telegram.proxy == "http://10.0.0.1:3128"
    key = {"telegram": {"proxy": "socks5://127.0.0.1:1080"}}
    assert parse_config(key, env=env).telegram.proxy == "socks5://127.0.0.1:1080"
    both = {**env, "BRANCHBOT_TELEGRAM_PROXY": "http://127.0.0.1:7890"}
    assert parse_config({}, env=both).telegram.proxy == "http://127.0.0.1:7890"


def test_a_bad_proxy_from_the_environment_names_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config({}, env={"HTTPS_PROXY": "ftp://proxy.example.org:21"})
    assert info.value.key == "telegram.proxy"
    assert info.value.problem.endswith("(from the environment: HTTPS_PROXY)")


# ---------------------------------------------------------------- [logging]


def test_logging_defaults_and_values() -> None:
    assert parse_config({}, env={}).logging.level == "INFO"
    assert parse_config({}, env={}).logging.format == "text"
    cfg = parse_config({"logging": {"level": "DEBUG", "format": "json"}}, env={})
    assert (cfg.logging.level, cfg.logging.format) == ("DEBUG", "json")


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"logging": {"level": "info"}}, "logging.level"),
        ({"logging": {"level": "TRACE"}}, "logging.level"),
        ({"logging": {"format": "xml"}}, "logging.format"),
        ({"logging": {"colour": True}}, "logging.colour"),
    ],
)
def test_bad_logging_values_name_the_key(data: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data, env={})
    assert info.value.key == key
