"""English texts for time polls. HTML parse mode: parameters are escaped by t()."""

TEXTS: dict[str, str] = {
    "help.timepoll": "/timepoll [kind] &lt;title&gt; [#group] | &lt;slot&gt; | &lt;slot&gt; … — find a time that suits",
    "menu.timepoll": "Find a time",
    "poll.usage": (
        "Usage: /timepoll [kind] &lt;title&gt; [#branch or group] | &lt;slot&gt; | &lt;slot&gt; …\n"
        "Example: /timepoll general Q4 general meeting | 11-28 14:30 | 11-29 19:00 | 2026-12-02 15:00\n"
        "Write slots as YYYY-MM-DD HH:MM or MM-DD HH:MM (local time), 2 to 8 of them, "
        "separated by |. The kind is optional (general by default): committee, group, lecture.\n"
        "/timepoll &lt;number&gt; shows a poll's tally again."
    ),
    "poll.bad_slot": "Cannot read the time “{slot}”; write it as 11-28 14:30 or 2026-11-28 14:30.",
    "poll.slot_count": "Give {min} to {max} slots (you gave {count}), separated by |.",
    "poll.slot_duplicate": "The slot {slot} is given twice.",
    "poll.slot_past": "The slot {slot} is in the past; give future times.",
    "poll.unknown": "No time poll #{id}.",
    "poll.unknown_slot": "No such slot.",
    "poll.closed": "The time poll “{title}” is over: it became meeting #{meeting_id}.",
    "poll.already_made": "The time poll “{title}” already became meeting #{meeting_id}; no second meeting is made.",
    "poll.invitation": (
        "🗳 <b>Finding a time</b>: {title} ({kind})\n"
        "Tick <b>every</b> time you can come; press again to untick."
    ),
    "poll.reminder_head": "⏰ <b>Reminder</b>: you have not ticked any time yet.",
    "poll.created": "Time poll #{id} “{title}” sent to {sent}. The tally below updates as votes come in.",
    "poll.status_head": "🗳 <b>Time poll #{id}</b>: {title} ({kind})",
    "poll.status_voted": "Voted: {voters}/{total}",
    "poll.status_slot": "• {label}: {count}",
    "poll.status_slot_names": "• {label}: <b>{count}</b> ({names})",
    "poll.status_none": "Nobody has ticked a time yet.",
    "poll.status_best": "Best: <b>{label}</b>, {count}/{total} can come",
    "poll.status_majority": "✅ More than half can come",
    "poll.status_no_majority": "⚠️ Not more than half (at least {need} needed)",
    "poll.general_rule": "A branch general meeting needs more than half of the members present.",
    "poll.status_closed": "📅 Became meeting #{meeting_id}",
    "poll.btn_make": "Make meeting {label}",
    "poll.btn_remind": "Remind non-voters",
    "poll.ticked": "Ticked {label}",
    "poll.unticked": "Unticked {label}",
    "poll.reminded": "Reminded {count} members who have not voted.",
    "poll.all_voted": "Everyone has voted; nobody to remind.",
    "poll.remind_cooldown": "“Remind non-voters” works once every {hours} hours: the last reminder went out at {last}; you can remind again after {next}.",
    "poll.remind_capped": "The {count} members who have not voted have had all their reminders for today (at most {cap} each a day); nothing was sent. Please remind them tomorrow.",
    "poll.made": "📅 Meeting #{id} made: {title}, {when}; invitations sent to {invited}.",
    "poll.made_short": (
        "⚠️ Note: only {count}/{total} can come at this time, not more than half; "
        "a branch general meeting needs more than half of the members present."
    ),
    "poll.made_notice": "Meeting #{id} created",
}
