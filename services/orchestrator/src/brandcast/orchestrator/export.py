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
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Final

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


def _names(enum: str, prefix: str) -> dict[int, str]:
    descriptor = campaign_pb2.DESCRIPTOR.enum_types_by_name[enum]
    return {v.number: v.name.removeprefix(prefix).lower() for v in descriptor.values}


_CHANNELS: Final = _names("Channel", "CHANNEL_")
_STATUSES: Final = _names("DeliveryStatus", "DELIVERY_STATUS_")


def _time(us: int | None) -> str:
    if not us:
        return ""
    moment = datetime.fromtimestamp(us / 1_000_000, UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def record(row: Any) -> dict[str, str | int]:
    """One delivery row (``Store.iter_delivery_rows``) as the export's columns."""
    return {
        "delivery_id": row.id,
        "channel": _CHANNELS.get(row.channel, str(row.channel)),
        "recipient_id": row.recipient_id,
        "address": row.address,
        "status": _STATUSES.get(row.status, str(row.status)),
        "attempts": row.attempts,
        "provider": row.provider,
        "provider_message_id": row.provider_message_id,
        "error_code": row.error_code,
        "error_message": row.error_message,
        "public_url": row.public_url,
        "created_at": _time(row.created_us),
        "updated_at": _time(row.updated_us),
    }


def _safe_cell(value: str | int) -> str | int:
    if isinstance(value, int) or not value:
        return value
    if value.startswith(_FORMULA_STARTS) or (value[0] in "+-" and not value[1:2].isdigit()):
        return "'" + value
    return value


def export_chunks(
    pages: Iterable[Sequence[Any]], export_format: int
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
