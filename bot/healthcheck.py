"""The container's HEALTHCHECK: ask the running bot's /healthz, with the standard library only
(the image has no curl), at the address its configuration gives:

    python -c "import sys; from bot.healthcheck import probe; sys.exit(probe('branchbot.toml'))"

Exit status 0 when it answers 200, 1 otherwise (503, no answer, health.enabled off).
"""

from __future__ import annotations

import sys
import urllib.error
import urllib.request
from pathlib import Path

from bot.config import Config, load_config


def health_url(config: Config) -> str:
    """Where this configuration serves /healthz, seen from the same machine."""
    if config.telegram.mode == "webhook":
        host, port = config.webhook.listen, config.webhook.port
    else:
        host, port = config.health.listen, config.health.port
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/healthz"


def probe(config_path: str | Path, timeout: float = 5.0) -> int:
    try:
        config = load_config(config_path)
    except Exception as exc:
        print(f"healthcheck: {exc}", file=sys.stderr)
        return 1
    if not config.health.enabled:
        print("healthcheck: health.enabled is off", file=sys.stderr)
        return 1
    url = health_url(config)
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        print(f"healthcheck: {url}: {exc.code} {exc.read()[:500].decode(errors='replace')}")
        return 1
    except OSError as exc:
        print(f"healthcheck: {url}: {exc}", file=sys.stderr)
        return 1
    return 0 if status == 200 else 1
