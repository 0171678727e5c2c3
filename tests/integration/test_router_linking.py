"""Deconfliction and amendments on real Kafka and PostgreSQL, through every service.

Two reports about the same child posted an hour apart (received_at), and two sharing an alleged trafficker's
handle, reach every recipient with each other's ids; an amendment reaches each earlier recipient once as an
update and a newly implied police department once as a first notification; no personal data of these
reports is in any table of the database or in any service's log.
"""

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy import MetaData, select
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.infra.kafka_runtime import KafkaHandle
from devtools.runner.pipeline import Pipeline
from devtools.runner.samples import sample_report
from shared.envelope import Keyring
from shared.events import CarelineReport
from shared.topics import NOTIFICATION_TOPICS
from tests.helpers import notification_json, pipeline_keyring
from tests.unit.routing_support import POLICY, routed

pytestmark = pytest.mark.integration
TOPICS = sorted(set(NOTIFICATION_TOPICS.values()))
SEEN: list[dict[str, Any]] = []  # every report posted here, for the personal-data scan


def tagged(prefix: str) -> str:
    return f"CL-{prefix}-{uuid.uuid4().hex[:8].upper()}"


def report(report_id: str, town: str, at: datetime, child: dict[str, str], handle: str, **more: Any) -> dict[str, Any]:
    data = sample_report(report_id, town)
    data["received_at"] = at.isoformat()
    data["child"] |= child
    data["alleged_traffickers"] = [{"name": f"Suspect {handle}", "identifiers": [handle]}]
    data |= more
    SEEN.append(data)
    return data


async def post(pipeline: Pipeline, data: dict[str, Any]) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(f"{pipeline.url('intake')}/v1/reports", json=data)
    assert response.status_code == 202, response.text


def recipients(data: dict[str, Any]) -> set[str]:
    return {r.agency.agency_id for r in routed(CarelineReport.model_validate(data)).recipients}


def allows_links(kind: str) -> bool:
    return any(k.value == kind and "linked_reports" in p.fields for k, p in POLICY.recipient_kinds.items())


async def messages(
    kafka: KafkaHandle, report_id: str, want: int, settle: float = 3.0, *, keyring: Keyring
) -> list[dict[str, Any]]:
    """This report's notifications from the start: at least `want`, then whatever arrives within `settle` s."""
    consumer = AIOKafkaConsumer(
        *TOPICS,
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=f"test-link-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:
        deadline, quiet_until = time.monotonic() + 60, None
        while time.monotonic() < deadline and (quiet_until is None or time.monotonic() < quiet_until):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    value = notification_json(record.value, keyring)  # sealed notifications are opened
                    if value.get("report_id") == report_id:
                        found.append(value)
            if quiet_until is None and len(found) >= want:
                quiet_until = time.monotonic() + settle
    finally:
        await consumer.stop()
    return found


def acknowledges(message: dict[str, Any]) -> str:
    """The notification id an acknowledgement link is signed for (token: id.agency.expiry.mac)."""
    return str(message["ack_url"]).rsplit("/", 1)[1].split(".")[0]


async def check_linked(pipeline: Pipeline, kafka: KafkaHandle, first: dict[str, Any], second: dict[str, Any]) -> None:
    a, b = first["careline_report_id"], second["careline_report_id"]
    holders_a, holders_b = recipients(first), recipients(second)
    await post(pipeline, first)
    assert len(await messages(kafka, a, len(holders_a), keyring=pipeline_keyring(pipeline))) == len(holders_a)
    await post(pipeline, second)
    only_a = holders_a - holders_b
    got_b = await messages(kafka, b, len(holders_b), keyring=pipeline_keyring(pipeline))
    got_a = await messages(kafka, a, len(holders_a) + len(only_a), keyring=pipeline_keyring(pipeline))
    assert len(got_b) == len(holders_b) and len(got_a) == len(holders_a) + len(only_a)  # nobody told twice
    assert {m["agency_id"] for m in got_b if m["message_type"] == "report"} == holders_b
    knows: dict[str, set[str]] = {}
    for m in got_a + got_b:
        ids = {m["report_id"], *(x["report_id"] for x in m["payload"].get("linked_reports", []))}
        knows.setdefault(m["agency_id"], set()).update(ids)
        if m["report_id"] == b and allows_links(m["recipient_kind"]):
            [link] = m["payload"]["linked_reports"]
            assert link["report_id"] == a and set(link["agencies"]) == holders_a
    link_notices = [m for m in got_a if m["message_type"] == "link"]
    assert {m["agency_id"] for m in link_notices} == {
        agency
        for agency in only_a
        if allows_links(next(m["recipient_kind"] for m in got_a if m["agency_id"] == agency))
    }
    for agency in holders_a | holders_b:
        assert knows[agency] == {a, b}, agency  # every recipient holds each other's id


async def test_two_reports_about_the_same_child_an_hour_apart_are_linked(
    pipeline: Pipeline, kafka: KafkaHandle
) -> None:
    t0 = datetime.now(UTC) - timedelta(hours=2)
    child = {"first_name": f"Kit{uuid.uuid4().hex[:6]}", "last_name": "Linktest", "date_of_birth": "2011-03-04"}
    first = report(tagged("LNKC"), "Hartford", t0, child, f"h{uuid.uuid4().hex[:8]}")
    renamed = child | {"first_name": child["first_name"].upper() + " ", "last_name": "LINK-TEST"}  # normalised
    second = report(tagged("LNKC"), "New Haven", t0 + timedelta(hours=1), renamed, f"h{uuid.uuid4().hex[:8]}")
    await check_linked(pipeline, kafka, first, second)


async def test_two_reports_sharing_a_suspect_handle_are_linked(pipeline: Pipeline, kafka: KafkaHandle) -> None:
    t0 = datetime.now(UTC) - timedelta(hours=2)
    handle = f"trap{uuid.uuid4().hex[:8]}"
    one = {"first_name": f"Ana{uuid.uuid4().hex[:6]}", "last_name": "Handletest", "date_of_birth": "2010-05-06"}
    two = {"first_name": f"Bo{uuid.uuid4().hex[:6]}", "last_name": "Handletest", "date_of_birth": "2012-07-08"}
    first = report(tagged("LNKS"), "Norwich", t0, one, f"@{handle}")
    second = report(tagged("LNKS"), "Bridgeport", t0 + timedelta(minutes=30), two, handle.upper())
    await check_linked(pipeline, kafka, first, second)


async def test_an_amendment_updates_each_earlier_recipient_once_and_notifies_the_new_police(
    pipeline: Pipeline, kafka: KafkaHandle
) -> None:
    t0 = datetime.now(UTC) - timedelta(hours=1)
    rid = tagged("AMD")
    child = {"first_name": f"Amy{uuid.uuid4().hex[:6]}", "last_name": "Amendtest", "date_of_birth": "2011-09-10"}
    original = report(rid, "Bolton", t0, child, f"h{uuid.uuid4().hex[:8]}")
    holders = recipients(original)
    await post(pipeline, original)
    first = {m["agency_id"]: m for m in await messages(kafka, rid, len(holders), keyring=pipeline_keyring(pipeline))}
    assert set(first) == holders
    amended = original | {
        "report_version": 2,
        "received_at": (t0 + timedelta(minutes=40)).isoformat(),
        "occurrence_towns": ["Groton"],
        "trafficking_indicators": "corrected indicators",
    }
    SEEN.append(amended)
    new_police = {"pd-groton-town", "pd-groton-city", "pd-groton-long-point"}
    await post(pipeline, amended)
    await post(pipeline, amended)  # a re-post changes nothing
    got = await messages(kafka, rid, len(holders) * 2 + len(new_police), keyring=pipeline_keyring(pipeline))
    updates = [m for m in got if m["message_type"] == "update"]
    firsts = [m for m in got if m["message_type"] == "report"]
    assert sorted(m["agency_id"] for m in updates) == sorted(holders)  # each earlier recipient exactly once
    assert sorted(m["agency_id"] for m in firsts) == sorted(holders | new_police)  # each first exactly once
    for m in updates:
        assert m["report_version"] == 2 and m["deadline_at"] == first[m["agency_id"]]["deadline_at"]
        assert set(m["payload"]) - {"careline_report_id", "changed_fields"} == set(m["payload"]["changed_fields"])
        assert set(m["payload"]["changed_fields"]) <= {"occurrence_towns", "trafficking_indicators"}
        assert acknowledges(m) == first[m["agency_id"]]["notification_id"]  # acknowledgement follows the original
    for m in (m for m in firsts if m["agency_id"] in new_police):
        assert m["report_version"] == 2
        assert datetime.fromisoformat(m["deadline_at"]) == t0 + timedelta(hours=12)  # the original clock


def read_logs(folder: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in folder.glob("*"))


def personal_values(data: dict[str, Any]) -> set[str]:
    child, trafficker = data["child"], data["alleged_traffickers"][0]
    values = {child["first_name"].strip(), child["last_name"], child["current_location"], data["narrative"]}
    values |= {data["reporter"]["name"], data["reporter"]["phone"], trafficker["name"], *trafficker["identifiers"]}
    return {v.lstrip("@") for v in values if v and len(v) > 4}


async def test_no_personal_data_in_the_database_or_the_logs(pipeline: Pipeline, db: AsyncEngine) -> None:
    assert SEEN, "run with the tests above"
    async with db.connect() as conn:
        tables = await conn.run_sync(lambda sync: (m := MetaData(), m.reflect(sync), m)[2].sorted_tables)
        dump = []
        for table in tables:
            dump += [" ".join(map(str, row)) for row in (await conn.execute(select(table))).all()]
    database = "\n".join(dump).casefold()
    logs = (await asyncio.to_thread(read_logs, Path(pipeline.config.work_dir, "logs"))).casefold()
    assert any(d["careline_report_id"].casefold() in database for d in SEEN)  # the scan sees these reports
    for data in SEEN:
        for value in personal_values(data):
            assert value.casefold() not in database, value
            assert value.casefold() not in logs, value
