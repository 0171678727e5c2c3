"""What the people on call do, in a real browser: log in, watch reports get delivered and acknowledged, see a
recipient that is down go from retrying to dead-lettered, bring it back, redrive from the page, see it delivered."""

import uuid
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, expect
from playwright.async_api import Error as PlaywrightError

from devtools.runner.pipeline import Pipeline
from devtools.runner.samples import sample_report
from shared.events import CarelineReport
from tests.unit.routing_support import agencies, routed

pytestmark = pytest.mark.browser

SLOW = 120_000  # ms: CPU is shared with other suites


def police_of(report: dict[str, object]) -> str:
    found = agencies(routed(CarelineReport.model_validate(report)), "police")
    assert len(found) == 1, found
    return found[0]


async def shot(page: Page, output_dir: Path, name: str) -> None:
    await page.screenshot(path=str(output_dir / f"ops-{name}.png"), full_page=True)


async def test_ops_page_in_chromium(browser: Browser, browser_pipeline: Pipeline, output_dir: Path) -> None:
    ops, intake, sim = (browser_pipeline.url(n) for n in ("ops", "intake", "recipient-sim"))
    tag = uuid.uuid4().hex[:6].upper()
    fine = sample_report(f"CL-WEB-{tag}-OK", "Bristol")
    down = sample_report(f"CL-WEB-{tag}-DOWN", "Torrington")
    down_police = police_of(down)
    assert police_of(fine) != down_police

    anonymous = await browser.new_context()  # headless Chromium cannot prompt: the navigation itself fails
    refused = await anonymous.request.get(f"{ops}/api/state")
    assert refused.status == 401 and refused.headers["www-authenticate"].startswith("Basic")
    with pytest.raises(PlaywrightError, match="ERR_INVALID_AUTH_CREDENTIALS"):
        await (await anonymous.new_page()).goto(f"{ops}/")
    await anonymous.close()

    user, password = browser_pipeline.ops_credentials
    context = await browser.new_context(
        http_credentials={"username": user, "password": password}, viewport={"width": 1280, "height": 900}
    )
    page = await context.new_page()
    await page.goto(f"{ops}/")
    await expect(page.locator("#health [data-service='intake']")).to_have_text("intake: up", timeout=SLOW)
    await shot(page, output_dir, "1-dashboard-logged-in")

    async with httpx.AsyncClient(timeout=30) as client:
        failing = await client.post(f"{sim}/control/failures", json={"agency_id": down_police, "mode": "503"})
        assert failing.status_code == 200
        for report in (fine, down):
            assert (await client.post(f"{intake}/v1/reports", json=report)).status_code == 202

        report_page = await context.new_page()
        await report_page.goto(f"{ops}/reports/{down['careline_report_id']}")
        police_row = report_page.locator(f"#recipients tr[data-agency='{down_police}']")
        await expect(police_row).to_have_attribute("data-state", "retrying", timeout=SLOW)
        await shot(report_page, output_dir, "3-recipient-down-retrying")

        fine_page = await context.new_page()
        await fine_page.goto(f"{ops}/reports/{fine['careline_report_id']}")
        rows = fine_page.locator("#recipients tr[data-state]")
        await expect(rows.first).to_be_visible(timeout=SLOW)
        await expect(fine_page.locator("#recipients tr[data-state]:not([data-state='acknowledged'])")).to_have_count(
            0, timeout=SLOW
        )
        await expect(fine_page.locator("#timeline")).to_contain_text("acknowledged")
        await shot(fine_page, output_dir, "2-report-acknowledged")
        await expect(police_row).to_have_attribute("data-state", "dead_lettered", timeout=SLOW)

        dead = page.locator("#dead-letters tr", has_text=down_police)
        await expect(dead).to_have_count(1, timeout=SLOW)
        await expect(page.locator("[data-testid='reports-dead_lettered']")).not_to_have_text("dead-lettered: 0")
        await shot(page, output_dir, "4-dead-letter-on-dashboard")

        back = await client.post(f"{sim}/control/failures", json={"agency_id": down_police, "mode": "ok"})
        assert back.status_code == 200
        await dead.get_by_role("button", name="redrive", exact=True).click()
        await expect(page.locator("#action-result")).to_contain_text("done", timeout=SLOW)
        await expect(page.locator("#dead-letters tr", has_text=down_police)).to_have_count(0, timeout=SLOW)

        await expect(police_row).to_have_attribute("data-state", "acknowledged", timeout=SLOW)
        await expect(report_page.locator("#timeline")).to_contain_text("ops_redrive")
        await expect(report_page.locator("#timeline")).to_contain_text(f"by ops:{user}")
        await shot(report_page, output_dir, "5-redriven-and-acknowledged")
        await shot(page, output_dir, "6-dashboard-after-redrive")
    await context.close()
