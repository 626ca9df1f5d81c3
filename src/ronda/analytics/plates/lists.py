"""Hotlists and allowlists for a caller with ``manage_rules`` (docs/analytics.md, "Licence plates"):
scoped like rules, to the holder's organisation. A site-scope holder sees and edits every list and may
make site lists (applied to every camera) or an organisation's; a holder inside organisation B sees and
edits only B's lists (applied to the cameras B owns); another's list is not found. Every change is
audited in its own transaction. Sizes are bounded: lists per scope, entries and patterns per list,
entries per request."""

from __future__ import annotations

from dataclasses import dataclass

from ronda.access.audit import AuditLog
from ronda.access.service import Principal
from ronda.analytics.plates import listfile
from ronda.analytics.plates import repository as repo
from ronda.analytics.plates.hotlist import PlateTextError, is_pattern, normalise_pattern, plate_key
from ronda.errors import Conflict, Forbidden, Invalid, NotFound
from ronda.store.access_models import Organisation
from ronda.store.db import Database
from ronda.store.plate_models import PlateList
from ronda.timeutil import now_ms

MAX_LISTS = 100  # per organisation (and for the site)
MAX_ENTRIES = 10_000  # per list
MAX_PATTERNS = 200  # pattern entries per list: each is tried on every read
MAX_BATCH = 1000  # entries per request


@dataclass(frozen=True, slots=True)
class NewEntry:
    plate: str
    reason: str = ""
    valid_until_ms: int | None = None


def _visible(caller: Principal, row: PlateList | None) -> PlateList:
    if row is None or not caller.in_scope(row.organisation_id):
        raise NotFound("plate list")
    return row


def lists(db: Database, caller: Principal) -> list[repo.ListRecord]:
    with db.session() as s:
        return repo.list_lists(s, caller.organisation_id, everything=caller.site_scope)


def get(db: Database, caller: Principal, list_id: int) -> repo.ListRecord:
    with db.session() as s:
        return repo.list_record(s, _visible(caller, repo.get_list_row(s, list_id)))


def _organisation(caller: Principal, asked: int | None, given: bool) -> int | None:
    """The organisation a new list belongs to: the caller's own unless a site-scope caller names one."""
    if not given:
        return caller.organisation_id
    if not caller.site_scope and asked != caller.organisation_id:
        raise Forbidden("you may only make lists of your own organisation")
    return asked


def create(db: Database, audit: AuditLog, caller: Principal, name: str, kind: str, description: str, enabled: bool,
           organisation_id: int | None = None, organisation_given: bool = False) -> repo.ListRecord:  # fmt: skip
    if kind not in repo.KINDS:
        raise Invalid("kind: 'hotlist' or 'allowlist'")
    org = _organisation(caller, organisation_id, organisation_given)
    with db.session() as s:
        if org is not None and s.get(Organisation, org) is None:
            raise Invalid("organisation: no such organisation")
        if repo.count_lists(s, org) >= MAX_LISTS:
            raise Conflict(f"at most {MAX_LISTS} plate lists per organisation; delete one first")
        if repo.name_taken(s, org, name):
            raise Conflict(f"a plate list named {name!r} exists already")
        row = repo.add_list(s, name, kind, org, description, enabled, caller.actor, now_ms())
        out = repo.list_record(s, row)
        audit.record(s, caller.actor, "plates.list.create", source_ip=caller.source_ip,
                     details={"list": row.id, "name": name, "kind": kind, "organisation": org})  # fmt: skip
        return out


def update(db: Database, audit: AuditLog, caller: Principal, list_id: int, name: str | None,
           description: str | None, enabled: bool | None) -> repo.ListRecord:  # fmt: skip
    with db.session() as s:
        row = _visible(caller, repo.get_list_row(s, list_id))
        changed: dict[str, object] = {}
        if name is not None and name != row.name:
            if repo.name_taken(s, row.organisation_id, name, but=row.id):
                raise Conflict(f"a plate list named {name!r} exists already")
            row.name = changed["name"] = name
        if description is not None and description != row.description:
            row.description = changed["description"] = description
        if enabled is not None and enabled != row.enabled:
            row.enabled = changed["enabled"] = enabled
        if changed:
            row.updated_ms, row.updated_by = now_ms(), caller.actor
            s.flush()
            audit.record(s, caller.actor, "plates.list.update", source_ip=caller.source_ip,
                         details={"list": row.id, **changed})  # fmt: skip
        return repo.list_record(s, row)


def delete(db: Database, audit: AuditLog, caller: Principal, list_id: int) -> None:
    with db.session() as s:
        row = _visible(caller, repo.get_list_row(s, list_id))
        details = {"list": row.id, "name": row.name, "kind": row.kind, "organisation": row.organisation_id,
                   "entries": repo.entry_counts(s, row.id)[0]}  # fmt: skip
        repo.delete_list(s, row)
        audit.record(s, caller.actor, "plates.list.delete", source_ip=caller.source_ip, details=details)


def entries(db: Database, caller: Principal, list_id: int, contains: str | None, limit: int,
            offset: int) -> list[repo.EntryRecord]:  # fmt: skip
    key = None
    if contains:
        try:
            key = plate_key(normalise_pattern(contains)).replace("*", "").replace("?", "")
        except PlateTextError as e:
            raise Invalid(f"plate: {e}") from None
    with db.session() as s:
        _visible(caller, repo.get_list_row(s, list_id))
        return repo.list_entries(s, list_id, key or None, limit, offset)


def add_entries(db: Database, audit: AuditLog, caller: Principal, list_id: int,
                new: list[NewEntry]) -> list[repo.EntryRecord]:  # fmt: skip
    """Add entries (a plate already on the list gets the new reason and expiry). All or nothing."""
    if not new or len(new) > MAX_BATCH:
        raise Invalid(f"entries: 1 to {MAX_BATCH} per request")
    t = now_ms()
    clean: dict[str, NewEntry] = {}
    for i, e in enumerate(new):
        try:
            plate = normalise_pattern(e.plate)
        except PlateTextError as err:
            raise Invalid(f"entries[{i}].plate: {err}") from None
        if e.valid_until_ms is not None and e.valid_until_ms <= t:
            raise Invalid(f"entries[{i}].valid_until: must be in the future")
        clean[plate] = NewEntry(plate, e.reason, e.valid_until_ms)
    with db.session() as s:
        row = _visible(caller, repo.get_list_row(s, list_id))
        existing = repo.existing_plates(s, row.id, list(clean))
        total, patterns = repo.entry_counts(s, row.id)
        added = [p for p in clean if p not in existing]
        if total + len(added) > MAX_ENTRIES:
            raise Conflict(f"a plate list holds at most {MAX_ENTRIES} entries ({total} now)")
        if patterns + sum(is_pattern(p) for p in added) > MAX_PATTERNS:
            raise Conflict(f"a plate list holds at most {MAX_PATTERNS} patterns ({patterns} now)")
        rows = [repo.put_entry(s, row.id, e.plate, plate_key(e.plate), e.reason, e.valid_until_ms, caller.actor, t,
                               existing.get(e.plate)) for e in clean.values()]  # fmt: skip
        row.updated_ms, row.updated_by = t, caller.actor
        s.flush()
        out = [repo.EntryRecord.of(r) for r in rows]
        audit.record(s, caller.actor, "plates.entries.add", source_ip=caller.source_ip,
                     details={"list": row.id, "name": row.name, "added": len(added),
                              "replaced": len(clean) - len(added), "plates": list(clean)[:50]})  # fmt: skip
        return out


def delete_entry(db: Database, audit: AuditLog, caller: Principal, list_id: int, entry_id: int) -> None:
    with db.session() as s:
        row = _visible(caller, repo.get_list_row(s, list_id))
        entry = repo.get_entry(s, row.id, entry_id)
        if entry is None:
            raise NotFound("plate list entry")
        plate = entry.plate
        repo.delete_entry(s, entry)
        row.updated_ms, row.updated_by = now_ms(), caller.actor
        audit.record(s, caller.actor, "plates.entry.delete", source_ip=caller.source_ip,
                     details={"list": row.id, "name": row.name, "plate": plate})  # fmt: skip


@dataclass(frozen=True, slots=True)
class Imported:
    """What an import did: entries added, plates the list held already (left as they were), and the
    lines refused (at most ``listfile.MAX_REJECTED`` of them; ``rejected_total`` counts them all)."""

    added: int
    already: int
    rejected: list[listfile.Rejected]
    rejected_total: int


def import_file(db: Database, audit: AuditLog, caller: Principal, list_id: int, data: bytes,
                valid_until_ms: int | None = None) -> Imported:  # fmt: skip
    """Add the entries of a CSV file (``listfile``) to a list: all the good lines or, when the file is no
    plate list (``Invalid``) or would overfill the list (``Conflict``), nothing. A plate the list holds
    already keeps its entry (reason and expiry); audited (``plates.list.import``)."""
    t = now_ms()
    if valid_until_ms is not None and valid_until_ms <= t:
        raise Invalid("valid_until: must be in the future")
    with db.session() as s:  # a list the caller may not see is not found, whatever the file
        _visible(caller, repo.get_list_row(s, list_id))
    try:
        parsed = listfile.parse(data, t, valid_until_ms)
    except listfile.FileError as e:
        raise Invalid(f"file: {e}") from None
    with db.session() as s:
        row = _visible(caller, repo.get_list_row(s, list_id))
        plates = [ln.plate for ln in parsed.lines]
        existing = repo.existing_plates(s, row.id, plates)
        new = [ln for ln in parsed.lines if ln.plate not in existing]
        total, patterns = repo.entry_counts(s, row.id)
        if total + len(new) > MAX_ENTRIES:
            raise Conflict(f"a plate list holds at most {MAX_ENTRIES} entries ({total} now, {len(new)} new in the "
                           "file): nothing was imported")  # fmt: skip
        if patterns + sum(is_pattern(ln.plate) for ln in new) > MAX_PATTERNS:
            raise Conflict(f"a plate list holds at most {MAX_PATTERNS} patterns ({patterns} now): nothing was "
                           "imported")  # fmt: skip
        for ln in new:
            repo.put_entry(s, row.id, ln.plate, plate_key(ln.plate), ln.note, ln.valid_until_ms, caller.actor, t, None)
        if new:
            row.updated_ms, row.updated_by = t, caller.actor
        s.flush()
        rejected = parsed.rejected
        audit.record(s, caller.actor, "plates.list.import", source_ip=caller.source_ip,
                     details={"list": row.id, "name": row.name, "bytes": len(data), "added": len(new),
                              "already": len(existing), "rejected": len(rejected),
                              "plates": [ln.plate for ln in new[:50]]})  # fmt: skip
    return Imported(len(new), len(existing), rejected[: listfile.MAX_REJECTED], len(rejected))


def export_file(db: Database, audit: AuditLog, caller: Principal, list_id: int) -> tuple[str, bytes]:
    """(the list's name, its entries as CSV: ``listfile.write``); audited (``plates.list.export``)."""
    with db.session() as s:
        row = _visible(caller, repo.get_list_row(s, list_id))
        name = row.name
        entries = repo.list_entries(s, row.id, None, MAX_ENTRIES, 0)
    data = listfile.write(listfile.OutEntry(e.plate, e.reason, e.valid_until_ms) for e in entries)
    audit.append(caller.actor, "plates.list.export", "ok", source_ip=caller.source_ip,
                 details={"list": list_id, "name": name, "entries": len(entries)})  # fmt: skip
    return name, data
