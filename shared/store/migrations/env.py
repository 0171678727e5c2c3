"""Alembic environment: runs migrations on the async engine the services use."""

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from shared.store import idempotency as _idempotency  # noqa: F401  (its table joins Base.metadata)
from shared.store import report_history as _report_history  # noqa: F401
from shared.store.engine import make_engine
from shared.store.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = make_engine(context.config.get_main_option("sqlalchemy.url"))
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=context.config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
