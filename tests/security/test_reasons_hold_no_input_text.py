"""Routing reasons are codes plus directory names, never input text: hostile free text in every field of a
report that could reach a reason (the towns above all: an unknown town is where the Careline's text once
landed in the reason) appears in no notification's reason, no routing decision and no database row.

The router's real handler, policy and directory, on a throwaway SQLite file, publishing to a recorder; a first
report, an amendment that changes the hostile fields, and a second report linked to the first.

Where a reason is built (grep "reason" in services/router, shared/policy, shared/directory):
- the policy's own `reason` text per rule (shared/policy/model.py: written by policy authors, not input);
- `Resolved.detail` (services/router/resolve.py): the role, the directory's town name, judicial district, and the
  fallback's code; for an unknown town only the code (`unknown_town`, ...), never the submitted name;
- `full_reason` = policy reason + detail (services/router/decision.py), and "the policy named no recipient";
- an update: "corrected report vN: <changed field paths>" (field names of the schema, services/router/handler.py);
- a link notice: "linked report(s) <report ids>" (ids match REPORT_ID_PATTERN; services/router/outputs.py);
- the directory's inferred-row reasons (shared/directory/directory.py): from the data files only.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, select

from devtools.runner.samples import sample_report
from services.router.handler import ReportRouter
from shared.events import CarelineReport, ReportReceived
from shared.store.engine import make_engine, make_session_factory
from shared.store.migrate import upgrade
from shared.store.report_history import ReportHistory
from shared.store.repository import Store
from tests.fakes import RecordingPublisher
from tests.security.probe import tried
from tests.unit.routing_support import DIRECTORY, POLICY

KEY = b"security-test-link-key-0123456789abcdef"
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
HOSTILE = "Jane Doe's aunt at 12 Oak St"  # what once showed up in the timeline


def hostile(tag: str, limit: int = 80) -> str:
    return f"{tag} {HOSTILE}"[:limit]


def _hostile_report(report_id: str, round_: str) -> dict[str, Any]:
    """Every free-text field of the schema hostile; towns: unknown ones, one that names a town in a sentence."""
    data = sample_report(report_id, "Hartford", occurrence_towns=["New Haven"])
    data["received_at"] = T0.isoformat()
    data["residence_town"] = hostile(f"RESIDENCE{round_}")  # not a Connecticut town: every fallback fires
    data["occurrence_towns"] = [hostile(f"OCCURRENCE{round_}"), f"Hartford, {HOSTILE}"[:80], "New Haven"]
    data["child"].update(
        first_name=hostile(f"FIRST{round_}", 100),
        last_name=hostile(f"LAST{round_}", 100),
        gender=hostile(f"GENDER{round_}", 40),
        current_location=hostile(f"LOCATION{round_}", 300),
        safety_status=hostile(f"SAFETY{round_}", 300),
    )
    data["alleged_traffickers"] = [
        {
            "name": hostile(f"SUSPECT{round_}", 200),
            "identifiers": [hostile(f"HANDLE{round_}", 200), "@shared_handle_for_linking"],
            "relationship_to_child": hostile(f"RELATION{round_}", 100),
        }
    ]
    data["online_platforms"] = [hostile(f"PLATFORM{round_}", 200)]
    data["trafficking_indicators"] = hostile(f"INDICATORS{round_}", 4000)
    data["narrative"] = hostile(f"NARRATIVE{round_}", 20000)
    data["reporter"] = {
        "name": hostile(f"REPORTER{round_}", 200),
        "role": hostile(f"ROLE{round_}", 100),
        "phone": hostile(f"PHONE{round_}", 40),
    }
    return data


@pytest.fixture
async def routed(tmp_path: Path) -> AsyncIterator[tuple[RecordingPublisher, str]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'router.db'}"
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    recorder = RecordingPublisher()
    router = ReportRouter(recorder, Store(sessions), ReportHistory(sessions), DIRECTORY, POLICY, KEY)
    first = _hostile_report("CL-HOSTILE-0001", "A")
    amended = _hostile_report("CL-HOSTILE-0001", "B") | {"report_version": 2}
    linked = _hostile_report("CL-HOSTILE-0002", "C")
    linked["received_at"] = (T0 + timedelta(hours=1)).isoformat()
    for data in (first, amended, linked):
        await router.route(ReportReceived.of(CarelineReport.model_validate(data), T0 + timedelta(hours=1)))
    yield recorder, url
    await engine.dispose()


async def _every_row(url: str) -> str:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: (m := MetaData(), m.reflect(sync), m)[2].sorted_tables)
            dump = []
            for table in tables:
                dump += [f"{table.name}: {' | '.join(map(str, row))}" for row in (await conn.execute(select(table)))]
            return "\n".join(dump)
    finally:
        await engine.dispose()


def _found(text: str) -> list[str]:
    return [piece for piece in ("Jane Doe", "Oak St", "aunt") if piece in text]


async def test_hostile_text_in_every_field_reaches_no_reason(routed: tuple[RecordingPublisher, str]) -> None:
    recorder, url = routed
    kinds = {n.message_type.value for n in recorder.notifications}
    reasons = sorted({n.reason for n in recorder.notifications})
    tried(f"{len(recorder.notifications)} notifications ({', '.join(sorted(kinds))}): their reasons", reasons)
    assert {"report", "update"} <= kinds  # first notifications and the amendment's updates were built
    assert any("fallback" in r for r in reasons)  # the unknown towns did take the fallback path
    leaking = [r for r in reasons if _found(r)]
    assert not leaking, leaking

    decisions = [json.dumps(d.model_dump(mode="json")) for d in recorder.decisions]
    tried(f"{len(decisions)} routing decisions", [d[:160] for d in decisions])
    assert decisions and not [d for d in decisions if _found(d)]

    rows = await _every_row(url)
    tried("every row of every table, searched for the hostile text", _found(rows) or "not found")
    assert "fallback" in rows and not _found(rows)
