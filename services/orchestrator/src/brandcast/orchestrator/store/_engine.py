"""Opening the store's database: engine options per dialect and schema migrations.

SQLite runs in WAL mode with a busy timeout. Write transactions start with
``BEGIN IMMEDIATE`` so two writers queue on the lock instead of one failing when
it upgrades a read snapshot; read-only connections (``READ_ONLY`` execution
option) start a plain deferred transaction and never block writers.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Final

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, exc, text

#: Execution option marking a connection that only reads.
READ_ONLY: Final = "brandcast_read_only"
SQLITE_BUSY_TIMEOUT_MS: Final = 30_000
MIGRATIONS = Path(__file__).parent / "migrations"
#: Seconds a pooled connection may sit unused before its next checkout pings
#: the server first.
PING_IDLE_AFTER: Final = 1.0
#: pg_advisory_lock key held while migrating, so replicas starting together
#: do not race on the schema.
_MIGRATION_LOCK_KEY: Final = 0x62636D67


def open_engine(url: str) -> Engine:
    """An engine for ``url`` with Brandcast's per-dialect settings applied."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _configure_sqlite(engine)
        return engine
    engine = create_engine(url, pool_size=10, max_overflow=10)
    _ping_idle_connections(engine)
    return engine


def _ping_idle_connections(engine: Engine) -> None:
    """Ping a connection at checkout only when it sat idle in the pool.

    ``pool_pre_ping`` would cost a round trip on every checkout, several per
    delivery round, to catch servers that restarted; a connection checked in
    moments ago is that unlikely to be dead, and if it is, the operation fails
    once, SQLAlchemy invalidates the pool and the callers retry (dispatcher and
    collector rounds do; API calls answer UNAVAILABLE).
    """

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("checked_in", 0.0) < PING_IDLE_AFTER:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            # The pool discards this connection and checks out another.
            raise exc.DisconnectionError("connection found dead at checkout") from error


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below decide how a transaction starts.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection.get_execution_options().get(READ_ONLY):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (``alembic upgrade head``)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_KEY})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
