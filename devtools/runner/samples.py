"""Synthetic Careline reports for the local run, tests and benchmarks. Every person in them is fictitious."""

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.directory.towns import load_town_directory

_FIRST = ["Avery", "Jordan", "Riley", "Casey", "Morgan", "Quinn", "Rowan", "Skyler", "Emerson", "Finley"]
_LAST = ["Testperson", "Samplename", "Fictional", "Placeholder", "Madeup", "Nobody", "Synthetic"]


def all_town_names() -> list[str]:
    return sorted(t.name for t in load_town_directory())


def sample_report(
    report_id: str,
    residence_town: str,
    *,
    occurrence_towns: list[str] | None = None,
    missing: bool = False,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    rng = rng or random.Random(report_id)
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    birth = date(2026, 1, 1) - timedelta(days=rng.randint(12 * 365, 17 * 365))
    return {
        "careline_report_id": report_id,
        "received_at": datetime.now(UTC).isoformat(),
        "classification": "dmst",
        "priority": "urgent",
        "child": {
            "first_name": f"{first}-{report_id}",
            "last_name": last,
            "date_of_birth": birth.isoformat(),
            "gender": rng.choice(["female", "male", "nonbinary"]),
            "current_location": f"{rng.randint(1, 999)} Example Street, {residence_town}",
            "safety_status": "with caregiver",
        },
        "missing_or_runaway": missing,
        "residence_town": residence_town,
        "occurrence_towns": occurrence_towns or [],
        "alleged_traffickers": [
            {"name": f"Alleged-{report_id}", "identifiers": [f"handle_{report_id}"], "relationship_to_child": "unknown"}
        ],
        "online_platforms": ["example-app"],
        "trafficking_indicators": "synthetic indicators for testing",
        "narrative": f"Synthetic narrative {report_id}: fictitious events for testing only.",
        "reporter": {"name": f"Reporter-{report_id}", "role": "teacher", "phone": "555-0100"},
    }
