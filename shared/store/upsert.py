"""INSERT ... ON CONFLICT DO NOTHING on PostgreSQL and SQLite alike: how every idempotent write is made.

The rows travel as parameters of one cached statement (executemany, batched by SQLAlchemy's insertmanyvalues),
never baked into the SQL: building a new statement per call made compiling the SQL the router's and the
acknowledgement service's biggest CPU cost. RETURNING the primary key tells how many rows were new."""

from typing import Any

from sqlalchemy import inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from shared.store.models import Base


async def insert_ignore(session: AsyncSession, model: type[Base], rows: list[dict[str, Any]]) -> int:
    """Insert the rows that do not exist yet; returns how many were inserted."""
    if not rows:
        return 0
    dialect = session.bind.dialect.name if session.bind else "postgresql"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    key = inspect(model).primary_key[0]
    statement = insert(model).on_conflict_do_nothing().returning(key)
    if len(rows) == 1:
        return len((await session.execute(statement, rows[0])).all())
    return len((await session.execute(statement, rows)).all())
