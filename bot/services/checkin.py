"""`/checkin <code>`: one command for every event with a rotating code. The code itself says
which meeting or activity it belongs to (and, for an activity, whether it checks in or out)."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.auth import Actor
from bot.errors import Invalid
from bot.services import checkin_codes as codes
from bot.services import meetings, volunteer_checkin
from bot.services.checkin_codes import CodeMiss
from bot.services.meetings import CheckedIn, MeetingSettings
from bot.services.volunteer_checkin import VolunteerCheck
from bot.services.volunteers import VolunteerSettings


async def checkin_with_code(
    session: AsyncSession,
    meeting_settings: MeetingSettings,
    volunteer_settings: VolunteerSettings,
    actor: Actor,
    code: str,
    *,
    now: datetime,
) -> CheckedIn | VolunteerCheck:
    code = code.strip()
    if not re.fullmatch(codes.CODE_PATTERN, code):
        raise Invalid("checkin.usage")
    misses: list[CodeMiss] = []
    # Refuses a member with too many wrong codes lately, in the statement that reads the
    # meetings open now: one round trip for a check-in.
    meeting = await meetings.match_code(session, meeting_settings, actor, code, now=now)
    if not isinstance(meeting, CodeMiss):
        return meeting
    misses.append(meeting)
    activity = await volunteer_checkin.match_code(session, volunteer_settings, actor, code, now=now)
    if not isinstance(activity, CodeMiss):
        return activity
    misses.append(activity)
    if any(m.compared for m in misses):
        # A code was checkable and did not match: a typo, a stale code, or a guess.
        await codes.record_failure(session, actor, now)
    if any(m.expected for m in misses):
        raise Invalid("checkin.wrong_code")
    await meetings.explain_closed(session, meeting_settings, actor, now=now)
    await volunteer_checkin.explain_closed(session, volunteer_settings, actor, now=now)
    raise Invalid("checkin.nothing_open")
