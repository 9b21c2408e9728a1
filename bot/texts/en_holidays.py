"""Holiday arrangements: importing and showing the State Council's notice, and warnings when the
official arrangement is missing."""

from __future__ import annotations

TEXTS: dict[str, str] = {
    "help.holidays": "/holidays [year] — the holidays and adjusted working days in force, and where each date comes from (official calendar, imported notice or estimate)",
    "help.holidays_import": "/holidays import [notice text] — load the State Council's holiday notice, used after you confirm it for holiday reminders and working days",
    "menu.holidays": "Holiday arrangements",
    "menu.holidays_import": "Import the holiday notice",
    "holidays.usage": (
        "Usage:\n/holidays [year] — the holidays in force and where they come from\n"
        "/holidays import [notice text] — load the State Council's holiday notice (admins)"
    ),
    "holidays.bad_year": "“{value}” is not a year from 2000 to 2100.",
    "holidays.title": "Holidays in {year}",
    "holidays.source.official": "official calendar",
    "holidays.source.notice": "imported notice",
    "holidays.source.estimate": "estimate",
    "holidays.from_official": "Source: the installed official calendar (chinese-calendar's copy of the State Council's notice).",
    "holidays.from_notice": "Source: the State Council's notice as imported (confirmed {when}, {who}).",
    "holidays.by_cli": "from the command line",
    "holidays.from_estimate": (
        "Source: estimate. The official arrangement is not known yet (the installed calendar ends "
        "with {last} and no notice was imported): only the statutory days and weekday make-ups "
        "for weekend ones, no adjusted working days; the real breaks may be longer. Once the "
        "State Council publishes its notice, an admin loads it with /holidays import and the text."
    ),
    "holidays.no_data": "No holiday data for {year}.",
    "holidays.break_row": "{name}: {days}, {count} days{makeup} [{source}]",
    "holidays.item_row": "{name}: {days}, {count} days{makeup}",
    "holidays.makeup": "; working days: {days}",
    "holidays.span": "{start} to {end}",
    "holidays.day": "{day} {month} ({weekday})",
    "holidays.day_in_year": "{day} {month} {year} ({weekday})",
    "holidays.weekdays": "Mon,Tue,Wed,Thu,Fri,Sat,Sun",
    "holidays.months": "Jan,Feb,Mar,Apr,May,Jun,Jul,Aug,Sep,Oct,Nov,Dec",
    "holidays.list_sep": ", ",
    "holidays.paste": (
        "Paste the State Council's notice as your next message, all of it with its title "
        "(国务院办公厅关于20XX年部分节假日安排的通知), or put it after /holidays import. "
        "You will see what I read before anything changes. /cancel stops."
    ),
    "holidays.paste_text": "Please paste the notice as text (not a file or a photo), or /cancel.",
    "holidays.paste_again": "Correct it and paste the whole notice again, or /cancel.",
    "holidays.preview_title": "{title}\nRead as ({year}):",
    "holidays.preview_totals": "{items} holidays, {off} days off, {work} adjusted working days.",
    "holidays.preview_effect": "Once confirmed, {year}'s holiday reminders and working days follow this notice instead of {instead}.",
    "holidays.instead.estimate": "the estimated dates",
    "holidays.instead.official": "the installed calendar's copy",
    "holidays.instead.notice": "the notice imported {when}",
    "holidays.same_as_installed": "✅ The same as the installed official calendar.",
    "holidays.differs": "⚠️ {count} days differ from the installed official calendar; check carefully.",
    "holidays.confirm": "Confirm",
    "holidays.cancel": "Cancel",
    "holidays.imported": "{year}'s holiday arrangement imported: {off} days off, {work} adjusted working days.",
    "holidays.moved": "{count} holiday reminders moved to the new dates.",
    "holidays.cancelled": "Cancelled; nothing imported.",
    "holidays.unknown": "That notice is gone; please send it again.",
    "holidays.settled": "That notice was already handled ({status}).",
    "holidays.status.active": "imported",
    "holidays.status.replaced": "replaced by a later notice",
    "holidays.status.cancelled": "cancelled",
    "holidays.err.no_year": "Cannot read the notice: no year found. Send it with its title (国务院办公厅关于20XX年部分节假日安排的通知).",
    "holidays.err.year_range": "Cannot read the notice: the year must be from 2000 to 2100 ({value}).",
    "holidays.err.no_items": "Cannot read the notice: no items like 「一、元旦：1月1日至3日放假调休，共3天。」 found.",
    "holidays.err.unknown_holiday": "Cannot read the notice: unknown holiday “{value}”.",
    "holidays.err.no_month": "Cannot read the notice: a date without a month ({value}).",
    "holidays.err.bad_date": "Cannot read the notice: no such date ({value}).",
    "holidays.err.bad_range": "Cannot read the notice: a span that does not read ({value}).",
    "holidays.err.no_days_off": "Cannot read the notice: the item “{value}” has no days off.",
    "holidays.err.count": "Cannot read the notice: the number of days does not match the dates ({value}).",
    "holidays.err.overlap": "Cannot read the notice: a day named twice ({value}).",
    "holidays.err.too_long": "Cannot read the notice: too long (at most {value} characters); send the notice alone.",
    "holidays.estimate_warning": (
        "⚠️ The official holiday arrangement for {years} is not known yet (the installed calendar "
        "ends with {last}): those reminder dates are estimates, without adjusted working days. "
        "Once the State Council publishes its notice, an admin loads it with /holidays import and "
        "the dates follow it."
    ),
    "holidays.alert": (
        "📅 The holiday arrangement for {year} is not known yet: the installed calendar ends with "
        "{last}, so {year}'s holiday reminders and working days are estimates (no adjusted working "
        "days). The State Council usually publishes its notice (关于{year}年部分节假日安排的通知) "
        "in November; then send /holidays import with the notice's text and confirm it."
    ),
    "holidays.check_warning": (
        "{year} has no official holiday arrangement (the installed chinese-calendar ends with "
        "{last} and no notice was imported): holiday reminders and working days use estimates; "
        "once the notice is out: branchbot holidays import NOTICE.txt --config {config}"
    ),
    "holidays.check_unread": "could not read the database, so imported holiday notices were not checked ({error})",
    "holidays.cli_prompt": "Import this notice? [y/N] ",
    "holidays.cli_not_imported": "Not imported.",
    "holidays.cli_need_yes": "Not run in a terminal, so I cannot ask: add --yes once you have checked it.",
    "holidays.cli_no_file": "no such file: {value}",
    "holidays.cli_encoding": "Unknown text encoding; save the notice as UTF-8 or GBK text.",
}
