"""The admin's pages and endpoints against the real orchestrator."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx

CSV = "email,phone,name\nann@example.com,+14155550101,Ann\nbob@example.com,,Bob\nbroken,,Nope\n"
FORM = {
    "name": "Integration roast",
    "brand_kit": "acme-coffee",
    "headline": "The spring roast",
    "body": "Bright and floral.",
    "cta_text": "Order",
    "cta_url": "https://acme.example/spring",
    "email_enabled": "on",
    "sms_enabled": "on",
    "sms_segment_budget": "1",
    "send_at_timezone": "UTC",
}


def submit(admin: httpx.Client, csrf_of: Callable[[str], str], **changes: str) -> httpx.Response:
    token = csrf_of(admin.get("/campaigns/new").text)
    return admin.post(
        "/campaigns",
        data={**FORM, **changes, "csrf_token": token},
        files={"audience_file": ("audience.csv", CSV.encode(), "text/csv")},
    )


def test_a_submitted_campaign_is_listed_with_its_deliveries(
    admin: httpx.Client, csrf_of: Callable[[str], str]
) -> None:
    response = submit(admin, csrf_of)
    assert response.status_code == 200
    assert "accepted for 2 recipients, 1 rows rejected" in response.text
    assert "ann@example.com" in response.text
    campaign_path = response.url.path
    listing = admin.get("/").text
    assert "Integration roast" in listing
    assert campaign_path in listing
    sms_only = admin.get(campaign_path, params={"channel": "sms"}).text
    assert "+14155550101" in sms_only
    assert "bob@example.com" not in sms_only
    none_failed = admin.get(campaign_path, params={"status": "failed"}).text
    assert "No deliveries match." in none_failed


def test_an_invalid_form_is_shown_again_with_reasons_and_nothing_is_sent(
    admin: httpx.Client, csrf_of: Callable[[str], str]
) -> None:
    response = submit(admin, csrf_of, headline="", cta_url="not a url")
    assert response.status_code == 400
    assert "headline</a>: required" in response.text
    assert "cta_url</a>: an absolute http(s) URL" in response.text
    assert "No campaigns yet" in admin.get("/").text


def test_cancel_then_the_event_stream_reports_the_final_state(
    admin: httpx.Client, csrf_of: Callable[[str], str]
) -> None:
    detail = submit(admin, csrf_of)
    campaign_id = detail.url.path.rsplit("/", 1)[1]
    cancelled = admin.post(
        f"/campaigns/{campaign_id}/cancel", data={"csrf_token": csrf_of(detail.text)}
    )
    assert "Campaign cancelled: 3 deliveries will not be sent." in cancelled.text
    with admin.stream("GET", f"/api/campaigns/{campaign_id}/events") as events:
        assert events.headers["content-type"].startswith("text/event-stream")
        body = "".join(events.iter_text())
    progress = [
        json.loads(block.split("data: ", 1)[1])
        for block in body.split("\n\n")
        if block.startswith("id:") and "event: progress" in block
    ]
    assert progress[-1]["state"] == "cancelled"
    assert progress[-1]["final"] is True
    assert {c["channel"]: c["counts"]["cancelled"] for c in progress[-1]["channels"]} == {
        "email": 2,
        "sms": 1,
    }


def test_unknown_campaign_is_a_404_page(admin: httpx.Client) -> None:
    response = admin.get("/campaigns/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404


def test_preview_returns_each_channels_variant(
    admin: httpx.Client, csrf_of: Callable[[str], str]
) -> None:
    token = csrf_of(admin.get("/campaigns/new").text)
    data: dict[str, Any] = {**FORM, "social_enabled": "on", "social_accounts": ["acme-x"]}
    preview = admin.post("/api/preview", data=data, headers={"X-CSRF-Token": token}).json()
    assert preview["errors"] == {}
    (email,) = preview["preview"]["email"]
    assert email["subject"] == "The spring roast"
    (sms,) = preview["preview"]["sms"]
    assert sms["encoding"] == "GSM-7"
    assert sms["segments"] == 1
    (post,) = preview["preview"]["social"]
    assert post["network"] == "X"
    assert 0 < post["length"] <= post["limit"] == 280


def test_suppressions_can_be_added_searched_and_removed(
    admin: httpx.Client, csrf_of: Callable[[str], str]
) -> None:
    token = csrf_of(admin.get("/suppressions").text)
    added = admin.post(
        "/suppressions",
        data={
            "channel": "sms",
            "address": "+1 415 555 0199",
            "reason": "asked",
            "csrf_token": token,
        },
    )
    assert "+14155550199 will no longer receive SMS." in added.text
    found = admin.get("/suppressions", params={"q": "555019"}).text
    assert re.search(r"<td data-label=\"Address\">\+14155550199</td>", found)
    email_only = admin.get("/suppressions", params={"channel": "email"}).text
    assert "+14155550199" not in email_only[: email_only.index("Recent changes")]
    # Removing undoes an opt-out: a confirmation page first, asking for a reason.
    confirm = admin.get(
        "/suppressions/remove", params={"channel": "sms", "address": "+14155550199"}
    )
    assert "receives SMS campaigns again" in confirm.text
    unconfirmed = admin.post(
        "/suppressions/remove",
        data={"channel": "sms", "address": "+14155550199", "csrf_token": token},
    )
    assert unconfirmed.status_code == 400
    assert "undoes this person&#39;s opt-out" in unconfirmed.text
    assert "Tick the box to confirm" in unconfirmed.text
    assert "+14155550199" in admin.get("/suppressions", params={"q": "555019"}).text
    removed = admin.post(
        "/suppressions/remove",
        data={
            "channel": "sms",
            "address": "+14155550199",
            "reason": "customer asked by phone, ticket 4411",
            "confirm": "yes",
            "csrf_token": token,
        },
    )
    assert "+14155550199 removed." in removed.text
    assert "No suppressed address matches." in removed.text
    # The audit trail shows who did what, when and why, newest first.
    audit = removed.text[removed.text.index("Recent changes") :]
    rows = re.findall(r"<tr>\s*(.*?)</tr>", audit, re.S)
    cells = [c for c in (re.findall(r'data-label="(\w+)">([^<]*)</td>', r) for r in rows) if c]
    assert [dict(c)["Change"] for c in cells] == ["removed", "added"]
    latest = dict(cells[0])
    assert latest["Who"] == "alice"
    assert latest["Why"] == "customer asked by phone, ticket 4411"
    assert latest["Address"] == "+14155550199"
    assert latest["When"]


def test_a_bad_suppression_address_is_refused_with_the_reason(
    admin: httpx.Client, csrf_of: Callable[[str], str]
) -> None:
    token = csrf_of(admin.get("/suppressions").text)
    response = admin.post(
        "/suppressions", data={"channel": "email", "address": "nobody@", "csrf_token": token}
    )
    assert response.status_code == 400
    assert "There must be something after the @-sign" in response.text


def test_a_wrong_api_token_gives_the_503_page_without_the_token(
    serve_admin: Callable[..., Any],
) -> None:
    with serve_admin(api_token="wrong-token") as admin:
        response = admin.get("/")
    assert response.status_code == 503
    assert "refused the admin" in response.text
    assert "check ADMIN_API_TOKEN" in response.text
    assert "wrong-token" not in response.text


def test_a_test_send_goes_to_one_address_marked_as_a_test(
    admin: httpx.Client, csrf_of: Callable[[str], str]
) -> None:
    token = csrf_of(admin.get("/campaigns/new").text)
    refused = admin.post(
        "/campaigns", data={**FORM, "csrf_token": token, "send_test": "1", "test_to": "nobody"}
    )
    assert refused.status_code == 400
    assert "test_to" in refused.text
    token = csrf_of(refused.text)
    sent = admin.post(
        "/campaigns",
        data={**FORM, "csrf_token": token, "send_test": "1", "test_to": "Me@Example.com"},
    )
    assert sent.status_code == 200
    assert "Test sent to Me@example.com; it is not counted." in sent.text
    assert "[test] Integration roast" in sent.text
    assert '<span class="badge">test</span>' in sent.text
    # One delivery, to that address only (no audience file was needed).
    assert sent.text.count('data-label="Recipient"') == 1
    assert "Me@example.com" in sent.text


def test_duplicate_opens_the_form_filled_from_the_campaign(
    admin: httpx.Client, csrf_of: Callable[[str], str]
) -> None:
    campaign_path = submit(admin, csrf_of).url.path
    campaign_id = campaign_path.rsplit("/", 1)[-1]
    page = admin.get(campaign_path).text
    assert f'href="/campaigns/new?from={campaign_id}"' in page
    form = admin.get("/campaigns/new", params={"from": campaign_id}).text
    assert 'value="Integration roast (copy)"' in form
    assert 'value="The spring roast"' in form
    assert re.search(r'id="sms_enabled"[^>]*checked', form)


def test_export_downloads_the_filtered_deliveries_as_csv(
    admin: httpx.Client, csrf_of: Callable[[str], str]
) -> None:
    campaign_path = submit(admin, csrf_of).url.path
    response = admin.get(f"{campaign_path}/export.csv", params={"channel": "email"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    lines = response.text.splitlines()
    assert lines[0].startswith("delivery_id,channel,recipient_id,address,status,attempts")
    assert sorted(line.split(",")[3] for line in lines[1:]) == [
        "ann@example.com",
        "bob@example.com",
    ]
    jsonl = admin.get(f"{campaign_path}/export.jsonl").text.splitlines()
    assert len(jsonl) == 3  # two emails and one SMS
    assert admin.get(f"{campaign_path}/export.xlsx").status_code == 404


def test_pause_and_resume_from_the_detail_page(
    admin: httpx.Client, csrf_of: Callable[[str], str]
) -> None:
    detail = submit(admin, csrf_of)
    campaign_id = detail.url.path.rsplit("/", 1)[1]
    assert f'action="/campaigns/{campaign_id}/pause"' in detail.text
    paused = admin.post(
        f"/campaigns/{campaign_id}/pause", data={"csrf_token": csrf_of(detail.text)}
    )
    assert "Campaign paused" in paused.text
    assert 'data-state="paused"' in paused.text
    assert f'action="/campaigns/{campaign_id}/resume"' in paused.text
    resumed = admin.post(
        f"/campaigns/{campaign_id}/resume", data={"csrf_token": csrf_of(paused.text)}
    )
    assert "Campaign resumed" in resumed.text
    assert 'data-state="paused"' not in resumed.text
