"""The admin in a real browser against the whole stack: orchestrator, RabbitMQ,
the email, SMS and social adapters and their sandbox providers, as processes."""

from __future__ import annotations

import re
from collections.abc import Callable
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


def test_compose_preview_upload_send_and_follow_to_completion(
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
    report = page.locator("#audience-report")
    expect(report.locator('[data-count="total"]')).to_have_text("5")
    expect(report.locator('[data-count="accepted"]')).to_have_text("3")
    expect(report.locator('[data-count="rejected"]')).to_have_text("2")
    expect(report.locator("ul.reasons")).to_contain_text("invalid email: 1")
    expect(report.locator("ul.reasons")).to_contain_text("invalid phone: 1")
    expect(page.get_by_label("email", exact=True)).to_have_value("email")
    page.screenshot(path=shot("compose"), full_page=True)

    page.get_by_role("button", name="Send campaign").click()
    expect(page).to_have_url(re.compile(r"/campaigns/[0-9a-f-]+(\?accepted=3&rejected=2)?$"))
    expect(page.get_by_role("status").first).to_contain_text("accepted for 3 recipients")

    # Server-sent events drive the bars to 100%; the page then shows the final table.
    # The adapters are real Celery workers that may still be booting on a busy machine.
    expect(page.locator("#campaign-state")).to_have_text("completed", timeout=60_000)
    for percent in page.locator("#progress-bars .percent").all():
        expect(percent).to_have_text("100%")
    address, code, reason = failure
    failed_row = page.locator("#deliveries tr.status-failed")
    expect(failed_row).to_have_count(1)
    expect(failed_row).to_contain_text(address)
    expect(failed_row).to_contain_text(f"{code}: {reason}")

    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#deliveries tbody tr")).to_have_count(1)
    expect(page.locator("#deliveries")).to_contain_text(reason)


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
