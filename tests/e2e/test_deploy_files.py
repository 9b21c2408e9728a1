"""The deployment files agree with the code: the environment variables the config reads, the
port the bot listens on, the paths the proxy forwards. (No Docker engine runs here, so the
files are checked, not run.)"""

from __future__ import annotations

import configparser
import json
from pathlib import Path

import yaml

from bot.config import ENV_DATABASE_URL, WebhookConfig, env_name

ROOT = Path(__file__).resolve().parents[2]


def test_compose_runs_the_bot_on_postgres_behind_the_proxy() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert set(services) == {"db", "bot", "proxy"}
    bot = services["bot"]
    # The secrets come from .env, each in the variable of its key (BRANCHBOT_<SECTION>_<KEY>).
    secrets = ["telegram.token", "database.url", "webhook.secret_token", "dashboard.secret_key"]
    assert set(bot["environment"]) == {env_name(*key.split(".")) for key in secrets}
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


def test_the_image_checks_its_health_with_the_standard_library() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text(encoding="utf-8")
    # The instruction with its continuation lines, as one.
    joined = dockerfile.replace("\\\n", " ")
    (check,) = [line for line in joined.splitlines() if line.startswith("HEALTHCHECK")]
    assert "curl" not in check and "wget" not in check
    command = json.loads(check.split("CMD", 1)[1])
    assert command[:2] == ["python", "-c"]
    # The probe reads the same file the bot runs with, so it asks the address the bot serves.
    (run,) = [line for line in joined.splitlines() if line.startswith("CMD")]
    config_path = json.loads(run.split("CMD", 1)[1])[-1]
    assert f"probe({config_path!r})" in command[2]
    compile(command[2], "<healthcheck>", "exec")
