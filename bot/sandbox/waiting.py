"""Waiting for a stand-in's state to change, shared by the Telegram and Feishu stand-ins."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import suppress
from typing import TypeVar

T = TypeVar("T")


class Changes:
    """Every change wakes every waiter, and each re-checks its own condition. Futures made per
    wait (rather than one Condition) keep a stand-in usable from whichever loop runs it."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        waiters, self._waiters = self._waiters, set()
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    async def wait(self, seconds: float) -> None:
        """Until the next change, or `seconds`."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(fut)
        try:
            with suppress(TimeoutError):
                await asyncio.wait_for(fut, seconds)
        finally:
            self._waiters.discard(fut)

    async def until(
        self, found: Callable[[], T | None], seconds: float, failure: Callable[[], Exception]
    ) -> T:
        """What `found` returns once it is not None; `failure()` is raised after `seconds`."""
        deadline = asyncio.get_running_loop().time() + seconds
        while True:
            value = found()
            if value is not None:
                return value
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise failure()
            await self.wait(remaining)
