"""A campaign's deliveries as CSV or JSON lines, produced page by page.

The store hands over one page of deliveries at a time and each page becomes one
chunk of bytes, so an export of a million deliveries holds a page, never the
whole file. Cells that a spreadsheet would run as a formula are quoted with a
leading apostrophe (OWASP's advice for CSV injection); phone numbers keep their
``+``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Final

from google.protobuf.timestamp_pb2 import Timestamp

from brandcast.v1 import campaign_pb2, campaign_service_pb2

COLUMNS: Final = (
    "delivery_id",
    "channel",
    "recipient_id",
    "address",
    "status",
    "attempts",
    "provider",
    "provider_message_id",
    "error_code",
    "error_message",
    "public_url",
    "created_at",
    "updated_at",
)
_FORMULA_STARTS: Final = ("=", "@", "\t", "\r")


def _name(enum: str, value: int, prefix: str) -> str:
    descriptor = campaign_pb2.DESCRIPTOR.enum_types_by_name[enum]
    known = descriptor.values_by_number.get(value)
    return known.name.removeprefix(prefix).lower() if known else str(value)


def _time(ts: Timestamp) -> str:
    return ts.ToJsonString() if ts.seconds or ts.nanos else ""


def record(delivery: campaign_pb2.Delivery) -> dict[str, str | int]:
    """One delivery as the export's columns."""
    return {
        "delivery_id": delivery.id,
        "channel": _name("Channel", delivery.channel, "CHANNEL_"),
        "recipient_id": delivery.recipient_id,
        "address": delivery.address,
        "status": _name("DeliveryStatus", delivery.status, "DELIVERY_STATUS_"),
        "attempts": delivery.attempts,
        "provider": delivery.provider,
        "provider_message_id": delivery.provider_message_id,
        "error_code": delivery.error_code,
        "error_message": delivery.error_message,
        "public_url": delivery.public_url,
        "created_at": _time(delivery.created_at),
        "updated_at": _time(delivery.updated_at),
    }


def _safe_cell(value: str | int) -> str | int:
    if isinstance(value, int) or not value:
        return value
    if value.startswith(_FORMULA_STARTS) or (value[0] in "+-" and not value[1:2].isdigit()):
        return "'" + value
    return value


def export_chunks(
    pages: Iterable[list[campaign_pb2.Delivery]], export_format: int
) -> Iterator[campaign_service_pb2.ExportDeliveriesResponse]:
    """The export of ``pages`` in ``export_format`` (CSV when unspecified), one
    response per page (the CSV header comes first, on its own)."""
    json_lines = export_format == campaign_service_pb2.EXPORT_FORMAT_JSON_LINES
    if not json_lines:
        yield campaign_service_pb2.ExportDeliveriesResponse(data=_csv_text([COLUMNS]).encode())
    for page in pages:
        if json_lines:
            text = "".join(json.dumps(record(d), ensure_ascii=False) + "\n" for d in page)
        else:
            text = _csv_text([[_safe_cell(v) for v in record(d).values()] for d in page])
        yield campaign_service_pb2.ExportDeliveriesResponse(data=text.encode(), rows=len(page))


def _csv_text(rows: Iterable[Iterable[object]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()
