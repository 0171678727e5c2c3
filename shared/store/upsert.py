"""INSERT ... ON CONFLICT DO NOTHING on PostgreSQL and SQLite alike: how every idempotent write is made."""

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from shared.store.models import Base


def insert_ignore(session: AsyncSession, model: type[Base], rows: list[dict[str, Any]]) -> Any:
    dialect = session.bind.dialect.name if session.bind else "postgresql"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(model).values(rows).on_conflict_do_nothing()
