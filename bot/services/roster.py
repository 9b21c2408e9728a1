"""Importing a roster.

The whole file is read, checked and compared with the stored members of the branches it names
(one query) before anything is written. Applying then writes in short transactions of
`BATCH_ROWS` rows each, so no other writer waits long for the database (SQLite has one writer).
Every batch writes what differs from the stored roster, so applying is idempotent: an import
cut short (a crash) and run again ends in the same state as one clean run, and a `Checkpoint`
kept with the run carries its counts across the two.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.auth import Actor
from bot.errors import Denied, Invalid, NotFound
from bot.services import audit
from bot.services.invites import new_code
from bot.services.roster_csv import (
    ParsedRoster,
    RosterFileError,
    RosterRow,
    RowError,
    parse_roster,
    roster_text,
)
from storage.db import Database
from storage.models import (
    AuditEntry,
    Branch,
    DashboardSession,
    Group,
    InviteCode,
    Member,
    PendingImport,
    Role,
    utcnow,
)

# Rows written in one transaction: a few milliseconds of the write lock each.
BATCH_ROWS = 500
# Up to this many branches the members query names them; past it (a statement's parameters are
# limited) it reads the organisation's members and keeps those of the file's branches.
_LISTED_BRANCHES = 500


@dataclass(frozen=True)
class ImportScope:
    """What the importer may touch: a secretary only their branch and never the admin role."""

    actor_member_id: int | None
    source: str
    only_branch: str | None = None
    may_grant_admin: bool = True


@dataclass
class Tally:
    """What an import's committed transactions wrote, counted across its attempts."""

    created: int = 0
    updated: int = 0
    deactivated: int = 0
    finished: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str | None) -> Tally:
        data: dict[str, Any] = json.loads(text) if text else {}
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


class Checkpoint(Protocol):
    """Where an import keeps its tally: `load` before anything is written, `save` inside every
    write transaction (raising there rolls that transaction back: the run lost its claim)."""

    async def load(self) -> Tally: ...

    async def save(self, session: AsyncSession, tally: Tally) -> None: ...


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    deactivated: list[str] = field(default_factory=list)
    new_branches: list[str] = field(default_factory=list)
    new_groups: list[str] = field(default_factory=list)
    # Who joins or leaves the branch committee (支委), new members included: the counts above
    # do not say which field changed, and the committee decides who is invited to its meetings.
    committee_joined: list[str] = field(default_factory=list)
    committee_left: list[str] = field(default_factory=list)
    # Stored members whose role changes, or who are deactivated or active again: what they may
    # do changes, and their command menus with it.
    access_changed: list[int] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    applied: bool = False
    # What the import wrote, over every attempt of it (see Checkpoint); the lists above are what
    # this run saw.
    totals: Tally = field(default_factory=lambda: Tally())

    @property
    def changes(self) -> int:
        return len(self.created) + len(self.updated) + len(self.deactivated)


def scope_errors(parsed: ParsedRoster, scope: ImportScope) -> list[RowError]:
    errors = []
    for row in parsed.rows:
        if scope.only_branch is not None and row.branch != scope.only_branch:
            errors.append(RowError(row.line, "other_branch", row.branch))
        elif row.role is Role.ADMIN and not scope.may_grant_admin:
            errors.append(RowError(row.line, "cannot_grant_admin", row.name))
    return errors


@dataclass(frozen=True)
class Stored:
    """A stored member of one of the file's branches, as the one query reads it."""

    id: int
    name: str
    branch: str
    group_id: int | None
    group: str | None
    role: Role
    phone: str | None
    committee: bool
    dues_cents: int | None
    active: bool


@dataclass(frozen=True)
class Snapshot:
    """What a file is compared with, read before anything is written: the organisation's
    branches and groups by name, and the members of the branches the file names."""

    branches: dict[str, int]
    groups: dict[tuple[str, str], int]
    members: dict[tuple[str, str], Stored]


async def _units(
    session: AsyncSession, org_id: int
) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    branches = {
        name: branch_id
        for branch_id, name in (
            await session.execute(
                select(Branch.id, Branch.name).where(Branch.organisation_id == org_id)
            )
        ).all()
    }
    groups = {
        (branch, name): group_id
        for group_id, branch, name in (
            await session.execute(
                select(Group.id, Branch.name, Group.name)
                .join(Branch, Group.branch_id == Branch.id)
                .where(Branch.organisation_id == org_id)
            )
        ).all()
    }
    return branches, groups


async def read_snapshot(
    session: AsyncSession, org_id: int, branch_names: Collection[str]
) -> Snapshot:
    """The branches and groups, then every member of the named branches in one query."""
    branches, groups = await _units(session, org_id)
    named = set(branch_names)
    ids = [branches[name] for name in named if name in branches]
    members: dict[tuple[str, str], Stored] = {}
    if ids:
        query = (
            select(
                Member.id,
                Member.name,
                Branch.name,
                Member.group_id,
                Group.name,
                Member.role,
                Member.phone,
                Member.committee,
                Member.dues_cents,
                Member.active,
            )
            .join(Branch, Member.branch_id == Branch.id)
            .outerjoin(Group, Member.group_id == Group.id)
            .where(Branch.organisation_id == org_id)
        )
        if len(ids) <= _LISTED_BRANCHES:
            query = query.where(Member.branch_id.in_(ids))
        for row in (await session.execute(query)).all():
            stored = Stored(*tuple(row))
            if stored.branch in named:
                members[(stored.branch, stored.name)] = stored
    return Snapshot(branches, groups, members)


@dataclass(frozen=True)
class Revision:
    """A stored member the file changes: field -> (old, new), the group by its name."""

    member: Stored
    row: RosterRow
    changes: dict[str, tuple[object, object]]

    @property
    def line(self) -> int:
        return self.row.line


@dataclass
class Plan:
    """What applying the file would write, and the report that says so."""

    report: ImportReport
    creates: list[RosterRow] = field(default_factory=list)
    revisions: list[Revision] = field(default_factory=list)
    stale: list[Stored] = field(default_factory=list)


def _diff(member: Stored, row: RosterRow, parsed: ParsedRoster) -> dict[str, tuple[object, object]]:
    """Fields the row changes. A column the file lacks leaves that field alone."""
    changes: dict[str, tuple[object, object]] = {}
    if parsed.has_group and member.group != row.group:
        changes["group"] = (member.group, row.group)
    if parsed.has_role and row.role is not None and member.role is not row.role:
        changes["role"] = (member.role, row.role)
    if parsed.has_phone and member.phone != row.phone:
        changes["phone"] = (member.phone, row.phone)
    if parsed.has_committee and row.committee is not None and member.committee != row.committee:
        changes["committee"] = (member.committee, row.committee)
    if row.dues_cents is not None and member.dues_cents != row.dues_cents:
        changes["dues_cents"] = (member.dues_cents, row.dues_cents)
    if not member.active:
        changes["active"] = (False, True)
    return changes


def plan_import(
    parsed: ParsedRoster, scope: ImportScope, snapshot: Snapshot, *, deactivate_missing: bool
) -> Plan:
    """Compare every good row with the snapshot: pure, nothing is read or written."""
    report = ImportReport(
        errors=sorted([*parsed.errors, *scope_errors(parsed, scope)], key=lambda e: e.line)
    )
    plan = Plan(report)
    bad_lines = {e.line for e in report.errors}
    rows = [r for r in parsed.rows if r.line not in bad_lines]
    new_branches: set[str] = set()
    new_groups: set[tuple[str, str]] = set()
    for row in rows:
        if row.branch not in snapshot.branches and row.branch not in new_branches:
            new_branches.add(row.branch)
            report.new_branches.append(row.branch)
        if row.group:
            unit = (row.branch, row.group)
            if unit not in snapshot.groups and unit not in new_groups:
                new_groups.add(unit)
                report.new_groups.append(f"{row.branch}/{row.group}")
        member = snapshot.members.get((row.branch, row.name))
        if member is None:
            plan.creates.append(row)
            report.created.append(row.name)
            if row.committee:
                report.committee_joined.append(row.name)
        elif member.role is Role.ADMIN and not scope.may_grant_admin:
            # Only admins touch admins (as /setrole rules): a secretary's file may not.
            if _diff(member, row, parsed):
                report.errors.append(RowError(row.line, "cannot_change_admin", row.name))
            else:
                report.unchanged += 1
        else:
            changes = _diff(member, row, parsed)
            if changes:
                plan.revisions.append(Revision(member, row, changes))
                if "role" in changes or "active" in changes:
                    report.access_changed.append(member.id)
                report.updated.append(row.name)
                if "committee" in changes:
                    target = report.committee_joined if row.committee else report.committee_left
                    target.append(row.name)
            else:
                report.unchanged += 1
    if deactivate_missing:
        named = {r.branch for r in rows}
        listed = {(r.branch, r.name) for r in rows}
        plan.stale = sorted(
            (
                m
                for key, m in snapshot.members.items()
                if m.branch in named and m.active and key not in listed
            ),
            key=lambda m: m.id,
        )
        report.deactivated = [m.name for m in plan.stale]
        report.access_changed += [m.id for m in plan.stale]
    report.errors.sort(key=lambda e: e.line)
    return plan


async def compare(
    db: Database,
    org_id: int,
    parsed: ParsedRoster,
    scope: ImportScope,
    *,
    deactivate_missing: bool = False,
) -> Plan:
    """The plan for a file, from one read of the stored roster."""
    async with db.read() as session:
        snapshot = await read_snapshot(session, org_id, {r.branch for r in parsed.rows})
    return plan_import(parsed, scope, snapshot, deactivate_missing=deactivate_missing)


async def _ensure_units(
    db: Database, org_id: int, rows: Sequence[RosterRow]
) -> tuple[dict[str, int], dict[tuple[str, str], int]]:
    """The branches and groups the rows name, created where missing, in one short transaction
    (rows already there from an earlier attempt are found, not made twice)."""
    async with db.write() as session:
        branches, groups = await _units(session, org_id)
        made = [
            Branch(organisation_id=org_id, name=name)
            for name in dict.fromkeys(r.branch for r in rows)
            if name not in branches
        ]
        session.add_all(made)
        await session.flush()
        branches.update({b.name: b.id for b in made})
        new_groups = {
            (r.branch, r.group): Group(branch_id=branches[r.branch], name=r.group)
            for r in rows
            if r.group and (r.branch, r.group) not in groups
        }
        session.add_all(new_groups.values())
        await session.flush()
        groups.update({unit: g.id for unit, g in new_groups.items()})
        if made or new_groups:
            await session.commit()
    return branches, groups


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def _write_batch(
    session: AsyncSession,
    org_id: int,
    batch: Sequence[RosterRow | Revision],
    units: tuple[dict[str, int], dict[tuple[str, str], int]],
    scope: ImportScope,
    invite_days: int,
) -> tuple[int, int]:
    """New members (each with an invite) and changed ones, with their audit entries; returns
    how many of each. Bulk statements: a batch is a handful of round trips."""
    branches, groups = units
    now = utcnow()
    creates = [item for item in batch if isinstance(item, RosterRow)]
    revisions = [item for item in batch if isinstance(item, Revision)]
    entries: list[dict[str, Any]] = []
    if creates:
        ids = (
            await session.scalars(
                insert(Member).returning(Member.id, sort_by_parameter_order=True),
                [
                    {
                        "organisation_id": org_id,
                        "name": row.name,
                        "branch_id": branches[row.branch],
                        "group_id": groups[(row.branch, row.group)] if row.group else None,
                        "role": row.role or Role.MEMBER,
                        "phone": row.phone,
                        "committee": bool(row.committee),
                        "dues_cents": row.dues_cents,
                        "active": True,
                    }
                    for row in creates
                ],
            )
        ).all()
        await session.execute(
            insert(InviteCode),
            [
                {
                    "member_id": member_id,
                    "code": new_code(),
                    "created_at": now,
                    "expires_at": now + timedelta(days=invite_days),
                }
                for member_id in ids
            ],
        )
        entries += [
            audit.entry(
                action="member.created",
                entity="member",
                entity_id=member_id,
                actor_member_id=scope.actor_member_id,
                source=scope.source,
                branch=row.branch,
                group=row.group,
                role=(row.role or Role.MEMBER).value,
                committee=bool(row.committee),
            )
            for member_id, row in zip(ids, creates, strict=True)
        ]
    by_shape: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for revision in revisions:
        values: dict[str, Any] = {"id": revision.member.id, "updated_at": now}
        changes: dict[str, list[str]] = {}
        for key, (old, new) in revision.changes.items():
            if key == "group":
                group_id = groups[(revision.row.branch, str(new))] if new else None
                values["group_id"] = group_id
                changes["group_id"] = [str(revision.member.group_id), str(group_id)]
            else:
                values[key] = new
                changes[key] = [str(old), str(new)]
        by_shape.setdefault(tuple(sorted(values)), []).append(values)
        entries.append(
            audit.entry(
                action="member.updated",
                entity="member",
                entity_id=revision.member.id,
                actor_member_id=scope.actor_member_id,
                source=scope.source,
                changes=changes,
            )
        )
    for rows in by_shape.values():
        # Bulk UPDATE by primary key: one executemany per set of changed columns.
        await session.execute(update(Member), rows)
    if entries:
        await session.execute(insert(AuditEntry), entries)
    return len(creates), len(revisions)


async def _deactivate_batch(
    session: AsyncSession, stale: Sequence[Stored], scope: ImportScope
) -> None:
    now = utcnow()
    await session.execute(
        update(Member), [{"id": m.id, "active": False, "updated_at": now} for m in stale]
    )
    # A deactivated member's dashboard sessions end with it.
    await session.execute(
        delete(DashboardSession).where(DashboardSession.member_id.in_([m.id for m in stale]))
    )
    await session.execute(
        insert(AuditEntry),
        [
            audit.entry(
                action="member.deactivated",
                entity="member",
                entity_id=m.id,
                actor_member_id=scope.actor_member_id,
                source=scope.source,
            )
            for m in stale
        ],
    )


Finish = Callable[[AsyncSession], Awaitable[None]]


async def import_roster(
    db: Database,
    org_id: int,
    parsed: ParsedRoster,
    scope: ImportScope,
    *,
    invite_days: int,
    dry_run: bool = False,
    skip_bad_rows: bool = False,
    deactivate_missing: bool = False,
    checkpoint: Checkpoint | None = None,
    finish: Finish | None = None,
    batch_rows: int | None = None,
) -> ImportReport:
    """Apply the roster; with bad rows (and no skip) or a dry run, report and change nothing.

    The comparison reads the stored roster once, before any write. Writes go in transactions of
    `batch_rows` rows; the last one records the import in the audit log and runs `finish` (the
    caller's own record that the import is done) and, like every batch, saves the tally to the
    checkpoint. Run again after an interruption, it writes only what is still missing."""
    batch_rows = batch_rows or BATCH_ROWS
    before = await checkpoint.load() if checkpoint is not None else Tally()
    plan = await compare(db, org_id, parsed, scope, deactivate_missing=deactivate_missing)
    report = plan.report
    if dry_run or (report.errors and not skip_bad_rows):
        return report
    # What an earlier attempt wrote compares as unchanged now: it was created or updated.
    report.unchanged -= before.created + before.updated
    tally = replace(before)
    report.totals = tally
    if before.finished:
        report.applied = True
        return report
    work: list[RosterRow | Revision] = sorted(
        [*plan.creates, *plan.revisions], key=lambda item: item.line
    )
    units = await _ensure_units(db, org_id, [*plan.creates, *(r.row for r in plan.revisions)])
    for batch in _chunks(work, batch_rows):
        async with db.write() as session:
            created, updated = await _write_batch(session, org_id, batch, units, scope, invite_days)
            tally.created += created
            tally.updated += updated
            if checkpoint is not None:
                await checkpoint.save(session, tally)
            await session.commit()
    for stale in _chunks(plan.stale, batch_rows):
        async with db.write() as session:
            await _deactivate_batch(session, stale, scope)
            tally.deactivated += len(stale)
            if checkpoint is not None:
                await checkpoint.save(session, tally)
            await session.commit()
    async with db.write() as session:
        audit.record(
            session,
            action="roster.imported",
            entity="roster",
            entity_id=None,
            actor_member_id=scope.actor_member_id,
            source=scope.source,
            created=tally.created,
            updated=tally.updated,
            deactivated=tally.deactivated,
            skipped=len(report.errors),
        )
        if finish is not None:
            await finish(session)
        tally.finished = True
        if checkpoint is not None:
            await checkpoint.save(session, tally)
        await session.commit()
    report.applied = True
    return report


async def stage_upload(
    session: AsyncSession, uploader_member_id: int, file_name: str, content: str
) -> int:
    """Keep an uploaded roster until its uploader confirms; returns the id for the buttons."""
    pending = PendingImport(
        uploader_member_id=uploader_member_id, file_name=file_name, content=content
    )
    session.add(pending)
    await session.commit()
    return pending.id


async def claim_upload(session: AsyncSession, pending_id: int, member_id: int) -> PendingImport:
    """The staged upload, checked to be the presser's own and still pending.

    The status changes in the caller's transaction, so a second tap finds it settled.
    """
    pending = await session.get(PendingImport, pending_id)
    if pending is None:
        raise NotFound("import_unknown")
    if pending.uploader_member_id != member_id:
        raise Denied("not_your_button")
    if pending.status != "pending":
        raise Denied("import_settled", status=pending.status)
    return pending


async def begin_apply(session: AsyncSession, pending_id: int, member_id: int) -> None:
    """The confirm button: the upload is taken for applying in the caller's transaction (which
    also queues the work), so a second tap finds it settled. Does not commit."""
    pending = await claim_upload(session, pending_id, member_id)
    pending.status = "applying"


async def apply_upload(
    db: Database,
    org_id: int,
    pending_id: int,
    scope: ImportScope,
    *,
    invite_days: int,
    skip_bad_rows: bool,
    checkpoint: Checkpoint | None = None,
) -> ImportReport:
    """Apply an upload taken by `begin_apply`, in batches (see `import_roster`); its status
    becomes "applied" in the last transaction. Refused (the roster changed since the preview and
    the file no longer applies cleanly), it waits for a choice again."""
    if scope.actor_member_id is None:
        raise Denied("not_your_button")
    async with db.read() as session:
        pending = await session.get(PendingImport, pending_id)
    if pending is None:
        raise NotFound("import_unknown")
    if pending.uploader_member_id != scope.actor_member_id:
        raise Denied("not_your_button")
    finished = checkpoint is not None and (await checkpoint.load()).finished
    if pending.status != "applying" and not (pending.status == "applied" and finished):
        raise Denied("import_settled", status=pending.status)
    parsed = parse_roster(pending.content, default_branch=scope.only_branch)

    async def applied(session: AsyncSession) -> None:
        await session.execute(
            update(PendingImport).where(PendingImport.id == pending_id).values(status="applied")
        )

    report = await import_roster(
        db,
        org_id,
        parsed,
        scope,
        invite_days=invite_days,
        skip_bad_rows=skip_bad_rows,
        checkpoint=checkpoint,
        finish=applied,
    )
    if not report.applied:
        async with db.write() as session:
            await session.execute(
                update(PendingImport)
                .where(PendingImport.id == pending_id, PendingImport.status == "applying")
                .values(status="pending")
            )
            await session.commit()
    return report


async def cancel_upload(session: AsyncSession, pending_id: int, member_id: int) -> None:
    pending = await claim_upload(session, pending_id, member_id)
    pending.status = "cancelled"
    await session.commit()


async def scope_for(session: AsyncSession, actor: Actor) -> ImportScope:
    """An admin imports anywhere; a secretary into their own branch, which fills empty cells."""
    if actor.role is Role.ADMIN:
        return ImportScope(actor.member_id, "bot")
    if actor.role is not Role.SECRETARY:
        raise Denied("no_permission")
    branch = await session.get(Branch, actor.branch_id) if actor.branch_id else None
    if branch is None:
        raise Denied("out_of_scope")
    return ImportScope(actor.member_id, "bot", only_branch=branch.name, may_grant_admin=False)


@dataclass(frozen=True)
class UploadPreview:
    pending_id: int | None  # None when the file has nothing importable
    report: ImportReport


async def preview_upload(
    db: Database, org_id: int, actor: Actor, file_name: str, data: bytes
) -> UploadPreview:
    """Read and check the whole file and compare it with the roster (reads only, no write
    transaction open), then keep it for the confirm button (one short write)."""
    async with db.read() as session:
        scope = await scope_for(session, actor)
    try:
        # CSV or XLSX: either way the CSV text is what is checked and kept for the button.
        text = roster_text(data, file_name)
        parsed = parse_roster(text, default_branch=scope.only_branch)
    except RosterFileError as exc:
        raise Invalid(f"roster_file.{exc.reason}", value=exc.value) from None
    report = (await compare(db, org_id, parsed, scope)).report
    if report.changes == 0:
        return UploadPreview(None, report)
    async with db.write() as session:
        pending_id = await stage_upload(session, actor.member_id, file_name, text)
    return UploadPreview(pending_id, report)
