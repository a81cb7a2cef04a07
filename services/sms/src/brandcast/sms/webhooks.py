"""Provider callbacks: delivery reports (``POST /status/<provider>``) and replies
(``POST /inbound``).

A delivery report is read by its provider's ``ReportReader`` (see
``providers/_port.py``), which checks the provider's own signature over the URL
the provider called (rebuilt from ``SMS_CALLBACK_BASE_URL``, the public address,
as a proxy in front may change host and scheme) and maps its format into a
``StatusReport``. ``POST /status`` without a provider is Twilio's, for reports of
messages sent before the per-provider paths. Replies carry Twilio's signature.
Forged requests get 403 and publish nothing. Receipts and suppression events go
to the receipts exchange with publisher confirms; if the broker cannot take them
we answer 503 so the provider retries the callback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from urllib.parse import parse_qsl
from xml.etree import ElementTree

import phonenumbers
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from brandcast.shared.errors import ProviderError
from brandcast.shared.webhook_publisher import FeedbackPublisher, WebhookPublisher
from brandcast.sms import feedback
from brandcast.sms.inbound_ledger import InboundLedger, LocalInboundLedger, RedisInboundLedger
from brandcast.sms.provider_table import PROVIDERS
from brandcast.sms.providers._port import (
    CallbackRequest,
    ForgedReportError,
    InvalidReportError,
    ReportReader,
)
from brandcast.sms.providers.vonage import VonageProvider
from brandcast.sms.providers.vonage_webhooks import InboundMessage, read_inbound
from brandcast.sms.settings import SmsSettings
from brandcast.sms.signature import is_genuine_twilio_request
from brandcast.v1 import bus_pb2, campaign_pb2

logger = logging.getLogger(__name__)

#: Whose reports ``POST /status`` (without a provider) carries.
LEGACY_REPORT_PROVIDER = "twilio"


def twiml(message: str | None = None) -> Response:
    """A TwiML answer, optionally replying with ``message``."""
    root = ElementTree.Element("Response")
    if message:
        ElementTree.SubElement(root, "Message").text = message
    body = ElementTree.tostring(root, encoding="unicode", xml_declaration=False)
    return Response('<?xml version="1.0" encoding="UTF-8"?>' + body, media_type="application/xml")


class _NotPublishedError(Exception):
    """The broker did not confirm a delivery report (the cause is chained)."""


class Webhooks:
    def __init__(
        self,
        settings: SmsSettings,
        publisher: FeedbackPublisher,
        ledger: feedback.StatusLedger,
        inbound: InboundLedger | None = None,
        readers: Mapping[str, ReportReader] | None = None,
    ) -> None:
        self._inbound = inbound if inbound is not None else LocalInboundLedger()
        self._readers = readers if readers is not None else report_readers(settings)
        self._base_url = settings.sms_callback_base_url.rstrip("/")
        self._auth_token = settings.sms_twilio_auth_token
        self._shared_key = settings.sms_twilio_webhook_shared_key
        self._help_text = settings.sms_help_text
        self._settings = settings
        self._vonage_secret = settings.sms_vonage_signature_secret
        self._vonage: VonageProvider | None = None
        self._publisher = publisher
        self._ledger = ledger

    async def _signed_form(self, request: Request) -> list[tuple[str, str]] | None:
        """The POST parameters of a reply, or None when Twilio's signature does not match."""
        params = parse_qsl(
            (await request.body()).decode("utf-8", "replace"), keep_blank_values=True
        )
        url = self._public_url(request)
        headers = {name.lower(): value for name, value in request.headers.items()}
        if not is_genuine_twilio_request(
            url, params, headers, auth_token=self._auth_token, shared_key=self._shared_key
        ):
            logger.warning("refused a callback to %s with a bad signature", request.url.path)
            return None
        return params

    async def status(self, request: Request) -> Response:
        provider = request.path_params.get("provider", LEGACY_REPORT_PROVIDER)
        reader = self._readers.get(provider)
        if reader is None:
            return PlainTextResponse(f"{provider}: no delivery reports from it", status_code=404)
        callback = CallbackRequest(
            url=self._public_url(request),
            headers={name.lower(): value for name, value in request.headers.items()},
            body=await request.body(),
            query=dict(request.query_params),
        )
        try:
            report = reader.read(callback)
        except ForgedReportError:
            logger.warning("refused a %s report with a bad signature", provider)
            return PlainTextResponse("invalid signature", status_code=403)
        except InvalidReportError as exc:
            return PlainTextResponse(str(exc), status_code=400)
        if report is None:
            # Unknown or uninteresting (e.g. "receiving"): acknowledge, emit nothing.
            return PlainTextResponse("ignored", status_code=200)
        receipt = feedback.status_receipt(report, provider)
        try:
            # One thread-pool hop for the ledger read, the publish and the ledger write
            # (three hops cost more than the work between them).
            forward = await run_in_threadpool(
                self._forward_report,
                report.delivery_id,
                feedback.status_rank(report.status),
                receipt,
            )
        except _NotPublishedError:
            logger.exception("could not publish a delivery report; asking the provider to retry")
            return PlainTextResponse("try again", status_code=503)
        if not forward:
            # Reports can arrive out of order (sent after delivered); a delivery never
            # moves backwards, so a late one is acknowledged and dropped here.
            return PlainTextResponse("stale", status_code=200)
        return PlainTextResponse("ok", status_code=200)

    def _public_url(self, request: Request) -> str:
        url = self._base_url + request.url.path
        if request.url.query:
            url += "?" + request.url.query
        return url

    def _forward_report(
        self, delivery_id: str, rank: int, receipt: bus_pb2.DeliveryReceipt
    ) -> bool:
        """Publish ``receipt`` and record its rank, unless the delivery is already as far
        (False). The rank is recorded only once the receipt is confirmed, so a report
        whose publish failed is published again when the provider retries it."""
        if not self._ledger.is_forward(delivery_id, rank):
            return False
        try:
            self._publisher.publish_receipts(bus_pb2.ReceiptBatch(receipts=[receipt]), "sms")
        except Exception as exc:
            raise _NotPublishedError from exc
        self._ledger.record(delivery_id, rank)
        return True

    async def inbound(self, request: Request) -> Response:
        params = await self._signed_form(request)
        if params is None:
            return PlainTextResponse("invalid signature", status_code=403)
        form = dict(params)
        word = feedback.keyword(form.get("Body", ""))
        if word in feedback.HELP_KEYWORDS:
            return twiml(self._help_text)
        if word in feedback.STOP_KEYWORDS:
            action, reason = bus_pb2.SuppressionEvent.ACTION_SUPPRESS, "stop_reply"
        elif word in feedback.START_KEYWORDS:
            action, reason = bus_pb2.SuppressionEvent.ACTION_UNSUPPRESS, "start_reply"
        else:
            return twiml()
        try:
            number = phonenumbers.parse(form.get("From", ""), None)
        except phonenumbers.NumberParseException:
            return PlainTextResponse("From: not an E.164 number", status_code=400)
        # Twilio's reply webhook carries no time of its own: the arrival time orders it.
        sent_at = time.time()
        event = bus_pb2.SuppressionEvent(
            channel=campaign_pb2.CHANNEL_SMS,
            address=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
            action=action,
            reason=reason,
        )
        event.occurred_at.FromNanoseconds(int(sent_at * 1e9))
        try:
            await run_in_threadpool(
                self._forward_suppression, form.get("MessageSid", ""), sent_at, event
            )
        except Exception:
            logger.exception("could not publish an opt-out; asking the provider to retry")
            return PlainTextResponse("try again", status_code=503)
        return twiml()

    async def vonage_inbound(self, request: Request) -> Response:
        """An SMS to our Vonage number: STOP/START change the suppression list in the
        order Vonage received them; HELP is answered with a message (Vonage, unlike
        Twilio, takes no reply in the webhook's answer)."""
        try:
            message = read_inbound(
                {k.lower(): v for k, v in request.headers.items()},
                await request.body(),
                self._vonage_secret,
            )
        except ForgedReportError:
            logger.warning("refused a Vonage inbound message with a bad signature")
            return PlainTextResponse("invalid signature", status_code=403)
        except InvalidReportError as exc:
            return PlainTextResponse(str(exc), status_code=400)
        word = feedback.keyword(message.text)
        if word in feedback.HELP_KEYWORDS:
            try:
                await run_in_threadpool(self._answer_help_by_vonage, message)
            except ProviderError:
                logger.exception("could not answer HELP through Vonage; asking it to retry")
                return PlainTextResponse("try again", status_code=503)
            return PlainTextResponse("ok")
        if word in feedback.STOP_KEYWORDS:
            action, reason = bus_pb2.SuppressionEvent.ACTION_SUPPRESS, "stop_reply"
        elif word in feedback.START_KEYWORDS:
            action, reason = bus_pb2.SuppressionEvent.ACTION_UNSUPPRESS, "start_reply"
        else:
            return PlainTextResponse("ok")
        try:
            number = phonenumbers.parse(message.sender, None)
        except phonenumbers.NumberParseException:
            return PlainTextResponse("from: not a phone number", status_code=400)
        event = bus_pb2.SuppressionEvent(
            channel=campaign_pb2.CHANNEL_SMS,
            address=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
            action=action,
            reason=reason,
        )
        event.occurred_at.FromNanoseconds(int(message.sent_at * 1e9))
        try:
            await run_in_threadpool(
                self._forward_suppression, message.message_id, message.sent_at, event
            )
        except Exception:
            logger.exception("could not publish an opt-out; asking Vonage to retry")
            return PlainTextResponse("try again", status_code=503)
        return PlainTextResponse("ok")

    def _answer_help_by_vonage(self, message: InboundMessage) -> None:
        if self._vonage is None:
            self._vonage = VonageProvider.from_settings(self._settings)
        sender = message.recipient if message.recipient.startswith("+") else f"+{message.recipient}"
        self._vonage.send(
            message.sender, sender, self._help_text, idempotency_key=f"help-{message.message_id}"
        )

    def _forward_suppression(
        self, message_id: str, sent_at: float, event: bus_pb2.SuppressionEvent
    ) -> bool:
        """Publish an opt-out/opt-in unless it was applied already or a newer one was
        (False): a replayed or late START never undoes a later STOP."""
        if not self._inbound.is_current(event.address, message_id, sent_at):
            logger.info("dropped a repeated or out-of-order reply (message %s)", message_id)
            return False
        self._publisher.publish_suppression(event)
        self._inbound.record(event.address, message_id, sent_at)
        return True


def report_readers(settings: SmsSettings) -> dict[str, ReportReader]:
    """The report reader of every configured provider that has delivery reports,
    and Twilio's for the legacy ``/status`` path."""
    readers: dict[str, ReportReader] = {}
    for name in (*settings.sms_providers, LEGACY_REPORT_PROVIDER):
        provider_class = PROVIDERS.resolve(name)
        make_reader = getattr(provider_class, "report_reader", None)
        if callable(make_reader):
            # Keyed by the name a provider puts in its report URL (its ``name``).
            readers[str(getattr(provider_class, "name", name))] = make_reader(settings)
    return readers


def create_webhooks_app(
    settings: SmsSettings,
    *,
    publisher: FeedbackPublisher | None = None,
    ledger: feedback.StatusLedger | None = None,
    inbound: InboundLedger | None = None,
) -> Starlette:
    """The callback app; tests may pass their own publisher or ledger."""
    if publisher is None:
        publisher = WebhookPublisher.to_broker(settings.broker_url, "brandcast-sms-webhooks")
    if ledger is None:
        ledger = (
            feedback.RedisStatusLedger(
                settings.sms_redis_url, namespace=settings.sms_redis_namespace
            )
            if settings.sms_redis_url
            else feedback.LocalStatusLedger()
        )
    if inbound is None:
        inbound = (
            RedisInboundLedger(settings.sms_redis_url, namespace=settings.sms_redis_namespace)
            if settings.sms_redis_url
            else LocalInboundLedger()
        )
    hooks = Webhooks(settings, publisher, ledger, inbound, report_readers(settings))
    return Starlette(
        routes=[
            Route("/status", hooks.status, methods=["POST"]),
            Route("/status/{provider}", hooks.status, methods=["POST"]),
            Route("/inbound", hooks.inbound, methods=["POST"]),
            Route("/inbound/vonage", hooks.vonage_inbound, methods=["POST"]),
            Route("/healthz", lambda _: PlainTextResponse("ok"), methods=["GET"]),
        ]
    )
