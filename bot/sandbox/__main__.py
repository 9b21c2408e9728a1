"""`python -m bot.sandbox [--port N]`: serve a local Bot API on loopback until interrupted.

Point `telegram.api_base_url` at the printed address to try the bot, or a benchmark at it.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from contextlib import suppress

from bot.sandbox.server import BotApiSandbox, run_sandbox


async def serve(port: int, quiet: bool) -> None:
    sandbox = BotApiSandbox()
    if not quiet:
        sandbox.on_event = print
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with run_sandbox(sandbox, port=port) as base:
        print(f"{base}/bot  token {sandbox.token}", flush=True)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.sandbox")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--quiet", action="store_true", help="no transcript")
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.quiet))


if __name__ == "__main__":
    main()
