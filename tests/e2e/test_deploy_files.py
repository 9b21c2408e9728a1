"""The deployment files agree with the code: the environment variables the config reads, the
port the bot listens on, the paths the proxy forwards. (No Docker engine runs here, so the
files are checked, not run.)"""

from __future__ import annotations

import configparser
from pathlib import Path

import yaml

from bot.config import ENV_DASHBOARD_SECRET, ENV_DATABASE_URL, ENV_TOKEN, WebhookConfig

ROOT = Path(__file__).resolve().parents[2]


def test_compose_runs_the_bot_on_postgres_behind_the_proxy() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) == {"db", "bot", "proxy"}
    bot = services["bot"]
    assert set(bot["environment"]) == {ENV_TOKEN, ENV_DATABASE_URL, ENV_DASHBOARD_SECRET}
    assert bot["environment"][ENV_DATABASE_URL].startswith("postgresql+asyncpg://")
    assert bot["expose"] == [str(WebhookConfig().port)] and "ports" not in bot
    assert (ROOT / bot["build"]["dockerfile"]).exists()
    caddy = (ROOT / "deploy" / "Caddyfile").read_text(encoding="utf-8")
    assert f"reverse_proxy bot:{WebhookConfig().port}" in caddy
    assert WebhookConfig().path in caddy and "/dashboard/*" in caddy and "/api/*" in caddy


def test_the_systemd_unit_runs_branchbot_and_stops_it_with_sigterm() -> None:
    unit = configparser.ConfigParser(strict=False)
    unit.read(ROOT / "deploy" / "branchbot.service", encoding="utf-8")
    assert unit["Service"]["ExecStart"].split()[1:3] == ["run", "--config"]
    assert unit["Service"]["KillSignal"] == "SIGTERM"
    assert unit["Install"]["WantedBy"] == "multi-user.target"
