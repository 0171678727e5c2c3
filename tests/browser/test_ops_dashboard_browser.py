"""The ops page as people on call use it, in real Chromium on a laptop (1400 px) and a phone (390 px) against a
real pipeline: all well; an agency down (retrying, then dead-lettered: the banner on top, redrive from the list);
a deadline at risk (a report whose 12 h clock was nearly spent on arrival, sent to a police department that never
acknowledges); one report's page, with the report it is linked to. Every state is checked with axe-core (no
serious or critical violation), and on the phone the urgent banner must sit inside the first screen."""

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect
from playwright.async_api import Error as PlaywrightError

from devtools.runner.pipeline import Pipeline
from devtools.runner.samples import sample_report
from tests.browser.conftest import SILENT_POLICE, SILENT_TOWN, police_of

pytestmark = pytest.mark.browser

SLOW = 120_000  # ms: CPU is shared with other suites
AXE = Path(__file__).parent / "assets" / "axe.min.js"  # axe-core 4.14.1 from npm (MPL-2.0), a test asset only
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
LAPTOP = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}


async def shot(page: Page, output_dir: Path, name: str) -> int:
    """Full-page screenshot; returns the page height in CSS pixels (the report gives before/after)."""
    await page.wait_for_timeout(300)  # let the last redraw settle
    await page.screenshot(path=str(output_dir / f"ops-{name}.png"), full_page=True)
    height: int = await page.evaluate("document.documentElement.scrollHeight")
    return height


async def no_serious_axe_violations(page: Page) -> None:
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE.read_text())
    found: list[dict[str, Any]] = await page.evaluate(
        """async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}})).violations
            .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))""",
        WCAG_AA,
    )
    serious = [v for v in found if v["impact"] in ("serious", "critical")]
    assert serious == [], json.dumps(serious, indent=1)


async def no_horizontal_scroll(page: Page) -> None:
    widths = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], widths


async def banner_in_first_screen(page: Page, key: str) -> None:
    banner = page.locator(f"#banners [data-banner='{key}']")
    await expect(banner).to_be_visible(timeout=SLOW)
    await page.evaluate("window.scrollTo(0, 0)")
    box = await banner.bounding_box()
    assert box is not None and box["y"] + box["height"] <= PHONE["height"], box


async def no_inline_code(page: Page) -> None:
    """A strict CSP (script-src 'self', no inline styles) must hold: every script and style is a file."""
    inline = await page.evaluate(
        "[document.querySelectorAll('script:not([src])').length, document.querySelectorAll('style').length]"
    )
    assert inline == [0, 0]


async def open_pages(context: BrowserContext, url: str) -> Page:
    page = await context.new_page()
    await page.goto(url)
    return page


async def test_ops_page_on_call_in_chromium(browser: Browser, browser_pipeline: Pipeline, output_dir: Path) -> None:
    ops, intake, sim = (browser_pipeline.url(n) for n in ("ops", "intake", "recipient-sim"))
    tag = uuid.uuid4().hex[:6].upper()
    fine = sample_report(f"CL-WEB-{tag}-OK", "Bristol")
    down = sample_report(f"CL-WEB-{tag}-DOWN", "Torrington")
    down["alleged_traffickers"] = fine["alleged_traffickers"]  # the same suspect: the router links the two
    risk = sample_report(f"CL-WEB-{tag}-RISK", SILENT_TOWN)
    risk["received_at"] = (datetime.now(UTC) - timedelta(hours=12) + timedelta(minutes=30)).isoformat()
    down_police = police_of(down)
    assert len({police_of(fine), down_police, SILENT_POLICE}) == 3

    anonymous = await browser.new_context()  # headless Chromium cannot prompt: the navigation itself fails
    refused = await anonymous.request.get(f"{ops}/api/notifications")
    assert refused.status == 401 and refused.headers["www-authenticate"].startswith("Basic")
    with pytest.raises(PlaywrightError, match="ERR_INVALID_AUTH_CREDENTIALS"):
        await (await anonymous.new_page()).goto(f"{ops}/")
    await anonymous.close()

    user, password = browser_pipeline.ops_credentials
    login = {"http_credentials": {"username": user, "password": password}, "bypass_csp": True}  # axe is injected
    laptop_ctx = await browser.new_context(viewport=LAPTOP, **login)  # type: ignore[arg-type]
    phone_ctx = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, **login)  # type: ignore[arg-type]
    laptop, phone = await open_pages(laptop_ctx, f"{ops}/"), await open_pages(phone_ctx, f"{ops}/")
    heights: dict[str, int] = {}

    # 1. All well: one short green line on top.
    for page in (laptop, phone):
        await expect(page.locator("#service-list [data-service='intake']")).to_have_text("intake: up", timeout=SLOW)
        await expect(page.locator("[data-testid='all-well']")).to_be_visible(timeout=SLOW)
        await no_inline_code(page)
        await no_horizontal_scroll(page)
    await no_serious_axe_violations(laptop)
    await no_serious_axe_violations(phone)
    heights["all well, laptop"] = await shot(laptop, output_dir, "1-all-well-laptop")
    heights["all well, phone"] = await shot(phone, output_dir, "1-all-well-phone")

    async with httpx.AsyncClient(timeout=30) as client:
        failing = await client.post(f"{sim}/control/failures", json={"agency_id": down_police, "mode": "503"})
        assert failing.status_code == 200
        for report in (fine, down):
            assert (await client.post(f"{intake}/v1/reports", json=report)).status_code == 202

        # 2. An agency down: retrying in the clock list, then dead-lettered with a banner on top.
        down_clock = laptop.locator(f"#clock-list tr[data-agency='{down_police}']")
        await expect(down_clock).to_contain_text("retrying", timeout=SLOW)
        heights["agency retrying, laptop"] = await shot(laptop, output_dir, "2-agency-retrying-laptop")
        for page in (laptop, phone):
            await expect(page.locator("#banners [data-banner='dead_letters']")).to_contain_text("1", timeout=SLOW)
        await banner_in_first_screen(phone, "dead_letters")
        await expect(phone.locator("#banners li").first).to_have_attribute("data-banner", "dead_letters")
        await no_horizontal_scroll(phone)
        dead_row = laptop.locator(f"#dead-list tr[data-agency='{down_police}']")
        await expect(dead_row).to_have_count(1, timeout=SLOW)
        await no_serious_axe_violations(laptop)
        await no_serious_axe_violations(phone)
        heights["dead letter, laptop"] = await shot(laptop, output_dir, "3-agency-dead-lettered-laptop")
        heights["dead letter, phone"] = await shot(phone, output_dir, "3-agency-dead-lettered-phone")

        # The banner leads to the list; the agency is back; redrive from the list (on the phone).
        await phone.locator("#banners [data-banner='dead_letters'] a").click()
        await expect(phone.locator("#dead-h")).to_be_focused()
        back = await client.post(f"{sim}/control/failures", json={"agency_id": down_police, "mode": "ok"})
        assert back.status_code == 200
        await (
            phone.locator(f"#dead-list tr[data-agency='{down_police}']")
            .get_by_role("button", name="redrive", exact=True)
            .click()
        )
        await expect(phone.locator("#action-result")).to_contain_text("Redriven", timeout=SLOW)
        await expect(laptop.locator(f"#dead-list tr[data-agency='{down_police}']")).to_have_count(0, timeout=SLOW)
        await expect(laptop.locator("#banners [data-banner='dead_letters']")).to_have_count(0, timeout=SLOW)

        # 3. A deadline at risk: the silent police department's clock, 30 minutes left.
        assert (await client.post(f"{intake}/v1/reports", json=risk)).status_code == 202
        for page in (laptop, phone):
            await expect(page.locator("#banners [data-banner='at_risk']")).to_be_visible(timeout=SLOW)
        await banner_in_first_screen(phone, "at_risk")
        await phone.locator("#banners [data-banner='at_risk'] a").click()
        await laptop.locator("#banners [data-banner='at_risk'] a").click()
        for page in (laptop, phone):
            first = page.locator("#clock-list tbody tr").first
            await expect(first).to_have_attribute("data-agency", SILENT_POLICE, timeout=SLOW)
            await expect(first).to_contain_text("m")  # minutes left, not hours
            await expect(first).to_contain_text(risk["careline_report_id"])
            assert "due=at_risk" in page.url
        await expect(laptop.locator("#clocks-range")).to_have_text("1\u20131 of 1")
        await no_serious_axe_violations(phone)
        await phone.evaluate("window.scrollTo(0, 0)")
        heights["at risk, laptop"] = await shot(laptop, output_dir, "4-deadline-at-risk-laptop")
        heights["at risk, phone"] = await shot(phone, output_dir, "4-deadline-at-risk-phone")

        # Search and filters narrow the list on the server: by report id, then by a kind it has no clock of.
        search = laptop.get_by_label("Search").first
        await laptop.locator("#clocks-filters select[name='due']").select_option("any")
        await search.fill(risk["careline_report_id"].lower())
        await expect(laptop.locator("#clock-list tbody tr[data-agency]")).to_have_count(1, timeout=SLOW)
        await laptop.locator("#clocks-filters select[name='kind']").select_option("fbi")
        await expect(laptop.locator("#clock-list tbody tr.empty")).to_have_count(1, timeout=SLOW)

        # The counts table is collapsed to kinds; a kind opens its agencies, and every column sorts.
        await laptop.locator("[data-testid='kind-police']").click()
        drill = laptop.locator("#agency-list")
        await expect(drill.locator(f"tr[data-row='{SILENT_POLICE}']")).to_have_count(1, timeout=SLOW)
        await drill.get_by_role("button", name="retrying").click()
        await expect(drill.locator("th[aria-sort='descending']")).to_have_text("retrying")
        await expect(laptop.locator("#chart-activity canvas")).to_have_count(1, timeout=SLOW)

    # 4. One report's page: the down agency's story, from retrying to redriven and acknowledged.
    report_url = f"{ops}/reports/{down['careline_report_id']}"
    laptop_report, phone_report = await open_pages(laptop_ctx, report_url), await open_pages(phone_ctx, report_url)
    for page in (laptop_report, phone_report):
        card = page.locator(f"#recipients li[data-agency='{down_police}']")
        await expect(card).to_have_attribute("data-state", "acknowledged", timeout=SLOW)
        timeline = page.locator("#timeline")
        await expect(timeline.locator("li[data-event='ops_redrive']")).to_contain_text(f"by ops:{user}")
        await expect(timeline.locator("li[data-event='acknowledged']").first).to_be_visible()
        await expect(page.locator("#linked a")).to_have_text(fine["careline_report_id"])
        await no_inline_code(page)
        await no_horizontal_scroll(page)
        await no_serious_axe_violations(page)
    heights["report, laptop"] = await shot(laptop_report, output_dir, "5-report-laptop")
    await phone_report.locator("#timeline-agency").select_option(down_police)  # one recipient's story
    await expect(phone_report.locator("#timeline li[data-event='delivery_attempt']")).to_have_count(4)
    await expect(phone_report.locator("#timeline li[data-event='received']")).to_have_count(1)
    heights["report, phone"] = await shot(phone_report, output_dir, "5-report-phone")
    print("page heights (px):", json.dumps(heights))
    await laptop_ctx.close()
    await phone_ctx.close()
