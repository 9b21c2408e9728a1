"""Several instances: on SQLite only one process may run the scheduler and sender, and a second
says why it does not; PostgreSQL lets every instance run them (rows claimed with SKIP LOCKED)."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest

from bot.app import prepare_database, start_workers
from handlers.common import Deps
from storage.db import Database
from storage.single_writer import lock_path
from tests.handlers.conftest import make_config


def deps_for(db: Database) -> Deps:
    config = make_config(db.url)
    # Nothing is sent here; a dead loopback port makes sure nothing could be.
    config = replace(
        config, telegram=replace(config.telegram, api_base_url="http://127.0.0.1:9/bot")
    )
    return Deps(config, db, 0)


async def test_a_second_sqlite_instance_runs_no_scheduler_and_says_why(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    if not db.is_sqlite:
        first, second = start_workers(deps_for(db)), start_workers(deps_for(db.reopen()))
        assert first is not None and second is not None
        await first.stop()
        await second.stop()
        return
    deps = deps_for(db)
    deps = replace(deps, org_id=await prepare_database(deps.config, db))
    first = start_workers(deps)
    assert first is not None and first.lock is not None
    other = db.reopen()
    try:
        with caplog.at_level(logging.ERROR, logger="bot.app"):
            assert start_workers(replace(deps, db=other)) is None
        assert "already runs the scheduler" in caplog.text and "PostgreSQL" in caplog.text
        await first.stop()
        # Once the first has stopped, the next one takes over.
        third = start_workers(replace(deps, db=other))
        assert third is not None
        await third.stop()
    finally:
        await other.dispose()


def test_the_lock_file_sits_beside_the_database(tmp_path: Path) -> None:
    assert lock_path(f"sqlite+aiosqlite:///{tmp_path}/b.db") == tmp_path / "b.db.scheduler.lock"
    assert lock_path("sqlite+aiosqlite://") is None
    assert lock_path("postgresql+asyncpg://postgres@127.0.0.1/test") is None
