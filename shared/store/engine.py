"""Async engine and session factory; SQLite gets WAL and a busy timeout so several processes can share it."""

import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from shared.settings import DatabaseSettings


def make_engine(url: str | None = None, *, pre_ping: bool = False) -> AsyncEngine:
    """`pre_ping` is for callers that cannot retry (a test's own engine across a database restart)."""
    settings = DatabaseSettings()
    url = url or settings.database_url
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    # No pre-ping: it costs a round trip per transaction. A connection the server dropped (a restart) fails its
    # one statement with a disconnect error; SQLAlchemy then invalidates the whole pool, and the caller's retry
    # (consumers: transient, with backoff; HTTP: 503) runs on a fresh connection.
    return create_async_engine(
        url,
        pool_size=settings.database_pool_size,
        max_overflow=0,
        pool_timeout=10,
        pool_recycle=1800,
        pool_pre_ping=pre_ping,
    )


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


_AUTOCOMMIT: "weakref.WeakKeyDictionary[async_sessionmaker[AsyncSession], async_sessionmaker[AsyncSession]]" = (
    weakref.WeakKeyDictionary()
)


def autocommit_sessions(sessions: async_sessionmaker[AsyncSession]) -> async_sessionmaker[AsyncSession]:
    """Sessions in which each statement commits by itself: for a lookup that needs no transaction (each statement
    reads committed data anyway, as under READ COMMITTED), or a write made of statements that each stand alone.
    PostgreSQL then gets no BEGIN and COMMIT (or ROLLBACK) round trips around the statement."""
    found = _AUTOCOMMIT.get(sessions)
    if found is None:
        bind = sessions.kw["bind"]
        found = async_sessionmaker(bind.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)
        _AUTOCOMMIT[sessions] = found
    return found
