"""Placeholder: filled in by the compliance work in progress."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Config
from bot.scheduler import Firing
from bot.services.meetings import MeetingSettings

JOB_CHECK = "compliance_check"


async def fire_check(session: AsyncSession, settings: MeetingSettings, firing: Firing) -> None:
    return None


async def ensure_job(session: AsyncSession, org_id: int, config: Config, *, now: datetime) -> None:
    return None
