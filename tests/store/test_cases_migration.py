"""Migration 0014: the cases tables arrive next to existing data and go away on downgrade; a case's notes,
links, cameras, evidence and snapshots go with it; the number is unique per year. On SQLite and on a real
PostgreSQL server (tests/store/conftest.py)."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import delete, inspect, text
from sqlalchemy.exc import IntegrityError

from ronda.cases import repository as repo
from ronda.store.case_models import Case, CaseEvidence, CaseLink, CaseNote, CaseSnapshot
from ronda.store.db import Database, alembic_config

TABLES = {"cases", "case_cameras", "case_links", "case_notes", "case_evidence", "case_snapshots"}


def _to(db: Database, revision: str, down: bool = False) -> None:
    with db.engine.begin() as c:
        cfg = alembic_config(db.url)
        cfg.attributes["connection"] = c
        (command.downgrade if down else command.upgrade)(cfg, revision)


def _case(seq: int, year: int = 2026) -> Case:
    return Case(number=f"{year}-{seq:06d}", year=year, seq=seq, type="dumping", title="Bag", status="draft",
                camera_id=1, offence_ms=1000, window_start_ms=0, window_end_ms=2000, plate="", offender="",
                fine_reference="", fine_cents=8050, currency="EUR", organisation_id=None, created_by="op",
                created_ms=1, updated_by="op", updated_ms=1)  # fmt: skip


def test_cases_tables_come_and_go(db):
    _to(db, "0013")
    with db.engine.begin() as c:
        c.execute(text("INSERT INTO cameras (id, name, enabled, audio, status, created_ms) "
                       "VALUES (1, 'Piazza', true, false, 'on', 1)"))  # fmt: skip
    assert not TABLES & set(inspect(db.engine).get_table_names())
    db.upgrade()
    db.check()
    assert TABLES <= set(inspect(db.engine).get_table_names())
    with db.session() as s:
        assert repo.next_seq(s, 2026) == 1
        case = repo.add_case(s, _case(1), [1, 1], [CaseLink(kind="event", ref_id=7, time_ms=1000, label="dumping")],
                             [CaseSnapshot(camera_id=1, time_ms=1000, path="analytics/snapshots/1/x.jpg")])  # fmt: skip
        repo.add_note(s, CaseNote(case_id=case.id, time_ms=2, author="op", text="seen"))
        repo.add_evidence(s, CaseEvidence(case_id=case.id, export_id="abc", name="case.zip", status="pending",
                                          cameras=[1], start_ms=0, end_ms=2000, added_by="op", added_ms=3))  # fmt: skip
        assert repo.next_seq(s, 2026) == 2 and repo.next_seq(s, 2027) == 1
        cid = case.id
    with db.session() as s:
        assert repo.cameras_of(s, cid) == [1]
        assert s.get(Case, cid).fine_cents == 8050
    with pytest.raises(IntegrityError), db.session() as s:  # the same number twice
        s.add(_case(1))
    with db.session() as s:
        s.execute(delete(Case).where(Case.id == cid))
    with db.engine.connect() as c:
        for table in TABLES - {"cases"}:
            assert c.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0, table
    _to(db, "0013", down=True)
    assert not TABLES & set(inspect(db.engine).get_table_names())
    db.upgrade()
    db.check()
