"""The email adapter's HTTP side: provider webhooks and one-click unsubscribe.

Routes (``create_webhooks_app``):

- ``POST /webhooks/postmark``: Postmark's delivery/bounce/complaint webhooks, with
  the basic-auth credentials configured on the webhook (``EMAIL_WEBHOOK_USERNAME``
  and ``EMAIL_WEBHOOK_PASSWORD``); refused with 503 while they are not configured.
- ``GET /unsubscribe/{token}``: a confirmation page whose form POSTs (link scanners
  GET, so a GET never unsubscribes anyone).
- ``POST /unsubscribe/{token}`` with ``List-Unsubscribe=One-Click`` (RFC 8058).
- ``POST /unsubscribe/{token}/resubscribe``: undo it ("unsubscribed by mistake?").

The pages carry the brand's name and colour from the token and show the address
masked (``a•••@example.com``): enough for its owner, not for whoever holds the link.
- ``GET /healthz``.

Everything accepted is published (confirmed) to the receipts exchange before the
answer, so a 200 means the orchestrator will see it; a bus failure is a 503 and
the provider retries its webhook.
"""

from __future__ import annotations

import html
import json
import logging

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from brandcast.email.feedback import (
    InvalidEventError,
    UnsubscribeLink,
    UnsubscribeRefusedError,
    feedback_from_postmark,
    unsubscribe_link,
)
from brandcast.email.settings import EmailSettings
from brandcast.shared.basic_auth import basic_auth_matches
from brandcast.shared.webhook_publisher import FeedbackPublisher, WebhookPublisher
from brandcast.v1 import bus_pb2

logger = logging.getLogger(__name__)

CHANNEL = "email"
ONE_CLICK_FIELD = "List-Unsubscribe"
ONE_CLICK_VALUE = "One-Click"


_DEFAULT_COLOR = "#1d232a"


def _page(
    title: str, body: str, status: int = 200, link: UnsubscribeLink | None = None
) -> HTMLResponse:
    brand = link.brand if link else ""
    color = (link.brand_color if link else "") or _DEFAULT_COLOR
    header = (
        f'<header style="border-top:6px solid {color};padding-top:1rem">'
        f'<p class=brand style="font-weight:700;color:{color};margin:0">{html.escape(brand)}</p>'
        "</header>"
        if brand
        else ""
    )
    document = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}{' – ' + html.escape(brand) if brand else ''}</title>"
        '<meta name="referrer" content="no-referrer"></head>'
        '<body style="font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;'
        'padding:0 1rem;line-height:1.5">'
        f"{header}<main><h1>{html.escape(title)}</h1>{body}</main></body></html>"
    )
    return HTMLResponse(
        document,
        status_code=status,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _button(action: str, label: str, color: str, fields: str = "") -> str:
    return (
        f'<form method=post action="{html.escape(action, quote=True)}">{fields}'
        f'<button type=submit style="background:{color};color:#fff;border:0;'
        f'border-radius:4px;padding:.6rem 1.2rem;font-size:1rem">{html.escape(label)}</button>'
        "</form>"
    )


def create_webhooks_app(
    settings: EmailSettings, publisher: FeedbackPublisher | None = None
) -> Starlette:
    """The Starlette app ``brandcast-email webhooks`` serves."""
    bus: FeedbackPublisher = publisher or WebhookPublisher.to_broker(
        settings.broker_url, "brandcast-email-webhooks"
    )
    secret = settings.unsubscribe_secret

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def postmark(request: Request) -> Response:
        user, password = settings.email_webhook_username, settings.email_webhook_password
        if not user or not password:
            return JSONResponse(
                {"error": "EMAIL_WEBHOOK_USERNAME/EMAIL_WEBHOOK_PASSWORD are not configured"},
                status_code=503,
            )
        if not basic_auth_matches(request.headers.get("Authorization", ""), user, password):
            return JSONResponse(
                {"error": "Authorization: basic credentials missing or wrong"},
                status_code=401,
                headers={"WWW-Authenticate": 'Basic realm="brandcast-email"'},
            )
        try:
            feedback = feedback_from_postmark(json.loads(await request.body()))
        except (ValueError, InvalidEventError) as exc:
            return JSONResponse({"error": f"body: {exc}"}, status_code=400)
        try:
            if feedback.receipts:
                batch = bus_pb2.ReceiptBatch(receipts=feedback.receipts)
                await run_in_threadpool(bus.publish_receipts, batch, CHANNEL)
            for event in feedback.suppressions:
                await run_in_threadpool(bus.publish_suppression, event)
        except Exception:
            logger.exception("could not publish Postmark feedback; Postmark will retry")
            return JSONResponse({"error": "bus unavailable, retry later"}, status_code=503)
        return JSONResponse(
            {"receipts": len(feedback.receipts), "suppressions": len(feedback.suppressions)}
        )

    async def unsubscribe_page(request: Request) -> Response:
        if not secret:
            return _page("Unsubscribe unavailable", "<p>Please try again later.</p>", 503)
        token = request.path_params["token"]
        try:
            link = unsubscribe_link(token, secret)
        except UnsubscribeRefusedError as exc:
            return _page(
                "Invalid link",
                "<p>This unsubscribe link is not valid.</p>",
                403 if exc.forged else 400,
            )
        sender = html.escape(link.brand) if link.brand else "this sender"
        form = (
            f"<p>Stop emails from {sender} to "
            f"<strong class=address>{html.escape(link.masked_address)}</strong>?</p>"
            + _button(
                f"/unsubscribe/{token}",
                "Unsubscribe",
                link.brand_color or _DEFAULT_COLOR,
                f'<input type=hidden name="{ONE_CLICK_FIELD}" value="{ONE_CLICK_VALUE}">',
            )
        )
        return _page("Unsubscribe", form, link=link)

    async def unsubscribe(request: Request) -> Response:
        if not secret:
            return _page("Unsubscribe unavailable", "<p>Please try again later.</p>", 503)
        form = await request.form()
        if form.get(ONE_CLICK_FIELD) != ONE_CLICK_VALUE:
            return _page(
                "Bad request",
                "<p>The body must be List-Unsubscribe=One-Click (RFC 8058).</p>",
                400,
            )
        token = request.path_params["token"]
        try:
            link = unsubscribe_link(token, secret)
        except UnsubscribeRefusedError as exc:
            return _page(
                "Invalid link",
                "<p>This unsubscribe link is not valid.</p>",
                403 if exc.forged else 400,
            )
        try:
            await run_in_threadpool(
                bus.publish_suppression, link.event(bus_pb2.SuppressionEvent.ACTION_SUPPRESS)
            )
        except Exception:
            logger.exception("could not publish an unsubscribe")
            return _page("Please try again", "<p>We could not record it just now.</p>", 503, link)
        sender = html.escape(link.brand) if link.brand else "these"
        body = (
            f"<p><strong class=address>{html.escape(link.masked_address)}</strong> will not "
            f"receive {sender} emails any more.</p>"
            "<p>Unsubscribed by mistake?</p>"
            + _button(
                f"/unsubscribe/{token}/resubscribe", "Re-subscribe", link.brand_color or "#0a5c8a"
            )
        )
        return _page("Unsubscribed", body, link=link)

    async def resubscribe(request: Request) -> Response:
        if not secret:
            return _page("Unavailable", "<p>Please try again later.</p>", 503)
        try:
            link = unsubscribe_link(request.path_params["token"], secret)
        except UnsubscribeRefusedError as exc:
            return _page(
                "Invalid link",
                "<p>This link is not valid.</p>",
                403 if exc.forged else 400,
            )
        try:
            await run_in_threadpool(
                bus.publish_suppression, link.event(bus_pb2.SuppressionEvent.ACTION_UNSUPPRESS)
            )
        except Exception:
            logger.exception("could not publish a re-subscribe")
            return _page("Please try again", "<p>We could not record it just now.</p>", 503, link)
        sender = html.escape(link.brand) if link.brand else "these"
        return _page(
            "Subscribed again",
            f"<p><strong class=address>{html.escape(link.masked_address)}</strong> will receive "
            f"{sender} emails again.</p>",
            link=link,
        )

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/webhooks/postmark", postmark, methods=["POST"]),
            Route("/unsubscribe/{token}", unsubscribe_page, methods=["GET"]),
            Route("/unsubscribe/{token}", unsubscribe, methods=["POST"]),
            Route("/unsubscribe/{token}/resubscribe", resubscribe, methods=["POST"]),
        ]
    )
