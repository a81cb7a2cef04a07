"""The admin in a real browser against the whole stack: orchestrator, RabbitMQ,
the email, SMS and social adapters and their sandbox providers, as processes."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import FilePayload, Page, expect

pytestmark = [pytest.mark.slow, pytest.mark.rabbitmq]

AUDIENCE_CSV = (
    "email,phone,name\n"
    "ann@example.com,+14155550101,Ann\n"
    "gone@example.com,,Gus\n"
    "not-an-email,,Bad Email\n"
    "cid@example.org,0612345678,Not E164\n"
    ",+14155550102,Phone Only\n"
)


def log_in(page: Page, base_url: str, credentials: tuple[str, str]) -> None:
    page.goto(base_url + "/")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("User name").fill(credentials[0])
    page.get_by_label("Password").fill(credentials[1])
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Campaigns")).to_be_visible()


def test_compose_upload_send_follow_reports_export_and_failures(
    stack: Any,
    admin_page: Page,
    credentials: tuple[str, str],
    failure: tuple[str, str, str],
    shot: Callable[[str], str],
) -> None:
    page = admin_page
    log_in(page, stack.admin_url, credentials)
    page.get_by_role("link", name="New campaign").first.click()

    page.get_by_label("Campaign name").fill("Spring roast launch")
    page.get_by_label("Headline").first.fill("The spring roast is here")
    page.get_by_label("Body").first.fill("Bright and floral.")
    page.get_by_label("Call to action").first.fill("Order now")
    page.get_by_label("Link", exact=True).fill("https://acme.example/spring")
    page.get_by_label("SMS", exact=True).check()
    page.get_by_label("Social", exact=True).check()

    # The live preview answers: email in a sandboxed iframe, SMS with its
    # encoding and segment counter, one length meter per social account.
    frame = page.locator("#email-frame")
    expect(frame).to_have_attribute("sandbox", "")
    expect(page.locator("#email-subject")).to_have_text("The spring roast is here")
    sms_encoding = page.locator("#sms-list .sms-encoding").first
    expect(sms_encoding).to_have_text("GSM-7")
    expect(page.locator("#sms-list .sms-segments").first).to_contain_text("1 segment")
    x_length = page.locator('#social-list [data-account="acme-x"] .social-length')
    expect(x_length).to_have_text(re.compile(r"^\d+/\d+$"))
    before = x_length.inner_text()

    # Typing changes them: with room for three segments, an emoji moves the SMS
    # to UCS-2 and more segments, and the post grows.
    segments = page.locator("#sms-list .sms-segments").first
    page.get_by_label("Segment budget").fill("3")
    expect(segments).to_have_text(re.compile(r"^\d+ segments? of 3$"))
    segments_before = int(segments.inner_text().split()[0])
    page.get_by_label("Body").first.press_sequentially(" Now with more cocoa ☕", delay=5)
    expect(sms_encoding).to_have_text("UCS-2")
    assert int(segments.inner_text().split()[0]) > segments_before
    expect(x_length).not_to_have_text(before)
    assert int(x_length.inner_text().split("/")[0]) > int(before.split("/")[0])

    page.get_by_role("button", name="Mobile").click()
    expect(frame).to_have_class(re.compile(r"\bmobile\b"))
    email_body = page.frame_locator("#email-frame").locator("body")
    expect(email_body).to_contain_text("Now with more cocoa")
    page.locator("#preview").screenshot(path=shot("preview"))

    page.get_by_label("Audience CSV").set_input_files(
        files=[FilePayload(name="audience.csv", mimeType="text/csv", buffer=AUDIENCE_CSV.encode())]
    )
    # Partial acceptance: the row with a valid email and a bad number is kept,
    # its SMS listed as skipped; only the row with nothing valid is rejected.
    report = page.locator("#audience-report")
    expect(report.locator('[data-count="total"]')).to_have_text("5")
    expect(report.locator('[data-count="accepted"]')).to_have_text("4")
    expect(report.locator('[data-count="rejected"]')).to_have_text("1")
    expect(report.locator("ul.reasons")).to_contain_text("invalid email: 1")
    expect(report.locator(".skipped-summary")).to_contain_text("1 phone number skipped")
    skipped_rows = report.locator("table.skipped-rows tbody tr")
    expect(skipped_rows).to_have_count(1)
    expect(skipped_rows).to_contain_text("0612345678")
    expect(skipped_rows).to_contain_text("sms")
    expect(page.get_by_label("email", exact=True)).to_have_value("email")
    page.screenshot(path=shot("compose"), full_page=True)

    page.get_by_role("button", name="Send campaign").click()
    expect(page).to_have_url(re.compile(r"/campaigns/[0-9a-f-]+(\?.*)?$"))
    expect(page.get_by_role("status").first).to_contain_text("accepted for 4 recipients")
    campaign_url = page.url.split("?")[0]

    # Server-sent events follow the campaign until it is complete: past "sent"
    # until the SMS delivery reports arrive. The adapters are real Celery
    # workers that may still be booting on a busy machine.
    state = page.locator("#campaign-state")
    expect(state).to_have_text("sent, awaiting reports", timeout=90_000)
    expect(page.locator("#live-status")).to_contain_text(
        re.compile(r"waiting for delivery reports for \d+ SMS, until \d\d:\d\d:\d\d UTC")
    )
    page.screenshot(path=shot("campaign-waiting-for-reports"), full_page=True)
    expect(state).to_have_text("complete", timeout=30_000)
    sms = page.locator('#progress-bars [data-channel="sms"] .summary')
    expect(sms).to_contain_text("2 delivered")
    expect(sms).to_contain_text("1 skipped")
    email = page.locator('#progress-bars [data-channel="email"]')
    expect(email.locator(".summary")).to_contain_text("1 failed")
    expect(email.locator(".failures")).to_have_text("1 failed")
    address, code, reason = failure
    failed_row = page.locator("#deliveries tr.status-failed")
    expect(failed_row).to_have_count(1)
    expect(failed_row).to_contain_text(address)
    expect(failed_row).to_contain_text(f"{code}: {reason}")
    page.screenshot(path=shot("campaign-detail"), full_page=True)

    # The skipped addresses stay listed after a reload, and download as CSV.
    page.reload()
    expect(page.locator("#skipped-addresses")).to_contain_text("1 address skipped")
    with page.expect_download() as skipped_download:
        page.locator("#skipped-addresses a[download]").click()
    skipped = read_csv_download(skipped_download.value.path())
    assert [(r["status"], r["channel"], r["address"]) for r in skipped] == [
        ("skipped", "sms", "0612345678")
    ]

    # The full report downloads and parses: one row per delivery.
    with page.expect_download() as export_download:
        page.locator("#export-csv").click()
    assert export_download.value.suggested_filename.endswith(".csv")
    rows = read_csv_download(export_download.value.path())
    by_address = {r["address"]: r for r in rows if r["channel"] == "email"}
    assert by_address[address]["status"] == "failed"
    assert by_address[address]["error_code"] == code
    assert by_address["ann@example.com"]["status"] == "sent"
    assert by_address["ann@example.com"]["attempts"] == "1"
    delivered_sms = [r for r in rows if r["channel"] == "sms" and r["status"] == "delivered"]
    assert len(delivered_sms) == 2
    assert all(r["attempts"] == "1" and r["provider_message_id"] for r in delivered_sms)

    # The failed delivery's own page: failed, with its history and reason.
    failed_row.get_by_role("link").click()
    expect(page.locator("#delivery-status")).to_have_text("failed")
    history = page.locator("#history tbody")
    expect(history).to_contain_text("accepted")
    expect(history.locator("tr").last).to_contain_text(reason)
    page.screenshot(path=shot("delivery-detail"), full_page=True)

    # The campaign list shows the failure at a glance, not a blue 100 %.
    page.goto(stack.admin_url + "/")
    row = page.locator("table.campaigns tbody tr", has_text="Spring roast launch")
    expect(row.locator(".state")).to_have_text("complete")
    expect(row.locator("[data-failures]")).to_contain_text("failed")
    expect(row.locator('[data-channel="email"] .summary')).to_contain_text("1 failed")
    page.screenshot(path=shot("campaign-list"), full_page=True)

    page.goto(campaign_url + "?status=failed")
    expect(page.locator("#deliveries tbody tr")).to_have_count(1)
    expect(page.locator("#deliveries")).to_contain_text(reason)

    # On a phone the bars and the tables fit the screen.
    page.set_viewport_size({"width": 375, "height": 800})
    for path in ("/", campaign_url.removeprefix(stack.admin_url)):
        page.goto(stack.admin_url + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than the phone"
    page.screenshot(path=shot("campaign-detail-phone"), full_page=True)


def read_csv_download(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_compose_page_fits_a_phone_and_works_with_the_keyboard(
    stack: Any, admin_page: Page, credentials: tuple[str, str]
) -> None:
    page = admin_page
    page.set_viewport_size({"width": 375, "height": 800})
    log_in(page, stack.admin_url, credentials)
    page.goto(stack.admin_url + "/campaigns/new")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than the phone"
    # Tab from the skip link into the form: focus is visible and lands on labelled fields.
    page.keyboard.press("Tab")
    expect(page.locator(".skip-link")).to_be_focused()
    page.keyboard.press("Enter")
    page.get_by_label("Campaign name").focus()
    page.keyboard.type("Keyboard only")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Brand kit")).to_be_focused()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
