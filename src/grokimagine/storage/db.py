"""The database handle: SQLite (embedded default) or PostgreSQL, behind one async interface."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import (
    CursorResult,
    Executable,
    Row,
    Select,
    create_engine,
    event,
    literal,
    select,
)
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import PoolProxiedConnection

from grokimagine.storage.lookups import CompiledLookup


def driver_url(url: str) -> URL:
    """The URL with the driver we run it on: a plain ``postgresql://`` URL works."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    if backend == "sqlite":
        return parsed.set(drivername="sqlite")
    raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")


def ensure_sqlite_dir(url: URL) -> None:
    """Create the folder of a SQLite database file."""
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


# How long one SQLite statement may wait for a lock while it holds the event loop. Only another
# process's write makes a statement wait at all; a writer then waits in asyncio instead.
SQLITE_BUSY_TIMEOUT_MS = 20
SQLITE_WRITE_WAIT_SECONDS = 10.0
_FIRST_BACKOFF = 0.002
_LONGEST_BACKOFF = 0.1


class DatabaseBusyError(Exception):
    """Another process held SQLite's write lock for longer than a write may wait."""


def _is_busy(exc: OperationalError) -> bool:
    code = getattr(exc.orig, "sqlite_errorcode", None)
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in str(exc.orig)


class DbConnection(Protocol):
    """What domain code may do with a connection: run statements."""

    async def execute(
        self, statement: Executable, params: dict[str, Any] | None = None
    ) -> CursorResult[Any]:
        """Run ``statement``; the result is fully buffered."""
        ...


class _InlineConnection:
    """A blocking SQLite connection behind the async ``execute`` that domain code awaits."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    async def execute(
        self, statement: Executable, params: dict[str, Any] | None = None
    ) -> CursorResult[Any]:
        return self._conn.execute(statement, params)


class Database:
    """Connections for reading and for writing.

    PostgreSQL runs on psycopg's async driver; writers run concurrently and correctness rests
    on conditional updates and row locks.

    SQLite runs inline on the event loop's thread. A statement on a local SQLite file takes
    tens of microseconds, less than a hop to a driver thread costs, and in WAL mode a read never
    waits for a writer: that is what lets one process answer thousands of status polls a
    second. Writers take an asyncio lock (a second writer waits without blocking the loop) and
    ``BEGIN IMMEDIATE``, so transactions queue instead of failing to upgrade their locks; only
    another process's write (the CLI granting credits) can make a writer wait on the file lock.
    That wait never holds the loop: statements give up on a lock after a few milliseconds, and
    ``BEGIN IMMEDIATE`` is retried with backoff in asyncio for up to ``write_wait_seconds``,
    then :class:`DatabaseBusyError`.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        write_wait_seconds: float = SQLITE_WRITE_WAIT_SECONDS,
    ) -> None:
        self.url = driver_url(url)
        self.write_wait_seconds = write_wait_seconds
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        ensure_sqlite_dir(self.url)
        self._write_lock = asyncio.Lock()
        self._sqlite: Engine | None = None
        self._reader: Connection | None = None
        self._raw_reader: PoolProxiedConnection | None = None
        self._lookups: dict[Select[Any], CompiledLookup] = {}
        self._postgres: AsyncEngine | None = None
        if self.is_sqlite:
            self._sqlite = create_engine(self.url)
            _install_sqlite_hooks(self._sqlite)
        else:
            self._postgres = create_async_engine(
                self.url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
            )

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.url.get_backend_name()

    @property
    def postgres_engine(self) -> AsyncEngine:
        """The async engine (PostgreSQL only), for what needs the driver itself (LISTEN)."""
        if self._postgres is None:
            raise RuntimeError("not a PostgreSQL database")
        return self._postgres

    async def fetch_one(
        self, statement: Executable, params: dict[str, Any] | None = None
    ) -> Row[Any] | None:
        """The first row of a read-only statement, or ``None``."""
        if self._sqlite is not None:
            # One standing connection serves these single-statement reads: they run to the end
            # without yielding, so they never overlap, and they skip the pool's bookkeeping.
            if self._reader is None:
                self._reader = self._sqlite.connect()
            return self._reader.execute(statement, params).first()
        async with self.read() as conn:
            return (await conn.execute(statement, params)).first()

    async def ping(self) -> bool:
        """Whether the database answers a trivial query (raises if it cannot be reached)."""
        return (await self.fetch_one(select(literal(1)))) is not None

    async def lookup(
        self, statement: Select[Any], params: dict[str, Any]
    ) -> Mapping[str, Any] | None:
        """The first row of a SELECT built once with bind parameters, as a mapping, or ``None``.

        For the hottest reads (token checks, status polls). On SQLite it runs on the raw
        driver (see :mod:`grokimagine.storage.lookups`); on PostgreSQL it is :meth:`fetch_one`.
        """
        if self._sqlite is None:
            row = await self.fetch_one(statement, params)
            return None if row is None else row._mapping
        lookup = self._lookups.get(statement)
        if lookup is None:
            lookup = self._lookups[statement] = CompiledLookup(statement, self._sqlite.dialect)
        if self._raw_reader is None:
            self._raw_reader = self._sqlite.raw_connection()
        return lookup.run(self._raw_reader.driver_connection, params)

    async def fetch_all(
        self, statement: Executable, params: dict[str, Any] | None = None
    ) -> Sequence[Row[Any]]:
        """Every row of a read-only statement."""
        async with self.read() as conn:
            return (await conn.execute(statement, params)).all()

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[DbConnection]:
        """A connection for reads (on SQLite, each statement sees the latest commit)."""
        if self._sqlite is not None:
            with self._sqlite.connect() as conn:
                yield _InlineConnection(conn)
            return
        async with self.postgres_engine.connect() as conn:
            yield conn

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[DbConnection]:
        """A connection inside a write transaction, committed when the block ends cleanly."""
        if self._sqlite is None:
            async with self.postgres_engine.begin() as conn:
                yield conn
            return
        deadline = asyncio.get_running_loop().time() + self.write_wait_seconds
        if self._write_lock.locked():
            # Only a queued writer pays for a timer.
            try:
                async with asyncio.timeout_at(deadline):
                    await self._write_lock.acquire()
            except TimeoutError:
                raise DatabaseBusyError() from None
        else:
            await self._write_lock.acquire()
        try:
            assert self._sqlite is not None
            with self._sqlite.connect() as conn:
                await _begin_immediate(conn, deadline)
                try:
                    yield _InlineConnection(conn)
                except BaseException:
                    conn.exec_driver_sql("ROLLBACK")
                    raise
                conn.exec_driver_sql("COMMIT")
        finally:
            self._write_lock.release()

    async def dispose(self) -> None:
        """Close every pooled connection."""
        if self._postgres is not None:
            await self._postgres.dispose()
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        if self._raw_reader is not None:
            self._raw_reader.close()
            self._raw_reader = None
        if self._sqlite is not None:
            self._sqlite.dispose()


async def _begin_immediate(conn: Connection, deadline: float) -> None:
    """Take SQLite's write lock, waiting in asyncio (not on the loop) while another process
    holds it; :class:`DatabaseBusyError` once ``deadline`` (loop time) passes."""
    loop = asyncio.get_running_loop()
    delay = _FIRST_BACKOFF
    while True:
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except OperationalError as exc:
            left = deadline - loop.time()
            if not _is_busy(exc):
                raise
            if left <= 0:
                raise DatabaseBusyError() from exc
            await asyncio.sleep(min(delay, left))
            delay = min(delay * 2, _LONGEST_BACKOFF)


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver: reads need no BEGIN, and writes say BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a crash of the process; only power loss can drop the
        # last commits. That trade is what makes hundreds of submissions a second possible.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
