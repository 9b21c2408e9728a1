"""English texts for meetings. HTML parse mode: parameters are escaped by t()."""

TEXTS: dict[str, str] = {
    "help.checkin": "/checkin &lt;code&gt; — check in (or out) at a meeting or volunteer activity",
    "help.meetings": "/meetings — recent and upcoming meetings with attendance",
    "help.meeting": "/meeting — schedule a meeting (guided); /meeting &lt;kind&gt; &lt;YYYY-MM-DD HH:MM&gt; &lt;title&gt; [@ place] [#group]; /meeting &lt;id&gt; [time|title|place|cancel …] to view or change",
    "help.attendance": "/attendance &lt;meeting id&gt; — each member's attendance",
    "help.checkincode": "/checkincode &lt;meeting id&gt; — the check-in code and QR for the room",
    "help.present": "/present &lt;meeting id&gt; &lt;names…&gt; — mark members present by hand",
    "help.minutes": "/minutes &lt;meeting id&gt; [text] — attach the minutes (text or a file)",
    "menu.checkin": "Check in",
    "menu.meetings": "Meetings",
    "menu.meeting": "Schedule a meeting",
    "menu.attendance": "Attendance",
    "menu.checkincode": "Check-in code",
    "menu.present": "Mark present",
    "menu.minutes": "Minutes",
    "kind.general": "Branch general meeting",
    "kind.committee": "Branch committee meeting",
    "kind.group": "Group meeting",
    "kind.lecture": "Party lecture",
    "wd.0": "Mon",
    "wd.1": "Tue",
    "wd.2": "Wed",
    "wd.3": "Thu",
    "wd.4": "Fri",
    "wd.5": "Sat",
    "wd.6": "Sun",
    "meeting.when": "{at} ({wd})",
    "meeting.head": "📅 <b>{kind}</b>: {title}",
    "meeting.time": "Time: {when}",
    "meeting.place": "Place: {place}",
    "meeting.btn_attend": "Attend",
    "meeting.btn_leave": "Ask for leave",
    "meeting.invitation": "<b>Meeting invitation</b>",
    "meeting.reminder": "⏰ <b>Reminder</b>: the meeting starts in {hours} h. Please be on time.",
    "meeting.reminder_unanswered": "⏰ <b>Reminder</b>: the meeting starts in {hours} h and you have not answered. Attend or ask for leave?",
    "meeting.moved": "🔁 <b>The meeting has moved</b>; please come at the new time, or ask for leave.",
    "meeting.changed": "✏️ <b>The meeting details have changed</b>",
    "meeting.cancelled_notice": "❌ <b>Meeting cancelled</b>",
    "meeting.cancelled_reason": "❌ <b>Meeting cancelled</b> (reason: {reason})",
    "meeting.closed_report": (
        '📋 Check-in for meeting #{id} "{title}" has closed: attended {attended}, late {late}, '
        "on leave {leave}, absent {absent}. Make-up sent to {makeups}. "
        "Send /attendance {id} for the list."
    ),
    "meeting.closed_empty": (
        '📋 Check-in for meeting #{id} "{title}" has closed with nobody checked in: it counts as '
        "not held (not in compliance) and no make-ups were sent. If it did take place, use the "
        "check-in code or /present next time."
    ),
    "meeting.too_late_to_cancel": 'Check-in for "{title}" has closed and attendance is final; it can no longer be cancelled.',
    "meeting.need_group": "A group meeting needs a group: add e.g. #Group1 at the end.",
    "meeting.need_branch": "A {kind} needs a branch: add e.g. #Branch1 at the end.",
    "meeting.no_title": "Please give the meeting a title.",
    "meeting.place_too_long": "The place is too long (at most {limit} characters).",
    "meeting.in_past": "The meeting must be in the future.",
    "meeting.unknown": "There is no meeting #{id}.",
    "meeting.is_cancelled": 'The meeting "{title}" was cancelled.',
    "meeting.started": 'The meeting "{title}" has started or ended; it can no longer change.',
    "leave.empty": "Please give a reason for your leave.",
    "leave.too_long": "The reason is too long ({length} characters, at most {limit}).",
    "checkin.usage": "Usage: /checkin &lt;6-digit code&gt; (the organiser shows the check-in or check-out code on site)",
    "checkin.outside_window": 'Check-in for "{title}" is open from {opens} to {closes}; not now.',
    "checkin.not_invited": 'You are not on the list for "{title}", so you cannot check in.',
    "checkin.too_many": "Too many wrong codes; try again in {minutes} minutes, or ask the organiser to mark you present.",
    "checkin.wrong_code": "That code is wrong or has expired; use the latest code shown on site.",
    "checkin.nothing_open": "You have no meeting or volunteer activity open for check-in now.",
    "checkin.stale_qr": "This check-in QR code has expired; scan the latest one shown on site.",
    "item.head_makeup": "📘 <b>Make-up</b>: {title}",
    "item.makeup_not_yet": "The minutes have not been uploaded yet; you will get them, then study and confirm.",
    "item.makeup_pending": "The minutes will be sent to you once they are uploaded.",
    "items.kind_makeup": "make-up",
    "minutes.empty": "The minutes are empty.",
    "minutes.too_long": "The minutes are too long ({length} characters, at most {limit}); send them as a file.",
    "meeting.bad_time": 'I cannot read the time "{value}"; write it like 2026-12-01 14:30.',
    "meeting.audience_branch": "all members of {name}",
    "meeting.audience_committee": "the committee of {name}",
    "meeting.audience_group": "{name}",
    "meeting.scheduled": (
        '✅ Meeting #{id} scheduled: {kind} "{title}"\nTime: {when}\nInvitations sent to {count}. '
        "At the meeting, send /checkincode {id} to show the check-in code."
    ),
    "meeting.usage": (
        "Usage:\n/meeting — schedule a meeting step by step\n"
        "/meeting &lt;kind&gt; &lt;YYYY-MM-DD HH:MM&gt; &lt;title&gt; [@ place] [#group]\n"
        "Kinds: general, committee, group, lecture (or 党员大会, 支委会, 党小组会, 党课)\n"
        "Example: /meeting general 2026-12-05 14:30 Plenum study @ Room 301\n"
        "/meeting &lt;id&gt; — show a meeting; /meeting &lt;id&gt; time|title|place|cancel … — change or cancel it"
    ),
    "meeting.edit_usage": (
        "Usage: /meeting {id} time 2026-12-05 15:00 | /meeting {id} title New title | "
        "/meeting {id} place New place | /meeting {id} cancel [reason]"
    ),
    "meeting.cancelled_done": 'Meeting #{id} "{title}" cancelled; {count} notified.',
    "meeting.edited": 'Meeting #{id} "{title}" changed; {count} notified.',
    "meeting.status_scheduled": "Status: not started",
    "meeting.status_closed": "Status: held",
    "meeting.status_cancelled": "Status: cancelled",
    "meeting.counts": "Invited {invited}: attending {attending}, on leave {leave}, checked in {checked_in}",
    "meeting.btn_code": "Check-in code",
    "meeting.btn_attendance": "Attendance",
    "meeting.ask_kind": "Which kind of meeting? (send /cancel at any time to stop)",
    "meeting.ask_time": "When? For example 2026-12-05 14:30",
    "meeting.ask_title": "The meeting's title (topic)?",
    "meeting.ask_place": "Where? Press the button if there is no place to give.",
    "meeting.ask_group": "Which group's meeting?",
    "meeting.ask_confirm": 'Press "Schedule it" or "Cancel".',
    "meeting.more_groups": "(only the first groups are listed; for another, use the one-line form ending in #group)",
    "meeting.btn_no_place": "No place",
    "meeting.preview": (
        "<b>Please confirm</b>\nKind: {kind}\nTitle: {title}\nTime: {when}\nPlace: {place}\n"
        "Invitees: {audience}"
    ),
    "meeting.btn_confirm": "Schedule it",
    "meeting.btn_cancel": "Cancel",
    "meeting.dialog_cancelled": "Stopped; no meeting was scheduled.",
    "meeting.expired": "This step has expired; send /meeting again.",
    "meeting.answered_attend": "Answer saved: attending",
    "meeting.answer_same": "You have already answered",
    "leave.prompt": 'Please reply with the reason for your leave ("{title}"). Send /cancel to stop.',
    "leave.saved": 'Leave recorded for "{title}". You will get the make-up material afterwards. You can still switch to attending before the start.',
    "checkin.done": '✅ Checked in: "{title}"',
    "checkin.late": '✅ Checked in: "{title}" (late)',
    "checkin.already": 'You have already checked in: "{title}"',
    "checkincode.usage": "Usage: /checkincode &lt;meeting id&gt; (shown around the start of the meeting)",
    "checkincode.caption": (
        "<b>{title}</b>\nCheck-in code: <code>{code}</code> (valid until {until}; it changes every minute)\n"
        "Scan, or send /checkin {code}. Check-in closes at {closes}."
    ),
    "checkincode.over": "Check-in has closed. Send /attendance {id} for the list.",
    "checkincode.btn_refresh": "Refresh code",
    "present.usage": "Usage: /present &lt;meeting id&gt; &lt;name&gt; [name…], e.g. /present 12 张三 李四",
    "present.title": '"{title}", marked by hand:',
    "present.marked": "Marked present: {names}",
    "present.already": "Already checked in: {names}",
    "present.unknown": "Not invited: {names}",
    "minutes.usage": "Usage: /minutes &lt;meeting id&gt; [text]; without text, send the text or a file next.",
    "minutes.prompt": 'Send the minutes of "{title}": text or a file (Word, PDF…; send a photo as a file). Send /cancel to stop.',
    "minutes.prompt_again": "Send text or a file as the minutes (a photo as a file), or /cancel to stop.",
    "minutes.saved": 'Minutes saved for meeting #{id} "{title}".',
    "minutes.sent": "Sent to the {count} who still owe a make-up.",
    "meetings.none": "No recent meetings. Send /meeting to schedule one.",
    "meetings.upcoming": "<b>Upcoming</b>",
    "meetings.recent": "<b>Recent</b>",
    "meetings.row": (
        '#{id} {when} {kind} "{title}" — invited {invited}, attending {attending}, leave {leave}, '
        "checked in {checked_in}"
    ),
    "attendance.usage": "Usage: /attendance &lt;meeting id&gt; (ids in /meetings)",
    "attendance.row": "{name}: {status}",
    "attendance.at": " (checked in {when})",
    "attendance.reason": " (reason: {reason})",
    "attendance.made_up": ", made up {when}",
    "attendance.summary": "{total} invited: {summary}",
    "attendance.none": "no answer",
    "attendance.attend": "attending",
    "attendance.leave": "on leave",
    "attendance.attended": "attended",
    "attendance.late": "late",
    "attendance.absent": "absent",
    "me.attendance": (
        "Meetings this quarter: invited {invited}, attended {attended}, late {late}, "
        "on leave {leave}, absent {absent}, made up {made_up}"
    ),
}
