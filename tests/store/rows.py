"""Minimal valid rows for any table of the schema, for tests that need "a row of every table": each
required column gets a made-up value of its type (unique, so unique constraints hold), and each foreign
key points at a parent row made the same way (one per parent table, reused)."""

from __future__ import annotations

import itertools
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Connection,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    insert,
)
from sqlalchemy.sql.type_api import TypeEngine

from ronda.store.all_models import Base

# Tables whose id the database generates (a single integer primary key that nobody else assigns):
# the ones that must never hand out an id twice. The others: ids assigned by the program (audit
# sequence numbers, one-row tables) or keyed by another table's id (a camera's settings, a user's prefs).
ASSIGNED = frozenset({"audit_log", "audit_checkpoints", "audit_lock", "rights_version"})


def generated_id_tables() -> list[str]:
    out = []
    for t in Base.metadata.sorted_tables:
        pk = list(t.primary_key.columns)
        if t.name in ASSIGNED or len(pk) != 1 or pk[0].foreign_keys:
            continue
        if isinstance(pk[0].type, Integer):  # BigId too: BigInteger, INTEGER on SQLite
            out.append(t.name)
    return sorted(out)


_VALUES = itertools.count(100)  # shared: makers on one database must not repeat a unique value


class RowMaker:
    """Inserts rows through one connection; ``add(table)`` returns the new row's primary key. Tables are
    read from the database, not the models, so that it fills a database at an older revision too."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._parents: dict[str, Any] = {}
        self._meta = MetaData()

    def _table(self, name: str) -> Table:
        if name not in self._meta.tables:
            Table(name, self._meta, autoload_with=self.conn)
        return self._meta.tables[name]

    def _value(self, typ: TypeEngine[Any]) -> Any:
        n = next(_VALUES)
        if isinstance(typ, Boolean):
            return False
        if isinstance(typ, Integer | BigInteger | SmallInteger):
            return n if not isinstance(typ, SmallInteger) else n % 100
        if isinstance(typ, Float):
            return float(n)
        if isinstance(typ, JSON):
            return [n]
        if isinstance(typ, LargeBinary):
            return str(n).encode()
        if isinstance(typ, String | Text):
            length = getattr(typ, "length", None) or 32
            return f"v{n}"[-length:]
        raise TypeError(f"no test value for {typ!r}")

    def parent(self, table: str) -> Any:
        if table not in self._parents:
            self._parents[table] = self.add(table)
        return self._parents[table]

    def add(self, table: str, **values: Any) -> Any:
        t = self._table(table)
        row: dict[str, Any] = {}
        for col in t.columns:
            if col.name in values:
                row[col.name] = values[col.name]
            elif col.foreign_keys:
                fk = next(iter(col.foreign_keys))
                row[col.name] = self.parent(fk.column.table.name)
            elif col.primary_key and col.autoincrement is not False and isinstance(col.type, Integer):
                if len(t.primary_key.columns) == 1:
                    continue  # generated
                row[col.name] = self._value(col.type)
            elif not col.nullable or col.primary_key:
                row[col.name] = self._value(col.type)
        result = self.conn.execute(insert(t).values(**row))
        pk = result.inserted_primary_key
        return pk[0] if pk is not None and len(pk) == 1 else tuple(pk or ())
