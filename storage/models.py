"""Typed SQLAlchemy models. Times are stored in UTC (timezone-aware columns)."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

# Stable constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend: SQLite keeps no offset, so it is restored on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Role(enum.StrEnum):
    """Ordered from least to most authority; see bot.auth for scopes."""

    MEMBER = "member"
    GROUP_LEADER = "group_leader"
    SECRETARY = "secretary"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    timezone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Branch(Base):
    __tablename__ = "branches"
    __table_args__ = (UniqueConstraint("organisation_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(String(200))


class Group(Base):
    """A Party group (党小组) inside a branch."""

    __tablename__ = "member_groups"
    __table_args__ = (UniqueConstraint("branch_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    name: Mapped[str] = mapped_column(String(200))


class Member(Base):
    __tablename__ = "members"
    # A roster row is identified by its name within a branch (the CSV has no other stable key).
    __table_args__ = (
        UniqueConstraint("branch_id", "name"),
        # Statistics count members per branch and group off this index alone.
        Index("ix_members_unit", "branch_id", "group_id", "active", "telegram_user_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(40))
    role: Mapped[Role] = mapped_column(
        Enum(Role, native_enum=False, length=20, values_callable=lambda e: [r.value for r in e]),
        default=Role.MEMBER,
    )
    # NULL only for organisation-level admins named in the config who are not on a roster.
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("member_groups.id"))
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    # Where pushes go: the chat id on the channel the member chose (bot.channels.address), their
    # Telegram id or their alias on another channel; NULL while they are bound on none.
    chat_id: Mapped[int | None] = mapped_column(
        BigInteger,
        index=True,
        default=lambda ctx: ctx.get_current_parameters().get("telegram_user_id"),
    )
    language: Mapped[str | None] = mapped_column(String(8))
    active: Mapped[bool] = mapped_column(default=True)
    # On the branch committee (支委); a branch's secretaries always are.
    committee: Mapped[bool] = mapped_column(default=False)
    # Monthly Party dues (党费) in fen (分): integers keep amounts exact on every backend.
    dues_cents: Mapped[int | None] = mapped_column(Integer)
    bound_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when Telegram says the member blocked the bot; cleared when they write to it again.
    unreachable_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    branch: Mapped[Branch | None] = relationship(lazy="raise")
    group: Mapped[Group | None] = relationship(lazy="raise")

    @validates("telegram_user_id")
    def _follow_telegram(self, _key: str, value: int | None) -> int | None:
        # Binding Telegram when pushes went there (or nowhere) points them at the new account;
        # unbinding stops them (bot.services.accounts moves them to another channel, if any).
        if self.chat_id is None or self.chat_id == self.telegram_user_id:
            self.chat_id = value
        return value


class Contact(Base):
    """A person as a channel other than Telegram knows them, by the alias the core uses
    (bot.channels.address). Kept from their first message on, so replies reach a stranger too;
    `member_id` is set when they join with an invite code."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        UniqueConstraint("member_id", "channel"),
    )

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ChannelMessage(Base):
    """A message the bot sent on another channel: the core knows it by an integer id, that
    channel by its own (a Feishu message id); the text and buttons are kept because a Feishu
    card is replaced whole when only its buttons change."""

    __tablename__ = "channel_messages"

    message_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    # The card as sent or last edited (JSON): text, buttons and image.
    content: Mapped[str] = mapped_column(Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class InviteCode(Base):
    __tablename__ = "invite_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    used_by_telegram_id: Mapped[int | None] = mapped_column(BigInteger)


class AuditEntry(Base):
    """Who changed what. `actor` is a member id when a person did it through the bot."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    # "cli", "config", "bot": where the change came from, for changes with no member behind them.
    source: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(60))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int | None] = mapped_column(Integer)
    details: Mapped[str] = mapped_column(Text, default="")


class PendingImport(Base):
    """A roster CSV a secretary uploaded, waiting for the confirm button."""

    __tablename__ = "pending_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uploader_member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    file_name: Mapped[str] = mapped_column(String(255))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # "pending", "applied" or "cancelled"; a second tap sees the final state and changes nothing.
    status: Mapped[str] = mapped_column(String(12), default="pending")


class InboxUpdate(Base):
    """Every update received from Telegram, kept before Telegram is told it arrived.

    `done_at` and `attempt` are set in the same transaction as the update's effects (or on their
    own when it has none): a row without `done_at` is work a crash interrupted, taken again once
    its lease runs out; a second copy of the update finds the row and is dropped."""

    __tablename__ = "inbox"
    __table_args__ = (Index("ix_inbox_pending", "done_at", "lease_until"),)

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # The lane the update is processed in (a chat, else its sender); None for neither.
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    # The update as received, so a restart can process it again.
    payload: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The processing attempt that applied it: later commits of the same attempt may pass.
    attempt: Mapped[str | None] = mapped_column(String(32))


class Job(Base):
    """A scheduled action. One-off when `rule` is None; otherwise an RFC 5545 rule computed from
    `anchor` (local wall-clock time in the organisation's zone, stored as its UTC instant)."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_due", "active", "next_run_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[str] = mapped_column(String(30))
    payload: Mapped[str] = mapped_column(Text, default="{}")
    rule: Mapped[str | None] = mapped_column(String(200))
    anchor: Mapped[datetime] = mapped_column(UTCDateTime())
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    runs: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(default=True)
    created_by_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Item(Base):
    """Something pushed to an audience that members confirm: study item, reminder, make-up."""

    __tablename__ = "items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[str] = mapped_column(String(20))  # "study" | "reminder"
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str | None] = mapped_column(String(1000))
    document_file_id: Mapped[str | None] = mapped_column(String(300))
    document_name: Mapped[str | None] = mapped_column(String(255))
    audience_kind: Mapped[str] = mapped_column(String(10))  # "org" | "branch" | "group"
    audience_id: Mapped[int | None] = mapped_column(Integer)
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime())
    urgent: Mapped[bool] = mapped_column(default=False)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id"))
    created_by_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Receipt(Base):
    """One member's copy of an item: the audience is fixed when the item is published."""

    __tablename__ = "receipts"
    __table_args__ = (UniqueConstraint("item_id", "member_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    # The member's branch and group when the item was pushed: the ledger keeps a record where
    # it was made, so a member who moves later does not take their history along.
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("member_groups.id"))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reflection: Mapped[str | None] = mapped_column(Text)
    reflected_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    nudges: Mapped[int] = mapped_column(Integer, default=0)
    last_nudged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ItemTally(Base):
    """An item's receipts made in one branch and group, and how many of them are confirmed:
    kept in the receipts' own transactions, so statistics read a row per item and unit
    instead of every receipt (bot.services.tallies)."""

    __tablename__ = "item_tallies"
    __table_args__ = (Index("ix_item_tallies_unit", "item_id", "branch_id", "group_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("member_groups.id"))
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer)


class Delivery(Base):
    """The outbox: one row per message to one member, written with whatever caused it."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_queue", "status", "not_before"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    # The messenger that carries it (bot.channels.address.channel_of(chat_id)): each channel's
    # sender claims its own rows, at its own rate.
    channel: Mapped[str] = mapped_column(String(16), default="telegram")
    item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"), index=True)
    # "item", "nudge", "escalation", "notice": what the message is, for counting and caps.
    purpose: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    reply_markup: Mapped[str | None] = mapped_column(Text)
    document_file_id: Mapped[str | None] = mapped_column(String(300))
    urgent: Mapped[bool] = mapped_column(default=False)
    # "pending" -> "sending" (leased) -> "sent" | "failed" | "unreachable"
    status: Mapped[str] = mapped_column(String(12), default="pending")
    not_before: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(300))
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class HolidayText(Base):
    """A secretary's (branch) or admin's (organisation) own text for one holiday's reminder."""

    __tablename__ = "holiday_texts"
    __table_args__ = (UniqueConstraint("organisation_id", "branch_id", "holiday"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    # NULL: the organisation-wide text an admin set.
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id"))
    holiday: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    updated_by_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Meeting(Base):
    """One of 三会一课. Its invitees are fixed as invitations when it is scheduled."""

    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), index=True)
    # Set for a group meeting (党小组会): the group it belongs to.
    group_id: Mapped[int | None] = mapped_column(ForeignKey("member_groups.id"))
    kind: Mapped[str] = mapped_column(String(12))  # general | committee | group | lecture
    audience_kind: Mapped[str] = mapped_column(String(10))  # branch | committee | group
    audience_id: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    place: Mapped[str | None] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    # "scheduled" -> "closed" (attendance final) | "cancelled"
    status: Mapped[str] = mapped_column(String(12), default="scheduled")
    # Bumped when the meeting moves; reminder and close jobs carry the one they were planned for.
    revision: Mapped[int] = mapped_column(Integer, default=0)
    # Seeds the rotating check-in code and QR token; never shown.
    secret: Mapped[str] = mapped_column(String(64))
    minutes_text: Mapped[str | None] = mapped_column(Text)
    minutes_file_id: Mapped[str | None] = mapped_column(String(300))
    minutes_file_name: Mapped[str | None] = mapped_column(String(255))
    makeup_item_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"))
    created_by_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Invitation(Base):
    """One member's place at a meeting: their answer, their check-in, and the final outcome."""

    __tablename__ = "invitations"
    __table_args__ = (UniqueConstraint("meeting_id", "member_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    # As on receipts: where the member belonged when invited.
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("member_groups.id"))
    answer: Mapped[str | None] = mapped_column(String(8))  # attend | leave
    leave_reason: Mapped[str | None] = mapped_column(String(300))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    checkin_method: Mapped[str | None] = mapped_column(String(8))  # code | qr | manual
    checked_in_by_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    # Final at the check-in window's close: attended | late | leave | absent
    outcome: Mapped[str | None] = mapped_column(String(10))


class MeetingTally(Base):
    """A closed meeting's invitations in one branch and group, and how many came (on time or
    late): written once, when the meeting closes and its outcomes become final."""

    __tablename__ = "meeting_tallies"
    __table_args__ = (Index("ix_meeting_tallies_unit", "meeting_id", "branch_id", "group_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"))
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id"))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("member_groups.id"))
    total: Mapped[int] = mapped_column(Integer)
    present: Mapped[int] = mapped_column(Integer)


class TimePoll(Base):
    """Finding a time: members tick every slot that suits them."""

    __tablename__ = "time_polls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    kind: Mapped[str] = mapped_column(String(12))  # the meeting kind it is for
    title: Mapped[str] = mapped_column(String(200))
    audience_kind: Mapped[str] = mapped_column(String(10))  # branch | committee | group
    audience_id: Mapped[int] = mapped_column(Integer)
    created_by_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meetings.id"))
    # The organiser's live tally message, edited as votes come in.
    status_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    status_message_id: Mapped[int | None] = mapped_column(BigInteger)


class PollSlot(Base):
    __tablename__ = "poll_slots"
    __table_args__ = (UniqueConstraint("poll_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("time_polls.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PollVote(Base):
    """A tick: this member can come at this slot. Unticking deletes the row."""

    __tablename__ = "poll_votes"
    __table_args__ = (UniqueConstraint("slot_id", "member_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slot_id: Mapped[int] = mapped_column(ForeignKey("poll_slots.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    voted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ComplianceNotice(Base):
    """A compliance reminder already sent for one unit, kind and period: it goes out once."""

    __tablename__ = "compliance_notices"
    __table_args__ = (UniqueConstraint("unit_kind", "unit_id", "kind", "period_start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    unit_kind: Mapped[str] = mapped_column(String(10))  # branch | group
    unit_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(12))
    period_start: Mapped[date] = mapped_column(Date)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Activity(Base):
    """A volunteer activity (志愿服务): a time, a place and a number of places."""

    __tablename__ = "activities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    # Who may sign up: "org" (audience_id NULL), "branch" or "group".
    audience_kind: Mapped[str] = mapped_column(String(10))
    audience_id: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    place: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    capacity: Mapped[int] = mapped_column(Integer)
    signup_deadline: Mapped[datetime] = mapped_column(UTCDateTime())
    # "open" -> "closed" (hours final) | "cancelled"
    status: Mapped[str] = mapped_column(String(12), default="open")
    # Seeds the rotating check-in and check-out codes; never shown.
    secret: Mapped[str] = mapped_column(String(64))
    created_by_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SignUp(Base):
    """One member's sign-up: their place or waitlist turn, check-in, check-out and hours."""

    __tablename__ = "signups"
    __table_args__ = (
        UniqueConstraint("activity_id", "member_id"),
        Index("ix_signups_activity_status", "activity_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    # confirmed | waiting | offered | cancelled | declined | expired
    status: Mapped[str] = mapped_column(String(10))
    # The waitlist's order: first come, first offered.
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    offered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    offer_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    checked_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    checked_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    checkin_method: Mapped[str | None] = mapped_column(String(8))  # code | qr | manual
    checkout_method: Mapped[str | None] = mapped_column(String(8))  # code | qr | manual | auto
    # Whole minutes served, within the activity's window; set at check-out or at the close.
    minutes: Mapped[int | None] = mapped_column(Integer)
    # The organiser's correction (the reason is in the audit log); wins over `minutes`.
    adjusted_minutes: Mapped[int | None] = mapped_column(Integer)
    # Final at the close: served | no_show
    outcome: Mapped[str | None] = mapped_column(String(10))


class DuesPayment(Base):
    """One member's dues for one month: reported by the member, then confirmed by a secretary."""

    __tablename__ = "dues_payments"
    __table_args__ = (UniqueConstraint("member_id", "month"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    # The branch the member paid in: totals stay put when they later move or leave.
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), index=True)
    # The first day of the month paid for.
    month: Mapped[date] = mapped_column(Date, index=True)
    # The member's amount when they reported it, in fen.
    amount_cents: Mapped[int] = mapped_column(Integer)
    # reported | confirmed
    status: Mapped[str] = mapped_column(String(10))
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    confirmed_by_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))


class Task(Base):
    """A work-plan task (任务清单) with an owner and a due date, ticked off the ledger when done."""

    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    # "member" (owner_id: a member) or "group" (owner_id: a group, acted for by its leaders).
    owner_kind: Mapped[str] = mapped_column(String(10))
    owner_id: Mapped[int] = mapped_column(Integer)
    due_date: Mapped[date] = mapped_column(Date)
    # open | done | cancelled
    status: Mapped[str] = mapped_column(String(10), default="open")
    # Bumped when the due date moves; reminder and escalation jobs carry the one they were for.
    revision: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_by_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))


class TaskEvent(Base):
    """A task's history: created, reminded, postponed (with the reason), escalated, done."""

    __tablename__ = "task_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(12))
    actor_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    old_due: Mapped[date | None] = mapped_column(Date)
    new_due: Mapped[date | None] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(String(300))


class DashboardLink(Base):
    """A single-use login link to the web dashboard; only a hash of its token is kept."""

    __tablename__ = "dashboard_links"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SendPace(Base):
    """One row: when the next message may go out, shared by every instance's sender on
    PostgreSQL, so the configured rate holds for all of them together."""

    __tablename__ = "send_pace"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # Seconds since the epoch, by the database's clock (the one clock all instances share).
    next_at: Mapped[float] = mapped_column(Float(precision=53))


class BackgroundJob(Base):
    """Heavy work (an export, a report, a chart, a roster preview or import) kept off the path
    that answers taps: a handler queues it, a runner claims it with a lease, a worker process
    does it, and the result goes to the requester's chat.

    pending -> running (leased) -> done | failed. A crash leaves the row running with a lease
    that runs out; it is then claimed again. A done or failed row is never claimed."""

    __tablename__ = "background_jobs"
    __table_args__ = (Index("ix_background_jobs_due", "status", "run_after"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # export | summary | stats_chart | roster_preview | roster_apply
    kind: Mapped[str] = mapped_column(String(20))
    # The request as JSON (period, branch, file id, upload id ...).
    params: Mapped[str] = mapped_column(Text, default="{}")
    # The same request while one is not finished shares it (a second /export queues nothing);
    # cleared when it finishes, so the request can be made again.
    dedupe_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    requester_member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    language: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    # Not claimed before this (a retry waits a little).
    run_after: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Who holds the lease: writes of an attempt that lost it are refused.
    lease_token: Mapped[str | None] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # What the committed part of an interrupted attempt did (a roster import's batches).
    progress: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DashboardSession(Base):
    """A web dashboard session. The browser's cookie carries a random id; only its SHA-256 is
    kept, with the member and the role the session was opened with. Logging out deletes the
    row (so a copy of the cookie stops working at once), "log out everywhere" deletes the
    member's rows, and a request whose member now has another role, or is no longer active,
    ends its session."""

    __tablename__ = "dashboard_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    # Role.value at login.
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class DialogState(Base):
    """A guided dialog in progress (the guided /study, a reflection, a leave reason ...): one
    row per chat, so a restart or another instance continues it. Each step rewrites the row in
    the transaction of the step's own effects; a row past `expires_at` counts as no dialog and
    is deleted later."""

    __tablename__ = "dialog_states"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # Which dialog (handlers.dialogs keeps the names), and its fields as JSON.
    kind: Mapped[str] = mapped_column(String(40))
    state: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class HolidayNotice(Base):
    """A State Council holiday notice (放假安排通知) an admin loaded, with its text as given.

    pending (shown for confirmation) -> active | cancelled; an active notice is in force for its
    year until another one for that year is confirmed (then it is replaced). In force, its days
    take the place of the installed calendar's (or the estimate) for that year."""

    __tablename__ = "holiday_notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    year: Mapped[int] = mapped_column(Integer, index=True)
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    # pending | active | replaced | cancelled
    status: Mapped[str] = mapped_column(String(12))
    # bot | cli
    source: Mapped[str] = mapped_column(String(10))
    created_by_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class HolidayNoticeDay(Base):
    """One day a notice names: a day off, or an adjusted working day (调休上班)."""

    __tablename__ = "holiday_notice_days"
    __table_args__ = (UniqueConstraint("notice_id", "day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    notice_id: Mapped[int] = mapped_column(ForeignKey("holiday_notices.id"))
    day: Mapped[date] = mapped_column(Date)
    working: Mapped[bool] = mapped_column()
    # bot.services.holidays.Holiday's value
    holiday: Mapped[str] = mapped_column(String(20))


class HolidayNoticeAlert(Base):
    """Admins were told that a year's arrangement is missing, in one month: once a month."""

    __tablename__ = "holiday_notice_alerts"
    __table_args__ = (UniqueConstraint("organisation_id", "year", "month"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    year: Mapped[int] = mapped_column(Integer)
    month: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
