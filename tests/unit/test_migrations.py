"""The Alembic migrations build exactly the schema the models describe (on SQLite, the embedded default)."""

import asyncio
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import shared.store.idempotency  # noqa: F401  (its table belongs to the schema too)
from shared.store.engine import make_engine
from shared.store.migrate import upgrade
from shared.store.models import Base


def test_migrations_match_the_models(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'schema.db'}"
    upgrade(url)

    async def differences() -> list[object]:
        engine = make_engine(url)
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), Base.metadata))
        await engine.dispose()
        return list(diff)

    assert asyncio.run(differences()) == []
