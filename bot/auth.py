"""Who may do what, in one place. Every command and button goes through `authorize`."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from bot.errors import Denied
from storage.models import Role


@dataclass(frozen=True)
class Actor:
    """The bound, active member behind an update, as a plain value."""

    member_id: int
    name: str
    role: Role
    branch_id: int | None
    group_id: int | None
    language: str


def operator_actor(language: str) -> Actor:
    """The command line's reports speak for the whole organisation: whoever runs them holds the
    server, the config and the database. Not a member: it never writes as anyone."""
    return Actor(0, "operator", Role.ADMIN, None, None, language)


class Access(enum.IntEnum):
    """The least a caller needs; PUBLIC includes accounts that are not bound to any member."""

    PUBLIC = 0
    MEMBER = 1
    GROUP_LEADER = 2
    SECRETARY = 3
    ADMIN = 4


_ACCESS_OF_ROLE = {
    Role.MEMBER: Access.MEMBER,
    Role.GROUP_LEADER: Access.GROUP_LEADER,
    Role.SECRETARY: Access.SECRETARY,
    Role.ADMIN: Access.ADMIN,
}


@dataclass(frozen=True)
class Command:
    name: str
    access: Access
    # In Telegram's command menu (texts menu.<name>); /help lists every command (help.<name>).
    in_menu: bool = True


# The command reference. Order is the order /help shows.
COMMANDS: tuple[Command, ...] = (
    Command("start", Access.PUBLIC),
    Command("help", Access.PUBLIC),
    Command("me", Access.MEMBER),
    Command("lang", Access.MEMBER),
    Command("channel", Access.MEMBER),
    Command("link", Access.MEMBER),
    Command("todo", Access.MEMBER),
    Command("cancel", Access.MEMBER, in_menu=False),
    Command("members", Access.GROUP_LEADER),
    Command("items", Access.GROUP_LEADER),
    Command("item", Access.GROUP_LEADER),
    Command("nudge", Access.GROUP_LEADER),
    Command("checkin", Access.MEMBER),
    Command("dashboard", Access.MEMBER),
    Command("logout", Access.MEMBER),
    Command("meetings", Access.GROUP_LEADER),
    Command("meeting", Access.GROUP_LEADER),
    Command("attendance", Access.GROUP_LEADER),
    Command("checkincode", Access.GROUP_LEADER),
    Command("present", Access.GROUP_LEADER),
    Command("minutes", Access.GROUP_LEADER),
    Command("timepoll", Access.GROUP_LEADER),
    Command("compliance", Access.GROUP_LEADER),
    Command("activities", Access.MEMBER),
    Command("activity", Access.SECRETARY),
    Command("roster", Access.SECRETARY),
    Command("activitycode", Access.SECRETARY),
    Command("vcheckin", Access.SECRETARY),
    Command("vcheckout", Access.SECRETARY),
    Command("sethours", Access.SECRETARY),
    Command("hours", Access.SECRETARY),
    Command("dues", Access.SECRETARY),
    Command("setdues", Access.SECRETARY),
    Command("task", Access.SECRETARY),
    Command("tasks", Access.SECRETARY),
    Command("export", Access.SECRETARY),
    Command("stats", Access.SECRETARY),
    Command("summary", Access.SECRETARY),
    Command("study", Access.SECRETARY),
    Command("remind", Access.SECRETARY),
    Command("reminders", Access.SECRETARY),
    Command("unremind", Access.SECRETARY),
    Command("holidaytext", Access.SECRETARY),
    Command("holidays", Access.SECRETARY),
    # `/holidays import`: loading the State Council's notice changes every branch's dates.
    Command("holidays_import", Access.ADMIN, in_menu=False),
    Command("invites", Access.SECRETARY),
    Command("setrole", Access.SECRETARY),
    Command("import", Access.SECRETARY),
)
COMMANDS_BY_NAME = {c.name: c for c in COMMANDS}


def access_of(actor: Actor | None) -> Access:
    return Access.PUBLIC if actor is None else access_of_role(actor.role)


def access_of_role(role: Role) -> Access:
    return _ACCESS_OF_ROLE[role]


def allowed(actor: Actor | None, command: str) -> bool:
    return access_of(actor) >= COMMANDS_BY_NAME[command].access


def authorize(actor: Actor | None, command: str) -> None:
    """Raise Denied unless the actor's role reaches the command's access level."""
    if allowed(actor, command):
        return
    if actor is None:
        raise Denied("not_registered")
    raise Denied("no_permission")


def commands_for(actor: Actor | None) -> list[Command]:
    return [c for c in COMMANDS if allowed(actor, c.name)]


def menu_commands(access: Access) -> list[Command]:
    """Telegram's command menu for a caller with this access, from the same table as /help:
    strangers get /start and /help; a member has joined, so /start is left out."""
    return [
        c
        for c in COMMANDS
        if c.in_menu and c.access <= access and not (c.name == "start" and access > Access.PUBLIC)
    ]


def can_manage_branch(actor: Actor, branch_id: int | None) -> bool:
    """Scope: admins reach every branch, secretaries their own, nobody else any."""
    if actor.role is Role.ADMIN:
        return True
    return actor.role is Role.SECRETARY and branch_id is not None and branch_id == actor.branch_id


def can_see_group(actor: Actor, branch_id: int | None, group_id: int | None) -> bool:
    if can_manage_branch(actor, branch_id):
        return True
    return actor.role is Role.GROUP_LEADER and group_id is not None and group_id == actor.group_id


def can_grant(actor: Actor, role: Role, target_current: Role) -> bool:
    """Only admins create or touch admins; a secretary manages roles up to secretary."""
    if actor.role is Role.ADMIN:
        return True
    return (
        actor.role is Role.SECRETARY and role is not Role.ADMIN and target_current is not Role.ADMIN
    )
