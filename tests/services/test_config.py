"""Configuration: defaults, overrides, and an error naming the key for every kind of mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.config import ConfigError, load_config, parse_config, require_token

GOOD = """
[telegram]
token = "123:abc"
api_base_url = "http://127.0.0.1:8081/bot"
mode = "polling"

[webhook]
listen = "127.0.0.1"
port = 8443
path = "/tg"
public_url = "https://bot.example.org"
secret_token = "s3cret_token-1"

[database]
url = "sqlite+aiosqlite:///x.db"

[organisation]
name = "市局机关党委"
timezone = "Asia/Shanghai"
language = "en"
admins = [111, 222]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "branchbot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_file_loads_every_key(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD), env={})
    assert cfg.telegram.token == "123:abc"
    assert cfg.telegram.file_url == "http://127.0.0.1:8081/file/bot"
    assert cfg.webhook.path == "/tg"
    assert cfg.webhook.secret_token == "s3cret_token-1"
    assert cfg.organisation.admins == (111, 222)
    assert cfg.organisation.language == "en"
    assert str(cfg.organisation.tz) == "Asia/Shanghai"


def test_delivery_defaults_and_numbers() -> None:
    cfg = parse_config({"delivery": {"rate_per_second": 20, "allow_paid_broadcast": True}}, env={})
    assert cfg.delivery.rate_per_second == 20.0
    assert cfg.delivery.allow_paid_broadcast is True
    assert (cfg.delivery.quiet_start, cfg.delivery.quiet_end) == ("22:00", "07:30")
    assert cfg.followup.daily_cap == 3
    assert cfg.scheduler.grace_hours == 24


def test_defaults() -> None:
    cfg = parse_config({}, env={})
    assert cfg.telegram.api_base_url == "https://api.telegram.org/bot"
    assert cfg.telegram.file_url == "https://api.telegram.org/file/bot"
    assert cfg.telegram.mode == "polling"
    assert cfg.database.url == "sqlite+aiosqlite:///branchbot.db"
    assert cfg.organisation.timezone == "Asia/Shanghai"
    assert cfg.organisation.language == "zh"
    assert cfg.organisation.admins == ()


def test_environment_overrides_token_and_database(tmp_path: Path) -> None:
    cfg = load_config(
        write(tmp_path, GOOD),
        env={
            "BRANCHBOT_TELEGRAM_TOKEN": "999:env",
            "BRANCHBOT_DATABASE_URL": "postgresql+asyncpg://u@h/db",
        },
    )
    assert cfg.telegram.token == "999:env"
    assert cfg.database.url == "postgresql+asyncpg://u@h/db"


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"telegram": {"tokn": "x"}}, "telegram.tokn"),
        ({"telegrm": {}}, "telegrm"),
        ({"telegram": "x"}, "telegram"),
        ({"telegram": {"mode": "pull"}}, "telegram.mode"),
        ({"telegram": {"token": 123}}, "telegram.token"),
        ({"telegram": {"api_base_url": "ftp://x"}}, "telegram.api_base_url"),
        ({"webhook": {"port": "8443"}}, "webhook.port"),
        ({"webhook": {"port": True}}, "webhook.port"),
        ({"webhook": {"port": 70000}}, "webhook.port"),
        ({"webhook": {"path": "tg"}}, "webhook.path"),
        ({"webhook": {"secret_token": "has space"}}, "webhook.secret_token"),
        (
            {"telegram": {"mode": "webhook"}, "webhook": {"public_url": "https://x"}},
            "webhook.secret_token",
        ),
        (
            {"telegram": {"mode": "webhook"}, "webhook": {"secret_token": "abc"}},
            "webhook.public_url",
        ),
        ({"database": {"url": "mysql://x"}}, "database.url"),
        ({"organisation": {"timezone": "Mars/Olympus"}}, "organisation.timezone"),
        ({"organisation": {"timezone": 8}}, "organisation.timezone"),
        ({"organisation": {"language": "fr"}}, "organisation.language"),
        ({"organisation": {"admins": [1, "2"]}}, "organisation.admins"),
        ({"organisation": {"admins": 5}}, "organisation.admins"),
        ({"organisation": {"name": " "}}, "organisation.name"),
        ({"invites": {"valid_days": 0}}, "invites.valid_days"),
        ({"delivery": {"quiet_start": "25:00"}}, "delivery.quiet_start"),
        ({"delivery": {"quiet_end": "7.30"}}, "delivery.quiet_end"),
        ({"delivery": {"rate_per_second": 0}}, "delivery.rate_per_second"),
        ({"delivery": {"rate_per_second": "fast"}}, "delivery.rate_per_second"),
        ({"delivery": {"allow_paid_broadcast": "yes"}}, "delivery.allow_paid_broadcast"),
        ({"delivery": {"concurrency": 0}}, "delivery.concurrency"),
        ({"delivery": {"per_chat_interval_seconds": -1}}, "delivery.per_chat_interval_seconds"),
        ({"scheduler": {"grace_hours": -2}}, "scheduler.grace_hours"),
        ({"scheduler": {"tick_seconds": 0}}, "scheduler.tick_seconds"),
        ({"followup": {"daily_cap": -1}}, "followup.daily_cap"),
        ({"followup": {"leader_after_hours": 1.5}}, "followup.leader_after_hours"),
        ({"followup": {"second_after_hours": -1}}, "followup.second_after_hours"),
        ({"delivery": {"backoff_base_seconds": -2}}, "delivery.backoff_base_seconds"),
        ({"dashboard": {"enabled": True, "secret_key": "x" * 31}}, "dashboard.secret_key"),
    ],
)
def test_bad_value_names_the_key(data: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data, env={})
    assert info.value.key == key
    assert str(info.value).startswith(key + ":")


def test_the_dashboard_secret_key_is_at_least_32_characters() -> None:
    on = {"dashboard": {"enabled": True}}
    with pytest.raises(ConfigError) as info:
        parse_config(on, env={"BRANCHBOT_DASHBOARD_SECRET": "short-secret"})
    assert info.value.key == "dashboard.secret_key" and "32" in str(info.value)
    assert "BRANCHBOT_DASHBOARD_SECRET" in str(info.value)
    # 32 is enough; empty still means a random key at every start; off, it is not checked.
    assert parse_config(on, env={"BRANCHBOT_DASHBOARD_SECRET": "k" * 32}).dashboard.enabled
    assert parse_config(on, env={}).dashboard.secret_key == ""
    assert parse_config({"dashboard": {"secret_key": "short"}}, env={}).dashboard.secret_key


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "absent.toml", env={})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[telegram\ntoken="), env={})


def test_running_needs_a_token() -> None:
    with pytest.raises(ConfigError) as info:
        require_token(parse_config({}, env={}))
    assert info.value.key == "telegram.token"


def test_config_check_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write(tmp_path, GOOD)
    assert main(["config", "check", "--config", str(good)]) == 0
    assert "OK" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text('[organisation]\ntimezone = "Nowhere/City"\n', encoding="utf-8")
    assert main(["config", "check", "--config", str(bad)]) == 2
    assert "organisation.timezone" in capsys.readouterr().err


def test_example_config_is_valid() -> None:
    example = Path(__file__).parents[2] / "config.example.toml"
    cfg = load_config(example, env={})
    assert cfg.organisation.timezone == "Asia/Shanghai"
