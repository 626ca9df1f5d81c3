"""SQLite: a generated id is never handed out twice (AUTOINCREMENT)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 10:00:00.000000

Without ``AUTOINCREMENT`` SQLite gives a new row the highest id in its table plus one. Deleting the
newest row, or emptying a table (retention with nothing new for a while), freed ids for the next insert,
and whatever still named the old id then named the new row: alarms kept the id of their deleted rule
and looked like the new rule's; a case's links, an object's or plate read's event, a patrol a dome was
running, the hotlist a plate read matched, an audit entry, a playlist or URL a client kept (segment,
plate crop, case evidence, API key...). PostgreSQL sequences never go back, so this is SQLite only;
on PostgreSQL the upgrade does nothing.

Which tables. Every table whose single integer primary key the database generates (the list below,
the survey in docs/architecture.md, "The database"): they are the ones whose ids leave the row, through
foreign keys, plain id columns that outlive their target (``alarms.rule_id``, ``case_links.ref_id``,
``ptz_cameras.patrol_id``, ``plate_reads.hotlist_id``...), the audit log's details, API URLs and
push payloads. The biggest, ``segments`` and ``events``, are in: segment ids are in the VOD playlists
clients hold (``/media/{camera}/segments/{id}.mp4``) and event ids in cases, alarms, plate reads and
object records; ``gaps``, ``camera_streams`` and ``alarm_entries`` ids go nowhere today but cost
next to nothing, and one rule ("generated ids are never reused", checked by
tests/store/test_id_reuse.py for every such table, new ones included) is easier to keep true than a
per-table judgement. Not rebuilt: tables whose ids the program assigns (``audit_log.seq``,
``audit_checkpoints.seq``, the one-row ``audit_lock`` and ``rights_version``), tables keyed by another
table's id (``map_positions``, ``analytics_settings``, ``notification_prefs``, ``ptz_cameras``,
``totp_enrolments``) and those with composite or text keys.

How. Each table is rebuilt the way SQLite documents for changes ALTER TABLE cannot make: a new table
from the table's own CREATE TABLE statement with the key moved onto the id column as
``id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT`` and everything else verbatim (columns, defaults,
unique and foreign keys), the rows copied with their ids, the old table dropped, the new one renamed,
then the table's indexes and triggers (SQLite drops them with the table; the schema has no trigger
today, a site may have added some) created again from their own statements. A statement of another
form (edited by hand) is rebuilt by Alembic's batch mode from what it reflects instead. Copying the
statement is faster than batch mode (which reflects every table: 0.5 s more on every new database)
and leaves nothing out. Foreign keys must be off while tables are dropped
(``ronda.store.db.upgrade`` does that); with them on, dropping a table would delete or block the rows
that refer to it, so the upgrade refuses to start.

Then each table's ``sqlite_sequence`` entry is set to the highest id still known anywhere: the table's
own, every column that refers to it and the ids the audit log's details name (``{"rule": 7}`` of a
``rule.delete``), so an id freed before this upgrade (a rule deleted, its alarms detached) is not given
again either. An id freed before the upgrade that nothing in the database names any more cannot be
known and may still be given once more.

Time: the copy is one INSERT ... SELECT per table plus its index rebuild. Measured on a 2-core machine:
200,000 events and 200,000 segments in 1.2 s (2.1 s with 1,000,000 audit entries to read ids from);
1,000,000 events and 2,000,000 segments (a 540 MB database) in 9 s. The write-ahead log grows by about
the size of the rebuilt tables meanwhile. The cost is worth it for the big tables too: segment ids are
in clients' playlists, event ids in cases, alarms, plate reads and object records (above).

Downgrade: nothing to undo. AUTOINCREMENT tables work unchanged with the older code, so the downgrade
leaves them as they are.
"""

from __future__ import annotations

import re

from alembic import op
from sqlalchemy.engine import Connection

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

def _audit(action_prefix: str, key: str) -> tuple[str, str, str]:
    """The ids under ``key`` in the details of the audit entries whose action starts with the prefix."""
    after = action_prefix[:-1] + chr(ord(action_prefix[-1]) + 1)  # "rule." -> "rule/"
    return (
        "audit_log",
        f"CAST(json_extract(details, '$.{key}') AS INTEGER)",
        f"action >= '{action_prefix}' AND action < '{after}' AND json_valid(details)",
    )


# table -> what elsewhere names its ids: (table, column or expression, condition or ""). The audit log's
# details name the ids of what was changed; the key ranges on ``action`` let the index find the entries.
REFERENCES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "organisations": (
        ("camera_groups", "organisation_id", ""),
        ("camera_shares", "organisation_id", ""),
        ("roles", "organisation_id", ""),
        ("users", "organisation_id", ""),
        ("cases", "organisation_id", ""),
        ("plate_lists", "organisation_id", ""),
    ),
    "camera_groups": (
        ("camera_group_members", "group_id", ""),
        ("camera_shares", "camera_group_id", ""),
        ("role_scopes", "camera_group_id", ""),
    ),
    "time_profiles": (("roles", "time_profile_id", ""), ("ptz_patrols", "time_profile_id", "")),
    "roles": (("user_roles", "role_id", ""), ("role_scopes", "role_id", "")),
    "users": (
        ("sessions", "user_id", ""),
        ("totp_enrolments", "user_id", ""),
        ("api_keys", "user_id", ""),
        ("push_subscriptions", "user_id", ""),
        ("notification_prefs", "user_id", ""),
        ("alarms", "owner_id", ""),
        ("export_jobs", "owner_id", ""),
    ),
    "api_keys": (_audit("apikey.", "id"),),
    "cameras": (
        ("camera_streams", "camera_id", ""),
        ("segments", "camera_id", ""),
        ("gaps", "camera_id", ""),
        ("evidence_locks", "camera_id", ""),
        ("bookmarks", "camera_id", ""),
        ("events", "camera_id", ""),
        ("audit_log", "camera_id", ""),
        ("camera_group_members", "camera_id", ""),
        ("analytics_settings", "camera_id", ""),
        ("motion_minutes", "camera_id", ""),
        ("analytics_objects", "camera_id", ""),
        ("alarms", "camera_id", ""),
        ("map_positions", "camera_id", ""),
        ("ptz_cameras", "camera_id", ""),
        ("ptz_preset_names", "camera_id", ""),
        ("ptz_patrols", "camera_id", ""),
        ("cases", "camera_id", ""),
        ("case_cameras", "camera_id", ""),
        ("case_snapshots", "camera_id", ""),
        ("plate_reads", "camera_id", ""),
    ),
    "camera_streams": (),
    "segments": (),
    "gaps": (),
    "evidence_locks": (_audit("evidence.", "lock"),),
    "bookmarks": (("case_links", "ref_id", "kind = 'bookmark'"), _audit("bookmark.", "bookmark")),
    "events": (
        ("alarm_events", "event_id", ""),
        ("case_links", "ref_id", "kind = 'event'"),
        ("case_snapshots", "event_id", ""),
        ("analytics_objects", "event_id", ""),
        ("plate_reads", "event_id", ""),
    ),
    "rules": (("alarms", "rule_id", ""), _audit("rule.", "rule")),
    "alarms": (
        ("alarm_events", "alarm_id", ""),
        ("alarm_entries", "alarm_id", ""),
        ("case_links", "ref_id", "kind = 'alarm'"),
        _audit("alarm.", "alarm"),
    ),
    "alarm_entries": (),
    "push_subscriptions": (),
    "analytics_objects": (),
    "cases": (
        ("case_cameras", "case_id", ""),
        ("case_links", "case_id", ""),
        ("case_notes", "case_id", ""),
        ("case_evidence", "case_id", ""),
        ("case_snapshots", "case_id", ""),
        _audit("case.", "case"),
    ),
    "case_notes": (_audit("case.note", "note"),),
    "case_evidence": (),
    "case_snapshots": (),
    "plate_lists": (
        ("plate_list_entries", "list_id", ""),
        ("plate_reads", "hotlist_id", ""),
        ("plate_reads", "allowlist_id", ""),
        _audit("plates.", "list"),
    ),
    "plate_list_entries": (),
    "plate_reads": (),
    "ptz_patrols": (("ptz_cameras", "patrol_id", ""), _audit("ptz.", "patrol")),
}
TABLES = tuple(REFERENCES)


# The form every one of these tables has had since its migration created it: the id first, the key
# as a table constraint. SQLite takes AUTOINCREMENT only on the column ("id INTEGER PRIMARY KEY
# AUTOINCREMENT").
_FIRST_ID = re.compile(r"^CREATE TABLE\s+\"?\w+\"?\s*\((\s*)id INTEGER NOT NULL,")
_PK_CONSTRAINT = re.compile(r",\s*PRIMARY KEY \(id\)")


def _schema_sql(bind: Connection, kind: str, table: str) -> list[str]:
    return list(
        bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = ? AND tbl_name = ? AND sql IS NOT NULL ORDER BY name",
            (kind, table),
        ).scalars()
    )


def _columns(bind: Connection, table: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in bind.exec_driver_sql(f'PRAGMA table_info("{table}")')]


def _autoincrement_sql(create: str, new_name: str) -> str | None:
    """``create`` (a table's CREATE TABLE) for a table ``new_name`` with AUTOINCREMENT, the rest verbatim;
    None when the statement is not of the expected form."""
    head = _FIRST_ID.match(create)
    if head is None or len(_PK_CONSTRAINT.findall(create)) != 1:
        return None
    body = _PK_CONSTRAINT.sub("", create[head.end() :], count=1)
    return f'CREATE TABLE "{new_name}" ({head.group(1)}id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,{body}'


def _rebuild(bind: Connection, table: str) -> None:
    """SQLite's own recipe for changing a table: a new table from the same statement but for the key,
    the rows copied with their ids, the old table dropped, the new one renamed, then the old one's
    indexes and triggers (dropped with it) created again from their own statements."""
    [create] = _schema_sql(bind, "table", table)
    indexes, triggers = _schema_sql(bind, "index", table), _schema_sql(bind, "trigger", table)
    new = f"_autoincrement_{table}"
    sql = _autoincrement_sql(create, new)
    if sql is not None:
        bind.exec_driver_sql(sql)
        if _columns(bind, new) != _columns(bind, table):
            bind.exec_driver_sql(f'DROP TABLE "{new}"')
            sql = None
    if sql is None:
        # Another form (edited by hand?): Alembic rebuilds it from what it reflects.
        with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": True}):
            pass
    else:
        bind.exec_driver_sql(f'INSERT INTO "{new}" SELECT * FROM "{table}"')  # noqa: S608
        bind.exec_driver_sql(f'DROP TABLE "{table}"')
        bind.exec_driver_sql(f'ALTER TABLE "{new}" RENAME TO "{table}"')
        for statement in indexes:
            bind.exec_driver_sql(statement)
    for statement in triggers:
        bind.exec_driver_sql(statement)


def _highest_known_id(bind: Connection, table: str) -> int:
    """The table's highest id, or a higher one still named by a row that refers to it."""
    queries = [f"SELECT max(id) FROM {table}"]  # noqa: S608  (names from the constants above)
    for ref_table, column, where in REFERENCES[table]:
        cond = f" WHERE {where}" if where else ""
        queries.append(f"SELECT max({column}) FROM {ref_table}{cond}")  # noqa: S608
    return max(int(bind.exec_driver_sql(q).scalar() or 0) for q in queries)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return  # PostgreSQL sequences never hand out an id twice
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError(
            "revision 0016 rebuilds tables, which with SQLite foreign keys on would delete or block the rows "
            "that refer to them; upgrade with `ronda db upgrade` (it turns them off for the upgrade)"
        )
    for table in TABLES:
        [create] = _schema_sql(bind, "table", table)
        if "AUTOINCREMENT" not in create.upper():
            _rebuild(bind, table)
    # Every rebuilt table has its sqlite_sequence row now only if it had rows; set them all, upwards only.
    for table in TABLES:
        known = _highest_known_id(bind, table)
        if known <= 0:
            continue
        updated = bind.exec_driver_sql(
            "UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?", (known, table)
        ).rowcount
        if not updated:
            bind.exec_driver_sql("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, known))


def downgrade() -> None:
    """Nothing to undo: the older code works with AUTOINCREMENT tables as it did without."""
