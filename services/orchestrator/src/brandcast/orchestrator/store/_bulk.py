"""Writing many rows at once: COPY on PostgreSQL, batched INSERTs elsewhere; many
keyed updates whose returned rows are all wanted; and lists bound as one array
parameter (``BinaryArray``, ``StringArray``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

import psycopg
from psycopg.rows import namedtuple_row
from psycopg.types.array import ListBinaryDumper
from sqlalchemy import Connection, String, Table, TypeDecorator, Update, insert
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError

#: Rows per executemany round trip.
WRITE_BATCH: Final = 1000


class BinaryArray(list[Any]):
    """A list bound as one PostgreSQL array parameter in binary form.

    psycopg sends a plain list in text form, quoting and escaping each string
    with regular expressions in Python: 1.1-2.2 µs an element, where the
    binary form costs 0.3 (``bench/bench_row_building.py``). A receipt flush binds ten
    arrays of one element per receipt, a QUEUED mark and a suppression lookup
    one each. The element types come from the values (``text`` for strings);
    the statements cast each array to its column's type.
    """


psycopg.adapters.register_dumper(BinaryArray, ListBinaryDumper)


class StringArray(TypeDecorator[list[str]]):
    """``ARRAY(String)`` whose value reaches psycopg as a ``BinaryArray``.

    SQLAlchemy's own ``ARRAY`` bind processing copies the value into a plain
    list, which psycopg would send as text again.
    """

    impl = ARRAY(String)
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Any:
        def process(value: Sequence[str] | None) -> BinaryArray | None:
            return None if value is None else BinaryArray(value)

        return process


def insert_tuples(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """``rows``, tuples of ``columns``, into ``table`` inside ``conn``'s transaction."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        # COPY costs PostgreSQL a fraction of multi-row INSERTs (no statement
        # to parse and plan per 1,000 rows) and psycopg streams the rows.
        _copy(conn, table, columns, rows)
        return
    for start in range(0, len(rows), WRITE_BATCH):
        conn.execute(
            insert(table),
            [dict(zip(columns, row, strict=True)) for row in rows[start : start + WRITE_BATCH]],
        )


def _copy(
    conn: Connection, table: Table, names: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    driver = conn.connection.driver_connection
    assert driver is not None
    columns = ", ".join(f'"{name}"' for name in names)
    statement = f'COPY "{table.name}" ({columns}) FROM STDIN'
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
    except conn.dialect.loaded_dbapi.IntegrityError as exc:
        # The driver's own error, raised past SQLAlchemy: callers catch
        # SQLAlchemy's, as for any other statement (a repeated recipient id).
        raise IntegrityError(statement, None, exc) from exc


def update_each_returning(
    conn: Connection, statement: Update, rows: Sequence[dict[str, Any]]
) -> list[Any]:
    """``statement`` once per parameter set in ``rows``, with the rows each returned.

    SQLAlchemy runs an UPDATE with RETURNING one parameter set at a time. On
    PostgreSQL the driver's executemany sends them all in one pipeline (one
    round trip) and keeps every result; elsewhere (SQLite, in-process) one call
    per row costs little.
    """
    if not rows:
        return []
    if conn.dialect.name != "postgresql":
        return [row for params in rows for row in conn.execute(statement, params)]
    text, defaults = _compiled(statement, conn.dialect)
    driver = conn.connection.driver_connection
    assert driver is not None
    returned: list[Any] = []
    try:
        with driver.cursor(row_factory=namedtuple_row) as cursor:
            cursor.executemany(text, [{**defaults, **params} for params in rows], returning=True)
            while True:
                returned.extend(cursor.fetchall())
                if not cursor.nextset():
                    break
    except conn.dialect.loaded_dbapi.Error as exc:
        # Raised past SQLAlchemy: callers catch SQLAlchemy's errors, as for any
        # other statement (a serialisation failure is retried the same way).
        raise DBAPIError.instance(text, None, exc, conn.dialect.loaded_dbapi.Error) from exc
    return returned


_COMPILED: dict[tuple[Update, str], tuple[str, dict[str, Any]]] = {}


def _compiled(statement: Update, dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """The statement's text for ``dialect`` and the values it binds itself
    (literals given to ``.values()``); for module-level statements only."""
    key = (statement, dialect.name)
    found = _COMPILED.get(key)
    if found is None:
        compiled = statement.compile(dialect=dialect)
        defaults = {name: value for name, value in compiled.params.items() if value is not None}
        found = _COMPILED[key] = (str(compiled), defaults)
    return found
