"""Campaign list, campaign detail with live progress and pace, deliveries, and
cancel, pause and resume."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import aclosing
from urllib.parse import urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from brandcast.admin import presenters
from brandcast.admin.orchestrator import OrchestratorError
from brandcast.admin.web import flash, orchestrator, render
from brandcast.v1 import campaign_service_pb2

DELIVERIES_PAGE_SIZE = 50
#: Campaigns up to this many deliveries get their deliveries table refreshed live.
LIVE_TABLE_MAX = 20_000


async def campaign_list(request: Request) -> Response:
    page_token = request.query_params.get("page_token", "")
    response = await orchestrator(request).list_campaigns(page_size=50, page_token=page_token)
    return render(
        request,
        "campaigns.html",
        {
            "campaigns": [presenters.campaign_summary(c) for c in response.campaigns],
            "next_page_token": response.next_page_token,
            "first_page": not page_token,
        },
    )


async def campaign_detail(request: Request) -> Response:
    campaign_id = request.path_params["campaign_id"]
    client = orchestrator(request)
    campaign = await client.get_campaign(campaign_id)
    channel = request.query_params.get("channel", "")
    status = request.query_params.get("status", "")
    page_token = request.query_params.get("page_token", "")
    deliveries = await client.list_deliveries(
        campaign_service_pb2.ListDeliveriesRequest(
            campaign_id=campaign_id,
            channel=presenters.channel_value(channel),
            status=presenters.status_value(status),
            page_size=DELIVERIES_PAGE_SIZE,
            page_token=page_token,
        )
    )
    accepted = request.query_params.get("accepted", "")
    if accepted.isdigit():
        rejected = request.query_params.get("rejected", "0")
        skipped_now = request.query_params.get("skipped", "0")
        flash(
            request,
            f"Campaign “{campaign.spec.name}” accepted for {accepted} recipients"
            + (f", {rejected} rows rejected" if rejected.isdigit() and rejected != "0" else "")
            + (
                f", {skipped_now} invalid addresses skipped"
                if skipped_now.isdigit() and skipped_now != "0"
                else ""
            )
            + ".",
        )
    filters = {k: v for k, v in (("channel", channel), ("status", status)) if v}
    skipped = sum(c.skipped for c in campaign.counters)
    next_page = (
        "?" + urlencode({**filters, "page_token": deliveries.next_page_token})
        if deliveries.next_page_token
        else ""
    )
    return render(
        request,
        "campaign_detail.html",
        {
            "campaign": presenters.campaign_summary(campaign),
            "deliveries": [presenters.delivery_row(d) for d in deliveries.deliveries],
            "filter_channel": channel,
            "filter_status": status,
            "statuses": presenters.STATUSES,
            "channels": presenters.CHANNEL_LABELS,
            "next_page": next_page,
            "first_page": "?" + urlencode(filters) if page_token else "",
            "export_query": "?" + urlencode(filters) if filters else "",
            # Each refresh reads a page of the campaign's deliveries, which costs
            # more as the campaign grows: large ones are refreshed once, at the end.
            "live_table": sum(c.total for c in campaign.counters) <= LIVE_TABLE_MAX,
            "skipped": skipped,
        },
    )


async def delivery_detail(request: Request) -> Response:
    campaign_id = request.path_params["campaign_id"]
    client = orchestrator(request)
    campaign = await client.get_campaign(campaign_id)
    delivery = await client.get_delivery(campaign_id, request.path_params["delivery_id"])
    return render(
        request,
        "delivery_detail.html",
        {
            "campaign": presenters.campaign_summary(campaign),
            "delivery": presenters.delivery_row(delivery),
            "history": presenters.delivery_history(delivery),
        },
    )


_EXPORT_TYPES = {
    "csv": (campaign_service_pb2.EXPORT_FORMAT_CSV, "text/csv; charset=utf-8"),
    "jsonl": (campaign_service_pb2.EXPORT_FORMAT_JSON_LINES, "application/x-ndjson"),
}


async def export_deliveries(request: Request) -> Response:
    """The campaign's deliveries (as filtered) as a download, streamed through
    from the orchestrator chunk by chunk."""
    campaign_id = request.path_params["campaign_id"]
    if request.path_params["format"] not in _EXPORT_TYPES:
        raise HTTPException(404, "exports are .csv or .jsonl")
    export_format, media_type = _EXPORT_TYPES[request.path_params["format"]]
    client = orchestrator(request)
    campaign = await client.get_campaign(campaign_id)  # 404 before the download starts
    channel = request.query_params.get("channel", "")
    status = request.query_params.get("status", "")
    stream = client.export(
        campaign_service_pb2.ExportDeliveriesRequest(
            campaign_id=campaign_id,
            channel=presenters.channel_value(channel),
            status=presenters.status_value(status),
            format=export_format,
        )
    )
    # The first chunk (the CSV header, or the first page) is read before
    # answering, so a failing orchestrator is a proper error page, not a cut file.
    first = await anext(stream, b"")

    async def body() -> AsyncIterator[bytes]:
        async with aclosing(stream):
            yield first
            async for chunk in stream:
                yield chunk

    slug = re.sub(r"[^A-Za-z0-9]+", "-", campaign.spec.name).strip("-").lower() or "campaign"
    suffix = "-".join(part for part in (channel, status) if part)
    filename = f"{slug}-deliveries{'-' + suffix if suffix else ''}.{request.path_params['format']}"
    return StreamingResponse(
        body(),
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


async def cancel_campaign(request: Request) -> Response:
    campaign_id = request.path_params["campaign_id"]
    response = await orchestrator(request).cancel(campaign_id)
    flash(request, f"Campaign cancelled: {response.cancelled} deliveries will not be sent.")
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)


async def pause_campaign(request: Request) -> Response:
    campaign_id = request.path_params["campaign_id"]
    await orchestrator(request).pause(campaign_id)
    flash(request, "Campaign paused: nothing more is sent until you resume it.")
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)


async def resume_campaign(request: Request) -> Response:
    campaign_id = request.path_params["campaign_id"]
    await orchestrator(request).resume(campaign_id)
    flash(request, "Campaign resumed where it stopped.")
    return RedirectResponse(f"/campaigns/{campaign_id}", status_code=303)


def _sse(event: str, data: object, event_id: str = "") -> str:
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {event}\ndata: {json.dumps(data)}\n\n"


async def campaign_events(request: Request) -> Response:
    """Server-sent progress events, fed by the orchestrator's WatchCampaign stream."""
    campaign_id = request.path_params["campaign_id"]
    client = orchestrator(request)
    # Fail with a proper status (404, 503) before the stream starts rather than inside it.
    await client.get_campaign(campaign_id)
    # EventSource reconnects with the last id it saw: resume from there.
    resume = request.headers.get("last-event-id", "")

    async def events() -> AsyncIterator[str]:
        yield "retry: 2000\n\n"  # how soon EventSource reconnects if the stream ends
        try:
            async with aclosing(client.watch(campaign_id, resume)) as stream:
                async for event in stream:
                    if event.WhichOneof("event") != "progress":
                        continue
                    payload = presenters.progress_event(event.progress)
                    yield _sse("progress", payload, event.cursor)
                    if payload["final"]:
                        break
        except OrchestratorError as exc:
            yield _sse("failure", {"error": exc.message})
        yield _sse("end", {})

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


routes = [
    Route("/", campaign_list, methods=["GET"]),
    Route("/campaigns/{campaign_id:str}", campaign_detail, methods=["GET"]),
    Route("/campaigns/{campaign_id:str}/cancel", cancel_campaign, methods=["POST"]),
    Route("/campaigns/{campaign_id:str}/pause", pause_campaign, methods=["POST"]),
    Route("/campaigns/{campaign_id:str}/resume", resume_campaign, methods=["POST"]),
    Route(
        "/campaigns/{campaign_id:str}/deliveries/{delivery_id:str}",
        delivery_detail,
        methods=["GET"],
    ),
    Route(
        "/campaigns/{campaign_id:str}/export.{format:str}",
        export_deliveries,
        methods=["GET"],
    ),
    Route("/api/campaigns/{campaign_id:str}/events", campaign_events, methods=["GET"]),
]
