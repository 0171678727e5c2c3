"""INSERT ... ON CONFLICT DO NOTHING on PostgreSQL and SQLite alike: how every idempotent write is made.

One Core statement per (dialect, table), built once and kept: the rows travel as its parameters (executemany,
batched by SQLAlchemy's insertmanyvalues), never baked into the SQL. Building the statement per call, or
going through the ORM's bulk-insert path, made this the router's and the acknowledgement service's biggest
CPU cost. RETURNING the primary key tells how many rows were new."""

import functools
from typing import Any

from sqlalchemy import Insert, inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from shared.store.models import Base, table_of


@functools.cache
def _statement(dialect: str, model: type[Base]) -> Insert:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table_of(model)).on_conflict_do_nothing().returning(inspect(model).primary_key[0])


async def insert_ignore(session: AsyncSession, model: type[Base], rows: list[dict[str, Any]]) -> int:
    """Insert the rows that do not exist yet; returns how many were inserted."""
    if not rows:
        return 0
    dialect = session.bind.dialect.name if session.bind else "postgresql"
    statement = _statement(dialect, model)
    return len((await session.execute(statement, rows[0] if len(rows) == 1 else rows)).all())
