"""`branchbot holidays import|show` and the holiday warning of `branchbot config check`.

Messages follow `organisation.language`, as the roster import's do. Exit status: 0 done, 1 the
notice was not imported (it does not read as a notice, or the answer was no), 2 usage or
configuration error."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

from bot.config import Config
from bot.errors import DomainError
from bot.services import holiday_notices
from bot.services.holiday_calendar import load_calendar, missing_years
from bot.services.holidays import BUILT_IN, Calendar, official_range
from bot.services.periods import MAX_YEAR, MIN_YEAR
from bot.services.roster_csv import office_text
from bot.texts import plain, t

# `config check` gives up on a database that does not answer within this.
CHECK_TIMEOUT_SECONDS = 10.0
_YES = {"y", "yes", "是", "确认"}


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    with_config: Callable[[argparse.ArgumentParser], argparse.ArgumentParser],
) -> None:
    holidays = sub.add_parser("holidays", help="the official holiday arrangement (放假安排)")
    holidays_sub = holidays.add_subparsers(dest="action", required=True)
    imp = with_config(
        holidays_sub.add_parser(
            "import", help="load the State Council's holiday notice from a text file"
        )
    )
    imp.add_argument("file", type=Path, help="the notice's text (UTF-8 or GBK), with its title")
    imp.add_argument("--yes", action="store_true", help="import without asking")
    show = with_config(
        holidays_sub.add_parser(
            "show", help="the holidays in force for a year and where each date comes from"
        )
    )
    show.add_argument("year", nargs="?", help="YYYY (default: this year)")


def run(config: Config, args: argparse.Namespace) -> int:
    if args.action == "import":
        lang = config.organisation.language
        try:
            data = args.file.read_bytes()
        except FileNotFoundError:
            print(plain(t(lang, "holidays.cli_no_file", value=str(args.file))), file=sys.stderr)
            return 2
        text = office_text(data)
        if text is None:
            print(plain(t(lang, "holidays.cli_encoding")), file=sys.stderr)
            return 1
        return asyncio.run(_import(config, text, yes=args.yes))
    return asyncio.run(_show(config, args.year))


async def _import(config: Config, text: str, *, yes: bool) -> int:
    from bot.app import prepare_database
    from handlers.common import Deps
    from storage.db import Database
    from storage.models import utcnow

    lang = config.organisation.language
    try:
        holiday_notices.read_notice(text)
    except DomainError as exc:
        print(plain(t(lang, exc.key, **exc.params)), file=sys.stderr)
        return 1
    db = Database(config.database.url)
    try:
        org_id = await prepare_database(config, db)
        async with db.read() as session:
            preview = await holiday_notices.preview_notice(session, org_id, text)
        tz = config.organisation.tz
        for line in holiday_notices.preview_lines(lang, preview, tz):
            print(plain(line))
        if not yes:
            try:
                answer = await asyncio.to_thread(input, plain(t(lang, "holidays.cli_prompt")))
            except EOFError:
                print(plain(t(lang, "holidays.cli_need_yes")), file=sys.stderr)
                return 1
            if answer.strip().lower() not in _YES:
                print(plain(t(lang, "holidays.cli_not_imported")))
                return 1
        async with db.write() as session:
            imported = await holiday_notices.import_notice(
                session, Deps(config, db, org_id).push, text, now=utcnow()
            )
    finally:
        await db.dispose()
    print(plain(holiday_notices.imported_text(lang, imported)))
    return 0


async def _show(config: Config, year_text: str | None) -> int:
    from bot.app import prepare_database
    from storage.db import Database

    lang = config.organisation.language
    tz = config.organisation.tz
    if year_text is None:
        year = today_in(config).year
    elif year_text.isdigit() and MIN_YEAR <= int(year_text) <= MAX_YEAR:
        year = int(year_text)
    else:
        print(plain(t(lang, "holidays.bad_year", value=year_text)), file=sys.stderr)
        return 2
    db = Database(config.database.url)
    try:
        org_id = await prepare_database(config, db)
        async with db.read() as session:
            view = await holiday_notices.year_view(session, org_id, year)
    finally:
        await db.dispose()
    title, lines = holiday_notices.year_lines(lang, view, tz)
    print(plain(title))
    for line in lines:
        print(plain(line))
    return 0


def check_warnings(config: Config, config_path: str) -> list[str]:
    """`config check`: the years whose official arrangement is needed and missing, counting the
    notices imported into the database when there is one (read only: nothing is created or
    migrated)."""
    return asyncio.run(_check(config, config_path))


async def _stored_calendar(config: Config) -> Calendar:
    from bot import cli
    from storage.db import Database

    if cli._sqlite_file_missing(config.database.url):
        return BUILT_IN
    db = Database(config.database.url)
    try:
        org_id = await cli._migrated_organisation(db)
        if org_id is None:
            return BUILT_IN
        async with db.read() as session:
            return await load_calendar(session, org_id)
    finally:
        await db.dispose()


def today_in(config: Config) -> date:
    """Today in the organisation's zone (tests move it)."""
    from storage.models import utcnow

    return utcnow().astimezone(config.organisation.tz).date()


async def _check(config: Config, config_path: str) -> list[str]:
    lang = config.organisation.language
    today = today_in(config)
    unread: str | None = None
    try:
        calendar = await asyncio.wait_for(_stored_calendar(config), CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # an unreachable database must not fail the file's check
        calendar = BUILT_IN
        unread = t(lang, "holidays.check_unread", error=f"{type(exc).__name__}: {exc}"[:200])
    warnings = [
        plain(
            t(
                lang,
                "holidays.check_warning",
                year=year,
                last=official_range()[1],
                config=config_path,
            )
        )
        for year in missing_years(calendar, today)
    ]
    if warnings and unread is not None:
        warnings.append(plain(unread))
    return warnings
