"""No personal data leaves through ops: after a full run, the ops page, its API and every service's /metrics
hold none of the seeded names, birth dates, addresses, narratives or reporter details of the test reports."""

import uuid
from typing import Any

import httpx
import pytest

from devtools.runner.pipeline import Pipeline
from devtools.runner.samples import sample_report
from tests.helpers import eventually

pytestmark = pytest.mark.integration


def personal_values(report: dict[str, Any]) -> set[str]:
    child, reporter = report["child"], report["reporter"]
    trafficker = report["alleged_traffickers"][0]
    return {
        child["first_name"],
        f"{child['first_name']} {child['last_name']}",
        child["date_of_birth"],
        child["current_location"],
        "Example Street",
        report["narrative"],
        "Synthetic narrative",
        report["trafficking_indicators"],
        reporter["name"],
        reporter["phone"],
        trafficker["name"],
        trafficker["identifiers"][0],
    }


async def test_ops_page_api_and_metrics_carry_no_personal_data(pipeline: Pipeline) -> None:
    tag = uuid.uuid4().hex[:6].upper()
    reports = [sample_report(f"CL-PII-{tag}-{i}", town) for i, town in enumerate(["Hartford", "Norwich", "Danbury"])]
    ids = [r["careline_report_id"] for r in reports]
    async with httpx.AsyncClient(timeout=30) as client:
        for report in reports:
            assert (await client.post(f"{pipeline.url('intake')}/v1/reports", json=report)).status_code == 202
        ops = httpx.AsyncClient(base_url=pipeline.url("ops"), auth=pipeline.ops_credentials, timeout=30)
        async with ops:

            async def all_acknowledged() -> bool:
                for report_id in ids:
                    response = await ops.get(f"/api/reports/{report_id}")
                    if response.status_code != 200:
                        return False
                    if any(r["state"] != "acknowledged" for r in response.json()["recipients"]):
                        return False
                return True

            assert await eventually(all_acknowledged, timeout=120)
            pages = ["/", "/static/dashboard.js", "/static/report.js", "/static/common.js", "/api/state", "/metrics"]
            pages += [
                "/api/summary",
                "/api/charts",
                "/api/notifications?due=any",
                "/api/notifications?view=dead_letters",
            ]
            pages += [f"/api/agencies?kind={kind}" for kind in ("hart", "fbi", "police", "mdt")]
            pages += [p for i in ids for p in (f"/reports/{i}", f"/api/reports/{i}")]
            texts = {path: (await ops.get(path)).text for path in pages}
        for name in pipeline.services:
            texts[f"{name}/metrics"] = (await client.get(f"{pipeline.url(name)}/metrics")).text

    assert ids[0] in texts[f"/api/reports/{ids[0]}"]  # the scan reads the real documents
    leaks = [
        (where, value)
        for report in reports
        for value in personal_values(report)
        for where, text in texts.items()
        if value in text
    ]
    assert leaks == []
