"""Importing a roster: one transaction that either applies the whole file or nothing."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.auth import Actor
from bot.errors import Denied, Invalid, NotFound
from bot.services import audit
from bot.services.invites import issue_invite
from bot.services.roster_csv import (
    ParsedRoster,
    RosterFileError,
    RosterRow,
    RowError,
    decode,
    parse_roster,
)
from storage.models import Branch, Group, Member, PendingImport, Role


@dataclass(frozen=True)
class ImportScope:
    """What the importer may touch: a secretary only their branch and never the admin role."""

    actor_member_id: int | None
    source: str
    only_branch: str | None = None
    may_grant_admin: bool = True


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
    errors: list[RowError] = field(default_factory=list)
    applied: bool = False

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


async def _branch(
    session: AsyncSession, org_id: int, name: str, cache: dict[str, Branch], report: ImportReport
) -> Branch:
    if name not in cache:
        branch = await session.scalar(
            select(Branch).where(Branch.organisation_id == org_id, Branch.name == name)
        )
        if branch is None:
            branch = Branch(organisation_id=org_id, name=name)
            session.add(branch)
            await session.flush()
            report.new_branches.append(name)
        cache[name] = branch
    return cache[name]


async def _group(
    session: AsyncSession,
    branch: Branch,
    name: str,
    cache: dict[tuple[int, str], Group],
    report: ImportReport,
) -> Group:
    key = (branch.id, name)
    if key not in cache:
        group = await session.scalar(
            select(Group).where(Group.branch_id == branch.id, Group.name == name)
        )
        if group is None:
            group = Group(branch_id=branch.id, name=name)
            session.add(group)
            await session.flush()
            report.new_groups.append(f"{branch.name}/{name}")
        cache[key] = group
    return cache[key]


def _diff(
    member: Member, row: RosterRow, group_id: int | None, parsed: ParsedRoster
) -> dict[str, tuple[object, object]]:
    """Fields the row changes. A column the file lacks leaves that field alone."""
    changes: dict[str, tuple[object, object]] = {}
    if parsed.has_group and member.group_id != group_id:
        changes["group_id"] = (member.group_id, group_id)
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


async def import_roster(
    session: AsyncSession,
    org_id: int,
    parsed: ParsedRoster,
    scope: ImportScope,
    *,
    invite_days: int,
    dry_run: bool = False,
    skip_bad_rows: bool = False,
    deactivate_missing: bool = False,
) -> ImportReport:
    """Apply the roster; with bad rows (and no skip) or a dry run, report and change nothing."""
    report = ImportReport(
        errors=sorted([*parsed.errors, *scope_errors(parsed, scope)], key=lambda e: e.line)
    )
    bad_lines = {e.line for e in report.errors}
    rows = [r for r in parsed.rows if r.line not in bad_lines]
    branches: dict[str, Branch] = {}
    groups: dict[tuple[int, str], Group] = {}
    seen_ids: set[int] = set()

    for row in rows:
        branch = await _branch(session, org_id, row.branch, branches, report)
        group = await _group(session, branch, row.group, groups, report) if row.group else None
        group_id = group.id if group else None
        member = await session.scalar(
            select(Member).where(Member.branch_id == branch.id, Member.name == row.name)
        )
        if member is None:
            member = Member(
                organisation_id=org_id,
                name=row.name,
                branch_id=branch.id,
                group_id=group_id,
                role=row.role or Role.MEMBER,
                phone=row.phone,
                committee=bool(row.committee),
                dues_cents=row.dues_cents,
                active=True,
            )
            session.add(member)
            await session.flush()
            issue_invite(session, member.id, invite_days)
            report.created.append(row.name)
            if member.committee:
                report.committee_joined.append(row.name)
            audit.record(
                session,
                action="member.created",
                entity="member",
                entity_id=member.id,
                actor_member_id=scope.actor_member_id,
                source=scope.source,
                branch=row.branch,
                group=row.group,
                role=member.role.value,
                committee=member.committee,
            )
        elif member.role is Role.ADMIN and not scope.may_grant_admin:
            # Only admins touch admins (as /setrole rules): a secretary's file may not.
            if _diff(member, row, group_id, parsed):
                report.errors.append(RowError(row.line, "cannot_change_admin", row.name))
            else:
                report.unchanged += 1
        else:
            changes = _diff(member, row, group_id, parsed)
            if changes:
                for attr, (_old, new) in changes.items():
                    setattr(member, attr, new)
                report.updated.append(row.name)
                if "committee" in changes:
                    target = report.committee_joined if row.committee else report.committee_left
                    target.append(row.name)
                audit.record(
                    session,
                    action="member.updated",
                    entity="member",
                    entity_id=member.id,
                    actor_member_id=scope.actor_member_id,
                    source=scope.source,
                    changes={k: [str(o), str(n)] for k, (o, n) in changes.items()},
                )
            else:
                report.unchanged += 1
        seen_ids.add(member.id)

    if deactivate_missing and branches:
        stale = await session.scalars(
            select(Member).where(
                Member.branch_id.in_([b.id for b in branches.values()]),
                Member.active.is_(True),
                Member.id.not_in(seen_ids) if seen_ids else Member.id.is_not(None),
            )
        )
        for member in stale:
            member.active = False
            report.deactivated.append(member.name)
            audit.record(
                session,
                action="member.deactivated",
                entity="member",
                entity_id=member.id,
                actor_member_id=scope.actor_member_id,
                source=scope.source,
            )

    report.errors.sort(key=lambda e: e.line)
    if dry_run or (report.errors and not skip_bad_rows):
        await session.rollback()
        report.applied = False
        return report
    audit.record(
        session,
        action="roster.imported",
        entity="roster",
        entity_id=None,
        actor_member_id=scope.actor_member_id,
        source=scope.source,
        created=len(report.created),
        updated=len(report.updated),
        deactivated=len(report.deactivated),
        skipped=len(report.errors),
    )
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


async def confirm_upload(
    session: AsyncSession,
    org_id: int,
    pending_id: int,
    scope: ImportScope,
    *,
    invite_days: int,
    skip_bad_rows: bool,
) -> ImportReport:
    """Apply a staged upload once; the status flips in the same transaction as the import."""
    if scope.actor_member_id is None:
        raise Denied("not_your_button")
    pending = await claim_upload(session, pending_id, scope.actor_member_id)
    parsed = parse_roster(pending.content, default_branch=scope.only_branch)
    pending.status = "applied"
    report = await import_roster(
        session, org_id, parsed, scope, invite_days=invite_days, skip_bad_rows=skip_bad_rows
    )
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
    session: AsyncSession,
    org_id: int,
    actor: Actor,
    file_name: str,
    data: bytes,
    *,
    invite_days: int,
) -> UploadPreview:
    """Dry-run the file for the preview and stage it for the confirm button."""
    scope = await scope_for(session, actor)
    try:
        text = decode(data)
        parsed = parse_roster(text, default_branch=scope.only_branch)
    except RosterFileError as exc:
        raise Invalid(f"roster_file.{exc.reason}", value=exc.value) from None
    report = await import_roster(
        session, org_id, parsed, scope, invite_days=invite_days, dry_run=True
    )
    importable = report.changes > 0
    if not importable:
        return UploadPreview(None, report)
    pending_id = await stage_upload(session, actor.member_id, file_name, text)
    return UploadPreview(pending_id, report)
