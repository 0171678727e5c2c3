"""Export the timelines of every report received in a period as CSV (one row per step).

uv run python -m services.compliance.export --from 2026-01-01 --to 2027-01-01 [--out timelines.csv]
"""

import argparse
import asyncio
import csv
import io
import sys
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.compliance.period import period_arguments
from shared.settings import DatabaseSettings
from shared.store.engine import make_engine, make_session_factory
from shared.store.timeline import TimelineStep, report_ids_between, timeline

COLUMNS = ["report_id", "at", "event", "actor", "notification_id", "agency_id", "recipient_kind", "detail"]


def to_csv(steps: list[TimelineStep]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for step in steps:
        writer.writerow(step.as_json())
    return out.getvalue()


async def timelines_between(
    sessions: async_sessionmaker[AsyncSession], start: datetime, end: datetime
) -> list[TimelineStep]:
    steps: list[TimelineStep] = []
    for report_id in await report_ids_between(sessions, start, end):
        steps += await timeline(sessions, report_id) or []
    return steps


async def _main(args: argparse.Namespace) -> str:
    engine = make_engine(DatabaseSettings().database_url)
    try:
        return to_csv(await timelines_between(make_session_factory(engine), args.start, args.end))
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    period_arguments(parser)
    parser.add_argument("--out", help="file to write; standard output when omitted")
    args = parser.parse_args(argv)
    text = asyncio.run(_main(args))
    if args.out:
        with open(args.out, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
