"""Placeholder: filled in by the timepolls work in progress."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.scheduler import Firing
from bot.services.meetings import MeetingSettings

JOB_REMINDER = "poll_reminder"


async def fire_reminder(session: AsyncSession, settings: MeetingSettings, firing: Firing) -> None:
    return None
