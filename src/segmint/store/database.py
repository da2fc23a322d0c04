"""Connection to the metadata database (SQLite by default, PostgreSQL in production) and
schema migrations through Alembic."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, func, select
from sqlalchemy.engine import make_url

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK_KEY = 0x5E6_317  # any constant shared by every Segmint process
_MIGRATION_LOCK = threading.Lock()


class Database:
    """An engine plus the transaction discipline Segmint needs: on SQLite every transaction
    is ``BEGIN IMMEDIATE`` (writers serialised, so compare-and-set is safe across processes);
    on PostgreSQL claims lock rows with ``FOR UPDATE SKIP LOCKED``."""

    def __init__(self, url: str) -> None:
        self.url = with_driver(url)
        self.is_sqlite = make_url(self.url).get_backend_name() == "sqlite"
        self.engine = _create_engine(self.url, self.is_sqlite)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def migrate(self) -> None:
        """Bring the schema to the newest revision (idempotent, safe to run concurrently:
        Alembic's module state is guarded by a lock, and on PostgreSQL an advisory lock
        serialises processes; SQLite's BEGIN IMMEDIATE already does)."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with _MIGRATION_LOCK, self.engine.begin() as conn:
            if not self.is_sqlite:
                conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def dispose(self) -> None:
        self.engine.dispose()


def with_driver(url: str) -> str:
    """``postgresql://…`` means psycopg 3 (the driver Segmint installs)."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return url


def _create_engine(url: str, is_sqlite: bool) -> Engine:
    if not is_sqlite:
        return create_engine(url, pool_pre_ping=True, future=True)
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_begin_immediate)
    return engine


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, decide where transactions begin.
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin_immediate(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")
