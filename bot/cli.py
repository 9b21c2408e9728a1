"""The `branchbot` command line."""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import logging
import sqlite3
import sys
import unicodedata
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from bot import cli_holidays
from bot.auth import operator_actor
from bot.config import ENV_TOKEN, Config, ConfigError, environment_warnings, load_config
from bot.errors import DomainError, Invalid
from bot.logs import configure as configure_logging
from bot.services import export_files, invites, ledger, members, roster, summary
from bot.services.roster import ImportScope
from bot.services.roster_csv import ParsedRoster, RosterFileError, parse_roster, roster_text
from bot.texts import plain, t

if TYPE_CHECKING:
    from telegram import Bot

    from storage.db import Database

DEFAULT_CONFIG = "branchbot.toml"


def _version() -> str:
    """The installed package's version (pyproject.toml's, as pip recorded it)."""
    try:
        return importlib.metadata.version("branchbot")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed: run pip install -e .)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="branchbot", description="branchbot: a Telegram bot for a member organisation"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", default=DEFAULT_CONFIG, help="TOML file (default: %(default)s)")
        return p

    with_config(sub.add_parser("run", help="run the bot (polling or webhook, as configured)"))

    config = sub.add_parser("config", help="configuration tools")
    config_sub = config.add_subparsers(dest="action", required=True)
    with_config(config_sub.add_parser("check", help="validate the file without starting"))

    db = sub.add_parser("db", help="database tools")
    db_sub = db.add_subparsers(dest="action", required=True)
    with_config(db_sub.add_parser("upgrade", help="apply database migrations"))

    roster_p = sub.add_parser("roster", help="member roster")
    roster_sub = roster_p.add_subparsers(dest="action", required=True)
    imp = with_config(roster_sub.add_parser("import", help="import a roster (CSV or XLSX)"))
    imp.add_argument("file", type=Path)
    imp.add_argument(
        "--dry-run", action="store_true", help="report what would change, change nothing"
    )
    imp.add_argument(
        "--skip-bad-rows", action="store_true", help="import the good rows of a file with bad ones"
    )
    imp.add_argument(
        "--deactivate-missing",
        action="store_true",
        help="deactivate members of the file's branches who are not in it",
    )
    inv = with_config(roster_sub.add_parser("invites", help="print invite codes and links"))
    inv.add_argument("--branch", help="only this branch")
    inv.add_argument("--format", choices=("table", "csv"), default="table")

    export = with_config(sub.add_parser("export", help="write the ledger (台账) for a period"))
    export.add_argument(
        "--period", required=True, help="YYYY-MM, YYYY-Qn, YYYY-H1, YYYY-H2 or YYYY"
    )
    export.add_argument("--branch", help="only this branch (default: all)")
    export.add_argument("--format", choices=("xlsx", "csv"), default="xlsx")
    export.add_argument(
        "--out", type=Path, required=True, help="the .xlsx file, or a folder for the CSV files"
    )

    summary_p = with_config(sub.add_parser("summary", help="draft a half-year or annual report"))
    summary_p.add_argument("--period", required=True, help="YYYY-H1, YYYY-H2 or YYYY")
    summary_p.add_argument("--branch", help="only this branch (default: all)")
    summary_p.add_argument(
        "--out", type=Path, required=True, help="the .docx file; a .md file is written beside it"
    )

    cli_holidays.add_parsers(sub, with_config)

    backup = with_config(sub.add_parser("backup", help="copy the database while the bot runs"))
    backup.add_argument("--out", type=Path, required=True, help="the copy (SQLite)")

    demo = sub.add_parser("demo", help="play a scripted scenario against a local test server")
    demo.add_argument("--quiet-log", action="store_true", help=argparse.SUPPRESS)
    demo.add_argument(
        "--serve",
        action="store_true",
        help="keep running afterwards and print a dashboard login link (Ctrl+C stops)",
    )
    demo.add_argument("--port", type=int, default=8080, help="the dashboard's port with --serve")
    demo.add_argument(
        "--lang",
        choices=("zh", "en"),
        default="zh",
        help="the language the organisation and its members use, names included (default: zh)",
    )
    demo.add_argument(
        "--channel",
        choices=("telegram", "feishu"),
        default="telegram",
        help="the messenger the cast uses: Telegram (default) or Feishu, each on a local stand-in",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "demo":
            # The demo's output is its transcript: only warnings are logged beside it.
            configure_logging("WARNING")
            from bot.demo import run_demo

            return asyncio.run(
                run_demo(
                    serve_port=args.port if args.serve else None,
                    lang=args.lang,
                    channel=args.channel,
                )
            )
        if args.command == "config":
            # A misspelt variable is ignored: say so before the file's own problems.
            for warning in environment_warnings():
                print(f"warning: {warning}", file=sys.stderr)
        config = load_config(args.config)
        # Elsewhere the log is the operator's view, at [logging]'s level and in its format.
        configure_logging(config.logging.level, config.logging.format)
        if args.command == "config":
            # A year without the State Council's arrangement (installed or imported).
            for warning in cli_holidays.check_warnings(config, args.config):
                print(f"warning: holidays: {warning}", file=sys.stderr)
            if not config.telegram.token:
                # Valid for the other commands, but `run` would refuse it.
                print(
                    f"warning: telegram.token: empty; `branchbot run` needs it (or {ENV_TOKEN})",
                    file=sys.stderr,
                )
                print(f"{args.config}: OK, except that `branchbot run` needs telegram.token")
                return 0
            print(f"{args.config}: OK")
            return 0
        if args.command == "run":
            from bot.app import run_until_signalled

            for warning in environment_warnings():
                logging.getLogger(__name__).warning("%s", warning)

            asyncio.run(run_until_signalled(config))
            return 0
        if args.command == "db":
            asyncio.run(_db_upgrade(config))
            print("database is up to date")
            return 0
        if args.command == "export":
            (args.out.parent if args.format == "xlsx" else args.out).mkdir(
                parents=True, exist_ok=True
            )
            return asyncio.run(_export(config, args.period, args.branch, args.format, args.out))
        if args.command == "backup":
            return _backup(config, args.out)
        if args.command == "holidays":
            return cli_holidays.run(config, args)
        if args.command == "summary":
            if not _summary_period_ok(args.period):
                print(
                    "usage: branchbot summary --period YYYY-H1|YYYY-H2|YYYY [--branch NAME] "
                    "--out FILE.docx\n"
                    f"branchbot summary: error: --period must be a half-year or a year "
                    f"(e.g. 2026-H2 or 2026), got {args.period!r}",
                    file=sys.stderr,
                )
                return 2
            drafted = asyncio.run(_summary(config, args.period, args.branch))
            return _write_summary(drafted, args.out) if drafted else 2
        if args.action == "import":
            return asyncio.run(_roster_import(config, args))
        return asyncio.run(_roster_invites(config, args.branch, args.format, sys.stdout))
    except ConfigError as exc:
        # Every problem found, one a line, each naming its key.
        for key, problem in exc.problems:
            print(f"configuration error: {key}: {problem}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


async def _db_upgrade(config: Config) -> None:
    from storage import migrate
    from storage.db import Database

    db = Database(config.database.url)
    try:
        await migrate.upgrade(db)
    finally:
        await db.dispose()


async def _roster_import(config: Config, args: argparse.Namespace) -> int:
    lang = config.organisation.language
    try:
        text = roster_text(args.file.read_bytes(), args.file.name)
        parsed = parse_roster(text)
    except FileNotFoundError:
        print(f"no such file: {args.file}", file=sys.stderr)
        return 2
    except RosterFileError as exc:
        print(plain(t(lang, f"roster_file.{exc.reason}", value=exc.value)), file=sys.stderr)
        return 1
    from bot.app import prepare_database
    from storage.db import Database

    if args.dry_run and _sqlite_file_missing(config.database.url):
        # A dry run writes nothing, not even a new database file: the file is checked alone.
        return _report_import(lang, args, _file_only_report(parsed), file_only=True)
    db = Database(config.database.url)
    try:
        if args.dry_run:
            stored = await _migrated_organisation(db)
            if stored is None:
                return _report_import(lang, args, _file_only_report(parsed), file_only=True)
            org_id = stored
        else:
            org_id = await prepare_database(config, db)
        # The whole file is checked before anything is written, then applied in short
        # transactions: a running bot's writers are never locked out for long, and a run cut
        # short is finished by running the same command again.
        report = await roster.import_roster(
            db,
            org_id,
            parsed,
            ImportScope(None, "cli"),
            invite_days=config.invites.valid_days,
            dry_run=args.dry_run,
            skip_bad_rows=args.skip_bad_rows,
            deactivate_missing=args.deactivate_missing,
        )
        if report.applied and report.access_changed:
            await _refresh_menus(config, db, report.access_changed)
    finally:
        await db.dispose()
    return _report_import(lang, args, report)


async def _refresh_menus(config: Config, db: Database, member_ids: list[int]) -> None:
    """Members the import deactivated, made active again or gave another role get the command
    menu that goes with it. Only with a token; a failure is a warning, the import stands."""
    if not config.telegram.token:
        return
    from bot import menus

    try:
        async with _telegram(config) as tg:
            await menus.refresh_members(db, tg, member_ids, config.organisation.language)
    except Exception as exc:
        logging.getLogger(__name__).warning("could not update the command menus: %s", exc)


def _report_import(
    lang: str, args: argparse.Namespace, report: roster.ImportReport, *, file_only: bool = False
) -> int:
    for err in report.errors:
        reason = plain(t(lang, f"roster_err.{err.reason}", value=err.value))
        print(f"{args.file}:{err.line}: {reason}", file=sys.stderr)
    verb = "would" if args.dry_run else ("imported" if report.applied else "not")
    print(
        plain(
            t(
                lang,
                "cli.import_summary",
                verb=t(lang, f"cli.verb_{verb}"),
                created=len(report.created),
                updated=len(report.updated),
                unchanged=report.unchanged,
                deactivated=len(report.deactivated),
                errors=len(report.errors),
            )
        )
    )
    if file_only:
        print(plain(t(lang, "cli.dry_run_file_only")))
    if report.new_branches:
        print(plain(t(lang, "cli.new_branches", names=", ".join(report.new_branches))))
    if report.new_groups:
        print(plain(t(lang, "cli.new_groups", names=", ".join(report.new_groups))))
    if report.errors and not args.skip_bad_rows:
        print(plain(t(lang, "cli.bad_rows_hint")), file=sys.stderr)
        return 1
    return 0


def _sqlite_file_missing(url: str) -> bool:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return False
    return (
        not parsed.database or parsed.database == ":memory:" or not Path(parsed.database).exists()
    )


async def _migrated_organisation(db: Database) -> int | None:
    """The organisation of a database already migrated to the newest revision, or None (read
    only: a dry run neither migrates nor creates anything)."""
    from alembic.script import ScriptDirectory
    from sqlalchemy import select

    from storage import migrate
    from storage.models import Organisation

    head = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
    if await migrate.current_revision(db) != head:
        return None
    async with db.read() as session:
        return await session.scalar(select(Organisation.id).order_by(Organisation.id).limit(1))


def _file_only_report(parsed: ParsedRoster) -> roster.ImportReport:
    """What a dry run against an empty database would say: every good row is new."""
    report = roster.ImportReport(errors=list(parsed.errors))
    report.created = [row.name for row in parsed.rows]
    report.new_branches = list(dict.fromkeys(row.branch for row in parsed.rows))
    report.new_groups = list(
        dict.fromkeys(f"{row.branch}/{row.group}" for row in parsed.rows if row.group)
    )
    return report


def _summary_period_ok(period: str) -> bool:
    """False for a period a summary does not cover (a month, a quarter): the service's own
    message for that is the chat's `/summary` usage. An unreadable period is left to the
    service, whose message suits both."""
    try:
        summary.check_period(ledger.parse_report_period(period, date.today()))
    except Invalid as exc:
        return exc.key != "summary.usage"
    return True


async def _export(config: Config, period: str, branch: str | None, fmt: str, out: Path) -> int:
    """Read and write the ledger slice by slice, in one read session (on PostgreSQL each sheet
    is its own snapshot: READ COMMITTED)."""
    from bot.app import prepare_database
    from storage.db import Database
    from storage.models import utcnow

    lang = config.organisation.language
    db = Database(config.database.url)
    try:
        org_id = await prepare_database(config, db)
        async with db.read() as session:
            found = await ledger.open_ledger(
                session,
                org_id,
                config.organisation.tz,
                operator_actor(lang),
                period,
                branch,
                now=utcnow(),
            )
            if fmt == "xlsx":
                data, rows = await export_files.xlsx_from(found.sheets)
                await asyncio.to_thread(out.write_bytes, data)
                written = [out]
            else:
                stem = ledger.file_stem(found.scope, found.period)
                written, rows = await export_files.csv_into(found.sheets, out, stem)
    except DomainError as exc:
        print(plain(t(lang, exc.key, **exc.params)), file=sys.stderr)
        return 2
    finally:
        await db.dispose()
    tables = len(found.sheets)
    print(f"{found.period.key}: {rows} rows in {tables} tables -> " + ", ".join(map(str, written)))
    return 0


async def _summary(config: Config, period: str, branch: str | None) -> summary.Summary | None:
    from bot.app import prepare_database
    from handlers.common import Deps
    from storage.db import Database
    from storage.models import utcnow

    lang = config.organisation.language
    db = Database(config.database.url)
    try:
        org_id = await prepare_database(config, db)
        async with db.read() as session:
            _, _, draft = await summary.summary_for(
                session,
                Deps(config, db, org_id).meetings,
                operator_actor(lang),
                period,
                branch,
                config.organisation.name,
                now=utcnow(),
            )
            return draft
    except DomainError as exc:
        print(plain(t(lang, exc.key, **exc.params)), file=sys.stderr)
        return None
    finally:
        await db.dispose()


def _write_summary(draft: summary.Summary, out: Path) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(summary.docx_bytes(draft))
    notes = out.with_suffix(".md")
    notes.write_text(summary.markdown(draft), encoding="utf-8")
    print(f"{draft.title} -> {out}, {notes}")
    return 0


def _backup(config: Config, out: Path) -> int:
    """SQLite: an online backup (the bot may keep running). PostgreSQL: pg_dump is the tool."""
    from sqlalchemy.engine import URL, make_url

    url = make_url(config.database.url)
    if not url.drivername.startswith("sqlite"):
        # Built anew without the password (URL.set(password=None) would keep it).
        safe = URL.create(
            "postgresql", username=url.username, host=url.host, port=url.port, database=url.database
        )
        target = safe.render_as_string(hide_password=False)
        print(
            "PostgreSQL is backed up with its own tool, while the bot runs:\n"
            f"  pg_dump --format=custom --file={out} '{target}'\n"
            "(give the password through PGPASSWORD or ~/.pgpass; restore with pg_restore)",
            file=sys.stderr,
        )
        return 2
    if not url.database or url.database == ":memory:" or not Path(url.database).exists():
        print(f"no SQLite file at {url.database!r}", file=sys.stderr)
        return 2
    out.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(url.database)
    try:
        target_db = sqlite3.connect(out)
        try:
            # The online backup API copies a consistent snapshot while writers carry on.
            source.backup(target_db)
        finally:
            target_db.close()
    finally:
        source.close()
    print(f"{url.database} -> {out}")
    return 0


def _width(text: str) -> int:
    """Terminal columns: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


async def bot_username(config: Config) -> str:
    if config.telegram.bot_username:
        return config.telegram.bot_username.lstrip("@")
    if not config.telegram.token:
        raise ConfigError("telegram.bot_username", "set it (or telegram.token) to print links")
    async with _telegram(config) as tg:
        return tg.username


def _telegram(config: Config) -> Bot:
    """A Bot for the command line's own Bot API calls, over the bot's transport and through
    telegram.proxy (or the environment's proxy) as `branchbot run` reaches Telegram."""
    from telegram import Bot

    from bot.telegram_http import AiohttpRequest

    request = AiohttpRequest(proxy=config.telegram.proxy)
    return Bot(
        config.telegram.token,
        base_url=config.telegram.api_base_url,
        request=request,
        get_updates_request=request,
    )


async def _roster_invites(config: Config, branch: str | None, fmt: str, out: TextIO) -> int:
    from bot.app import prepare_database
    from storage.db import Database

    # An office on Feishu alone hands out codes only: there is no Telegram bot to link to.
    feishu_only = config.feishu.enabled and not (
        config.telegram.token or config.telegram.bot_username
    )
    username = None if feishu_only else await bot_username(config)
    db = Database(config.database.url)
    try:
        org_id = await prepare_database(config, db)
        async with db.write() as session:
            branch_id = None
            if branch:
                try:
                    branch_id = (await members.find_branch(session, org_id, branch)).id
                except DomainError:
                    print(f"no branch called {branch!r}", file=sys.stderr)
                    return 2
            lines = await invites.invites_for_unbound(
                session, org_id, valid_days=config.invites.valid_days, branch_id=branch_id
            )
    finally:
        await db.dispose()
    if fmt == "csv":
        # For Excel: a BOM, headers in the organisation's language, no cell read as a formula.
        data = invites.invites_csv(lines, username, config.organisation.language)
        out.write(data.decode("utf-8"))
        return 0
    rows = [
        (line.name, line.branch, line.group, line.code)
        + ((invites.deep_link(username, line.code),) if username is not None else ())
        for line in lines
    ]
    header = ("name", "branch", "group", "code") + (("link",) if username is not None else ())
    widths = [max([_width(h), *(_width(r[i]) for r in rows)]) for i, h in enumerate(header)]
    for row in (header, *rows):
        cells = (cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(row))
        out.write("  ".join(cells).rstrip() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
