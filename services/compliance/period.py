"""Command-line periods: --from and --to as ISO dates or datetimes (UTC when no zone is given)."""

import argparse
from datetime import UTC, datetime


def moment(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def period_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="start", type=moment, required=True, help="inclusive, e.g. 2026-01-01")
    parser.add_argument("--to", dest="end", type=moment, required=True, help="exclusive, e.g. 2027-01-01")
