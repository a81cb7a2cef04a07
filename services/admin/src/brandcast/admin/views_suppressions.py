"""Search, add and remove suppressions (addresses that must not be sent to)."""

from __future__ import annotations

from urllib.parse import urlencode

from email_validator import EmailNotValidError
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from brandcast.admin import presenters
from brandcast.admin.audience import normalise_email, normalise_phone
from brandcast.admin.orchestrator import OrchestratorRejectedError
from brandcast.admin.web import flash, orchestrator, render
from brandcast.v1 import campaign_service_pb2

PAGE_SIZE = 50


def normalise_address(channel: str, address: str) -> str:
    """The address as the orchestrator stores it; ValueError names what is wrong."""
    if channel == "email":
        try:
            return normalise_email(address)
        except EmailNotValidError as exc:
            raise ValueError(f"address: {exc}") from exc
    if channel == "sms":
        try:
            return normalise_phone(address)
        except ValueError as exc:
            raise ValueError(f"address: {exc}") from exc
    if channel == "social":
        if not address:
            raise ValueError("address: required")
        return address
    raise ValueError("channel: choose email, sms or social")


async def _page(request: Request, errors: dict[str, str], status_code: int = 200) -> Response:
    query = request.query_params.get("q", "").strip()
    channel = request.query_params.get("channel", "")
    page_token = request.query_params.get("page_token", "")
    response = await orchestrator(request).list_suppressions(
        campaign_service_pb2.ListSuppressionsRequest(
            channel=presenters.channel_value(channel),
            query=query,
            page_size=PAGE_SIZE,
            page_token=page_token,
        )
    )
    rows = [
        {
            "channel": presenters.CHANNELS.get(s.channel, "unknown"),
            "address": s.address,
            "reason": s.reason,
            "created": presenters.timestamp_text(s.created_at),
        }
        for s in response.suppressions
    ]
    filters = {k: v for k, v in (("q", query), ("channel", channel)) if v}
    return render(
        request,
        "suppressions.html",
        {
            "rows": rows,
            "query": query,
            "filter_channel": channel,
            "channels": presenters.CHANNEL_LABELS,
            "errors": errors,
            "next_page": "?" + urlencode({**filters, "page_token": response.next_page_token})
            if response.next_page_token
            else "",
        },
        status_code=status_code,
    )


async def suppressions_page(request: Request) -> Response:
    return await _page(request, {})


async def add_suppression(request: Request) -> Response:
    form = await request.form()
    channel = str(form.get("channel", ""))
    reason = str(form.get("reason", "")).strip() or "added in the admin"
    try:
        address = normalise_address(channel, str(form.get("address", "")).strip())
        await orchestrator(request).add_suppression(
            presenters.channel_value(channel), address, reason
        )
    except ValueError as exc:
        field, _, message = str(exc).partition(": ")
        return await _page(request, {field: message}, status_code=400)
    except OrchestratorRejectedError as exc:
        return await _page(request, {"address": exc.message}, status_code=400)
    flash(request, f"{address} will no longer receive {presenters.CHANNEL_LABELS[channel]}.")
    return RedirectResponse("/suppressions", status_code=303)


async def remove_suppression(request: Request) -> Response:
    form = await request.form()
    channel = str(form.get("channel", ""))
    address = str(form.get("address", ""))
    removed = await orchestrator(request).remove_suppression(
        presenters.channel_value(channel), address
    )
    flash(request, f"{address} removed." if removed else f"{address} was not suppressed.")
    return RedirectResponse("/suppressions", status_code=303)


routes = [
    Route("/suppressions", suppressions_page, methods=["GET"]),
    Route("/suppressions", add_suppression, methods=["POST"]),
    Route("/suppressions/remove", remove_suppression, methods=["POST"]),
]
