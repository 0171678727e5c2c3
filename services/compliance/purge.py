"""Delete what is older than the retention period (AUDIT_RETENTION_DAYS, at least a year) and nothing else.

uv run python -m services.compliance.purge [--dry-run]
"""

import argparse
import asyncio
from datetime import UTC, datetime, timedelta

from services.compliance.settings import RetentionSettings
from shared.settings import DatabaseSettings
from shared.store.engine import make_engine, make_session_factory
from shared.store.reporting import purge_reports_received_before


def cutoff(settings: RetentionSettings, now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)) - timedelta(days=settings.retention_days)


async def _main(dry_run: bool) -> tuple[datetime, int]:
    limit = cutoff(RetentionSettings())
    engine = make_engine(DatabaseSettings().database_url)
    try:
        return limit, await purge_reports_received_before(make_session_factory(engine), limit, dry_run)
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")
    args = parser.parse_args(argv)
    limit, count = asyncio.run(_main(args.dry_run))
    verb = "would delete" if args.dry_run else "deleted"
    print(f"{verb} {count} report(s) received before {limit.isoformat()} with their records")


if __name__ == "__main__":
    main()
