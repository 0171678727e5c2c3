"""Ops command: list dead-lettered notifications and send them again.

    python -m services.notifier.redrive list
    python -m services.notifier.redrive redrive --notification ntf_...   (one)
    python -m services.notifier.redrive redrive --agency pd-hartford     (one agency's)
    python -m services.notifier.redrive redrive --all
    python -m services.notifier.redrive enable-endpoint --agency pd-hartford   (after a 410 disabled it)

It reads the dead-letter topic from the start, keeps the letters whose notification is still dead-lettered
in the database, and re-publishes the original notification with a `redrive` header. The notifier skips
anything already delivered, so a redrive never duplicates a recorded delivery.
"""

import argparse
import asyncio
import os
import sys
from datetime import UTC, datetime

from shared.redrive import read_dead_letters, redrive, still_dead
from shared.settings import DatabaseSettings, KafkaSettings
from shared.store.engine import make_engine, make_session_factory
from shared.store.repository import Store


async def enable_endpoint(agency_id: str, by: str) -> int:
    engine = make_engine(DatabaseSettings().database_url)
    try:
        store = Store(make_session_factory(engine))
        if not await store.endpoint_disabled(agency_id):
            print(f"endpoint of {agency_id} is not disabled")
            return 0
        await store.set_endpoint_disabled(agency_id, False, reason=None, by=by, at=datetime.now(UTC))
    finally:
        await engine.dispose()
    print(f"endpoint of {agency_id} enabled; redrive its dead letters to deliver them")
    return 0


async def run(args: argparse.Namespace) -> int:
    if args.command == "enable-endpoint":
        return await enable_endpoint(args.agency, args.by)
    kafka = KafkaSettings()
    engine = make_engine(DatabaseSettings().database_url)
    try:
        dead = await still_dead(Store(make_session_factory(engine)), await read_dead_letters(kafka))
    finally:
        await engine.dispose()
    if args.command == "list":
        print(f"{len(dead)} dead-lettered notification(s)")
        for d in dead:
            n = d.notification
            print(
                f"{n.notification_id}  {n.recipient_kind.value:7} {n.agency_id:24} report {n.report_id}  "
                f"{d.letter.reason}  {d.letter.failed_at:%Y-%m-%d %H:%M:%S}Z"
            )
        return 0
    chosen = [
        d
        for d in dead
        if args.all or d.notification.notification_id == args.notification or d.notification.agency_id == args.agency
    ]
    if not chosen:
        print("nothing to redrive")
        return 1 if args.notification else 0
    count = await redrive(kafka, chosen)
    print(f"redriven {count} notification(s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list notifications that are dead-lettered now")
    again = sub.add_parser("redrive", help="send dead-lettered notifications again")
    which = again.add_mutually_exclusive_group(required=True)
    which.add_argument("--notification", help="one notification id")
    which.add_argument("--agency", help="every dead-lettered notification of one agency")
    which.add_argument("--all", action="store_true", help="every dead-lettered notification")
    enable = sub.add_parser("enable-endpoint", help="re-enable an endpoint disabled after 410 Gone")
    enable.add_argument("--agency", required=True)
    enable.add_argument("--by", default=os.environ.get("USER", "ops"), help="who re-enables it (audit)")
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
