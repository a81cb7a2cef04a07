"""Twilio: our provider's requests against the official ``twilio`` SDK's, on one recorder.

Before these, our send carried ``I-Twilio-Idempotency-Token``, a header the SDK
never sends because the Messages API has no such thing.
"""

from __future__ import annotations

from email.utils import formatdate

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from twilio.rest import Client

from brandcast.sms.emulator import start_emulator
from brandcast.sms.providers import TwilioProvider
from brandcast.sms.providers._port import ReportCallback
from tests.oracles.recorder import recording

SID, TOKEN = "AC0123456789abcdef0123456789abcdef", "auth-token"
MESSAGES = f"/2010-04-01/Accounts/{SID}/Messages.json"
TO, FROM, BODY = "+14155550101", "+14155550100", "Spring blend is here. Reply STOP to opt out"


def _message(request: Request) -> Response:
    resource = {"sid": "SM1", "account_sid": SID, "to": TO, "from": FROM, "body": BODY,
                "status": "queued", "date_created": formatdate(usegmt=True)}  # fmt: skip
    return JSONResponse(resource, status_code=201)


def _page(request: Request) -> Response:
    return JSONResponse({"messages": [], "next_page_uri": None, "page": 0, "page_size": 50})


ANSWERS = {("POST", MESSAGES): _message, ("GET", MESSAGES): _page}


def test_a_send_is_what_the_sdk_sends() -> None:
    report = ReportCallback("https://hooks.acme.example", "d-1", "c-1")
    with recording(ANSWERS) as (recorder, url):
        client = Client(SID, TOKEN)
        client.api.base_url = url
        client.messages.create(to=TO, from_=FROM, body=BODY, status_callback=report.url("twilio"))
        TwilioProvider(url, SID, TOKEN).send(TO, FROM, BODY, idempotency_key="k", report=report)
        sdk, ours = recorder.take()

    assert (ours.method, ours.path) == (sdk.method, sdk.path) == ("POST", MESSAGES)
    assert ours.form() == sdk.form()
    assert ours.meaningful_headers() == sdk.meaningful_headers()


def test_a_lookup_is_what_the_sdk_asks_for_a_message_list() -> None:
    with recording(ANSWERS) as (recorder, url):
        client = Client(SID, TOKEN)
        client.api.base_url = url
        client.messages.list(to=TO, from_=FROM, page_size=50, limit=50)
        TwilioProvider(url, SID, TOKEN).find_sent(TO, FROM, BODY, since=0)
        sdk, ours = recorder.take()

    assert (ours.method, ours.path) == (sdk.method, sdk.path) == ("GET", MESSAGES)
    assert ours.query == sdk.query
    # The SDK also sends a form Content-Type on a GET; nothing we send is unknown to it.
    assert ours.meaningful_headers().items() <= sdk.meaningful_headers().items()


def test_the_sdk_sends_and_lists_against_our_emulator() -> None:
    server, _ = start_emulator(0)
    try:
        client = Client("ACsandbox", "sandbox-token")
        client.api.base_url = server.url
        sent = client.messages.create(to=TO, from_=FROM, body=BODY)
        listed = client.messages.list(to=TO, from_=FROM, limit=20)
    finally:
        server.stop()
    assert sent.sid.startswith("SM")
    assert sent.status == "queued"
    assert [m.sid for m in listed] == [sent.sid]
    assert listed[0].body == BODY
