"""Writing many rows at once: COPY on PostgreSQL, batched INSERTs elsewhere."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from sqlalchemy import Connection, Table, insert
from sqlalchemy.exc import IntegrityError

#: Rows per executemany round trip.
WRITE_BATCH: Final = 1000


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        # COPY costs PostgreSQL a fraction of multi-row INSERTs (no statement
        # to parse and plan per 1,000 rows) and psycopg streams the rows.
        copy_rows(conn, table, rows)
        return
    for start in range(0, len(rows), WRITE_BATCH):
        conn.execute(insert(table), list(rows[start : start + WRITE_BATCH]))


def copy_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """``rows`` into ``table`` with PostgreSQL's COPY, inside ``conn``'s transaction."""
    names = list(rows[0])
    driver = conn.connection.driver_connection
    assert driver is not None
    columns = ", ".join(f'"{name}"' for name in names)
    statement = f'COPY "{table.name}" ({columns}) FROM STDIN'
    try:
        with driver.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row([row[name] for name in names])
    except conn.dialect.loaded_dbapi.IntegrityError as exc:
        # The driver's own error, raised past SQLAlchemy: callers catch
        # SQLAlchemy's, as for any other statement (a repeated recipient id).
        raise IntegrityError(statement, None, exc) from exc
