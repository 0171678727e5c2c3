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
def _statement(dialect: str, model: type[Base], returning: str | None = None) -> Insert:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = table_of(model)
    column = table.c[returning] if returning else inspect(model).primary_key[0]
    return insert(table).on_conflict_do_nothing().returning(column)


async def insert_ignore(session: AsyncSession, model: type[Base], rows: list[dict[str, Any]]) -> int:
    """Insert the rows that do not exist yet; returns how many were inserted."""
    return len(await inserted_keys(session, model, rows))


async def inserted_keys(
    session: AsyncSession, model: type[Base], rows: list[dict[str, Any]], returning: str | None = None
) -> list[Any]:
    """Insert the rows that do not exist yet; returns the `returning` column (default: the primary key) of each
    row this call inserted, so a batch tells which of its rows were new."""
    if not rows:
        return []
    dialect = session.bind.dialect.name if session.bind else "postgresql"
    statement = _statement(dialect, model, returning)
    return list((await session.execute(statement, rows[0] if len(rows) == 1 else rows)).scalars())
