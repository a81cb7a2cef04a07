"""Postmark and Vonage: our providers' requests against the official SDKs', on one recorder.

``postmarker`` (Postmark's Python client) and ``vonage`` with ``vonage-messages``.
"""

from __future__ import annotations

from postmarker.core import PostmarkClient
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from vonage import Auth, Vonage
from vonage_messages import Sms

from brandcast.email.message import EmailMessage
from brandcast.email.providers.postmark import PostmarkProvider
from brandcast.sms.providers import VonageProvider
from brandcast.sms.providers._port import ReportCallback
from tests.oracles.recorder import recording, redirect

MESSAGE = EmailMessage(
    from_address="news@acme.example",
    from_name="Acme Coffee",
    to_address="reader@example.org",
    to_name="Reader",
    subject="Our spring blend is here",
    text="hello",
    html="<p>hello</p>",
    reply_to="help@acme.example",
    list_unsubscribe_url="https://acme.example/u/t1",
    metadata={"delivery_id": "d-1", "campaign_id": "c-1", "idempotency_key": "k-1"},
)


def _postmark_ok(request: Request) -> Response:
    return JSONResponse({"To": "reader@example.org", "MessageID": "pm-1", "ErrorCode": 0,
                         "Message": "OK", "SubmittedAt": "2026-12-02T10:00:00Z"})  # fmt: skip


def test_a_postmark_email_is_what_postmarker_sends() -> None:
    with recording({("POST", "/email"): _postmark_ok}) as (recorder, url):
        PostmarkProvider(url, "server-token").send(MESSAGE, idempotency_key="k-1")
        [ours] = recorder.take()
        body = ours.json()
        headers = {header["Name"]: header["Value"] for header in body.pop("Headers")}
        PostmarkClient(server_token="server-token", root_api_url=url).emails.send(
            Headers=headers, **body
        )
        [sdk] = recorder.take()

    assert (ours.method, ours.path) == (sdk.method, sdk.path) == ("POST", "/email")
    # postmarker writes out every field it knows, unset ones as null (TrackLinks as "None"):
    # Postmark reads those as absent, which is how we leave them.
    expected = {k: v for k, v in sdk.json().items() if v not in (None, "None", [])}
    assert ours.json() == expected
    assert ours.json()["MessageStream"] == "broadcast"
    for header in ("x-postmark-server-token", "content-type"):
        assert ours.headers[header] == sdk.headers[header], header


def _vonage_ok(request: Request) -> Response:
    return JSONResponse({"message_uuid": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"}, status_code=202)


def test_a_vonage_sms_is_what_the_vonage_sdk_sends() -> None:
    report = ReportCallback("https://hooks.acme.example", "d-1", "c-1")
    with recording({("POST", "/v1/messages"): _vonage_ok}) as (recorder, url):
        sdk = Vonage(Auth(api_key="key", api_secret="secret"))
        redirect(sdk.http_client._session, url)
        sdk.messages.send(
            Sms(
                to="447400123456",
                from_="447400000000",
                text="Spring blend is here",
                client_ref="k-1",
                webhook_url=report.url("vonage"),
                webhook_version="v1",
            )
        )
        VonageProvider(url, "key", "secret").send(
            "+447400123456", "+447400000000", "Spring blend is here",
            idempotency_key="k-1", report=report,
        )  # fmt: skip
        sdk_request, ours = recorder.take()

    assert (ours.method, ours.path) == (sdk_request.method, sdk_request.path)
    assert ours.json() == sdk_request.json()
    for header in ("authorization", "content-type"):
        assert ours.headers[header] == sdk_request.headers[header], header
