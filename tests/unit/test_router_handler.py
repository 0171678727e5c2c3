"""The router's handler without a broker: a recording publisher, the real stores on a throwaway SQLite file.

Table tests of its branches: new report, duplicate, conflicting duplicate, stale version, amendment, reports
linked by the same child and by a shared alleged-trafficker handle; and no personal data in any table.
"""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from sqlalchemy import MetaData, select, text

from devtools.runner.samples import sample_report
from services.router import handler as handler_module
from services.router.handler import ReportRouter
from shared.acklinks import AckLinkSettings, verify_token
from shared.consuming import PoisonMessage
from shared.events import CarelineReport, MessageType, Notification, ReportReceived
from shared.events.notification import notification_id_for
from shared.store.engine import make_engine, make_session_factory
from shared.store.migrate import upgrade
from shared.store.models import ReportRecord
from shared.store.report_history import ReportHistory
from shared.store.repository import Store
from tests.fakes import RecordingPublisher
from tests.unit.routing_support import DIRECTORY, POLICY

KEY = b"unit-test-link-key-0123456789abcdef"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Harness:
    def __init__(self, router: ReportRouter, publisher: RecordingPublisher, store: Store, url: str) -> None:
        self.router, self.publisher, self.store, self.url = router, publisher, store, url
        self.logs: list[dict[str, Any]] = []

    async def post(self, data: dict[str, Any]) -> list[Notification]:
        await self.router.route(ReportReceived.of(CarelineReport.model_validate(data), T0))
        return self.publisher.take()


@pytest.fixture
async def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Harness]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'router.db'}"
    await asyncio.to_thread(upgrade, url)  # alembic runs its own event loop
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    publisher, store = RecordingPublisher(), Store(sessions)
    router = ReportRouter(publisher, store, ReportHistory(sessions), DIRECTORY, POLICY, KEY)
    # keep the log lines for the personal-data scan; a logger cached by an earlier test's configure_logging
    # would write to a closed stream, so the handler gets a fresh one on a capturing configuration
    capture = structlog.testing.LogCapture()
    structlog.configure(
        processors=[capture], logger_factory=structlog.ReturnLoggerFactory(), cache_logger_on_first_use=False
    )
    monkeypatch.setattr(handler_module, "log", structlog.get_logger(handler_module.__name__))
    harness = Harness(router, publisher, store, url)
    harness.logs = capture.entries
    yield harness
    structlog.reset_defaults()
    await engine.dispose()


def report(report_id: str, town: str, *, at: datetime = T0, **changes: Any) -> dict[str, Any]:
    data = sample_report(report_id, town)
    data["received_at"] = at.isoformat()
    data["child"] |= {"first_name": "Avery", "last_name": "Testperson", "date_of_birth": "2011-04-05"}
    data["alleged_traffickers"] = [{"identifiers": [f"handle-of-{report_id}"]}]
    child = changes.pop("child", {})
    data |= changes
    data["child"] |= child
    return data


def by_agency(sent: list[Notification]) -> dict[str, Notification]:
    return {n.agency_id: n for n in sent}


async def test_new_report_reaches_each_recipient_once_with_its_allowed_fields(harness: Harness) -> None:
    sent = await harness.post(report("CL-H-0001", "Hartford"))
    assert {n.agency_id for n in sent} == {
        "hart-lead",
        "hart-region-4",
        "fbi-new-haven",
        "pd-hartford",
        "mdt-hartford-jd",
    }
    assert all(n.message_type is MessageType.REPORT and n.report_version == 1 for n in sent)
    assert all("reporter" not in n.payload and "narrative" not in n.payload for n in sent)
    assert "alleged_traffickers" not in by_agency(sent)["mdt-hartford-jd"].payload  # MDT allow-list
    assert all("linked_reports" not in n.payload for n in sent)  # nothing to link yet
    [decision] = harness.publisher.decisions
    assert {r.notification_id for r in decision.recipients} == {n.notification_id for n in sent}


async def test_the_same_report_again_is_a_counted_duplicate(harness: Harness) -> None:
    await harness.post(report("CL-H-0002", "Hartford"))
    assert await harness.post(report("CL-H-0002", "Hartford")) == []
    existing = await harness.store.report_status("CL-H-0002")
    assert existing is not None and existing[0].duplicates_received == 1


async def test_same_version_with_other_content_is_a_conflicting_duplicate(harness: Harness) -> None:
    await harness.post(report("CL-H-0003", "Hartford"))
    with pytest.raises(PoisonMessage, match="conflicting_duplicate"):
        await harness.post(report("CL-H-0003", "Hartford", trafficking_indicators="changed without a new version"))


async def test_amendment_updates_earlier_recipients_and_first_notifies_the_new_police(harness: Harness) -> None:
    first = by_agency(await harness.post(report("CL-H-0004", "Bolton")))
    amended = report(
        "CL-H-0004",
        "Bolton",
        at=T0 + timedelta(hours=3),
        report_version=2,
        occurrence_towns=["Groton"],
        trafficking_indicators="corrected indicators",
    )
    sent = await harness.post(amended)
    updates = [n for n in sent if n.message_type is MessageType.UPDATE]
    news = [n for n in sent if n.message_type is MessageType.REPORT]
    assert {n.agency_id for n in updates} == set(first)  # each earlier recipient once
    for n in updates:
        assert n.payload["changed_fields"] == [
            f for f in ("occurrence_towns", "trafficking_indicators") if f in n.payload
        ]
        assert set(n.payload) <= {"careline_report_id", "changed_fields", "occurrence_towns", "trafficking_indicators"}
        assert n.deadline_at == first[n.agency_id].deadline_at  # the original clock
        claim = verify_token(AckLinkSettings().secret.get_secret_value(), n.ack_url.rsplit("/", 1)[1], T0)  # type: ignore[union-attr]
        assert claim.notification_id == first[n.agency_id].notification_id  # acks follow the original
    assert {n.agency_id for n in news} == {"pd-groton-town", "pd-groton-city", "pd-groton-long-point"}
    assert all(n.deadline_at == T0 + timedelta(hours=12) for n in news)  # original received_at, state clock
    assert {r.agency_id for r in harness.publisher.decisions[-1].recipients} == {n.agency_id for n in news}
    assert await harness.post(amended) == []  # the amendment again: a duplicate
    assert await harness.post(report("CL-H-0004", "Bolton")) == []  # version 1 again, after 2: stale


async def test_an_amendment_changing_only_what_an_agency_may_not_see_sends_it_nothing(harness: Harness) -> None:
    await harness.post(report("CL-H-0005", "Hartford"))
    sent = await harness.post(
        report("CL-H-0005", "Hartford", report_version=2, alleged_traffickers=[{"identifiers": ["other"]}])
    )
    assert "mdt-hartford-jd" not in {n.agency_id for n in sent}  # MDTs do not get alleged_traffickers
    assert {n.agency_id for n in sent} == {"hart-lead", "hart-region-4", "fbi-new-haven", "pd-hartford"}


@pytest.mark.parametrize(
    ("second_child", "second_traffickers", "matched_on"),
    [
        ({"first_name": "  AVERY ", "last_name": "Test-person"}, [{"identifiers": ["nobody-else"]}], "child"),
        (
            {"first_name": "Jordan", "date_of_birth": "2010-01-01"},
            [{"identifiers": ["@Handle-Of-CL-L-0001"]}],
            "suspect",
        ),
    ],
)
async def test_linked_reports_reach_every_recipient_with_each_others_ids(
    harness: Harness, second_child: dict[str, str], second_traffickers: list[dict[str, Any]], matched_on: str
) -> None:
    first = by_agency(await harness.post(report("CL-L-0001", "Hartford")))
    second = report(
        "CL-L-0002", "New Haven", at=T0 + timedelta(hours=1), child=second_child, alleged_traffickers=second_traffickers
    )
    sent = await harness.post(second)
    b_first = [n for n in sent if n.report_id == "CL-L-0002"]
    notices = [n for n in sent if n.message_type is MessageType.LINK]
    for n in b_first:  # every recipient of the second report sees the first (where its kind may)
        [link] = n.payload["linked_reports"]
        assert link["report_id"] == "CL-L-0001" and link["matched_on"] == [matched_on]
        assert set(link["agencies"]) == set(first)
        assert datetime.fromisoformat(link["received_at"]) == T0
    both = {n.agency_id for n in b_first} & set(first)
    assert both == {"hart-lead", "fbi-new-haven"}  # told once, by the second report itself
    assert {n.agency_id for n in notices} == set(first) - both  # each other holder: one link notice
    for n in notices:
        assert n.report_id == "CL-L-0001" and n.payload["linked_reports"][0]["report_id"] == "CL-L-0002"
        assert n.ack_url and n.notification_id != first[n.agency_id].notification_id
    assert n.notification_id == notification_id_for("CL-L-0001", n.recipient_kind, n.agency_id, "link:CL-L-0002")
    again = await harness.post(second)
    assert again == []  # redelivered: a duplicate, nobody is told twice


async def test_a_third_report_tells_each_agency_only_of_links_it_does_not_know(harness: Harness) -> None:
    await harness.post(report("CL-T-0001", "Hartford"))
    await harness.post(report("CL-T-0002", "Hartford", at=T0 + timedelta(hours=1)))
    sent = await harness.post(report("CL-T-0003", "Hartford", at=T0 + timedelta(hours=2)))
    assert all(n.message_type is MessageType.REPORT for n in sent)  # all holders are recipients: no notices
    for n in sent:
        assert [x["report_id"] for x in n.payload["linked_reports"]] == ["CL-T-0001", "CL-T-0002"]


async def test_no_personal_data_in_any_table(harness: Harness) -> None:
    data = report("CL-P-0001", "Hartford", child={"first_name": "Zelda", "last_name": "Quixotic"})
    data["alleged_traffickers"] = [{"name": "Mallory Suspect", "identifiers": ["@secret_handle_42"]}]
    await harness.post(data)
    await harness.post(data | {"report_version": 2, "trafficking_indicators": "Zelda was seen"})
    engine = make_engine(harness.url)
    async with engine.connect() as conn:
        tables = await conn.run_sync(lambda sync: (m := MetaData(), m.reflect(sync), m)[2].sorted_tables)
        dump = ""
        for table in tables:
            rows = (await conn.execute(select(table))).all()
            dump += "\n".join(" ".join(map(str, r)) for r in rows)
        version = (await conn.execute(text("select count(*) from report_match_keys"))).scalar()
    await engine.dispose()
    assert version == 2  # the child and the handle, as keyed digests
    logged = repr(harness.logs)
    assert "report_routed" in logged and "report_amended" in logged
    for secret in (
        "Zelda",
        "Quixotic",
        "Mallory",
        "secret_handle_42",
        "2011-04-05",
        "Synthetic narrative",
        "Reporter-",
    ):
        assert secret.lower() not in dump.lower(), secret
        assert secret.lower() not in logged.lower(), secret
    assert ReportRecord.__tablename__ in {t.name for t in tables}
