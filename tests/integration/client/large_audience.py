"""Run by the clean-venv test with only brandcast-client installed: submit an audience
from a generator, watch the campaign to the end, page its deliveries, report as JSON.

    python large_audience.py ADDRESS TOKEN SIZE

It cancels the campaign once accepted (the test's server has no dispatcher), so the
watch follows every delivery to a final state and ends.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from brandcast.client import Client
from brandcast.v1 import campaign_pb2 as pb


def audience(size: int) -> Iterator[dict[str, str]]:
    for i in range(size):
        yield {"id": f"r{i:07d}", "email": f"r{i:07d}@example.com", "locale": "en"}


def main(address: str, token: str, size: int) -> dict[str, object]:
    spec = pb.CampaignSpec(
        name="large audience",
        brand_kit=pb.BrandKit(
            name="Acme Coffee",
            email_sender=pb.EmailSender(name="Acme Coffee", address="news@acme.example.com"),
            postal_address="1 Market St, San Francisco, CA 94105",
            default_locale="en",
        ),
        core_message=pb.CoreMessage(headline="Spring blend", body="Roasted this week."),
        channels=pb.ChannelSettings(email=pb.EmailSettings(enabled=True)),
    )
    figures: dict[str, object] = {"rss_at_start_mb": peak_rss_mb()}
    started = time.monotonic()
    progress: list[int] = []
    with Client(address, token=token) as client:
        result = client.submit_campaign(spec, audience=audience(size), on_progress=progress.append)
        figures["submit_seconds"] = round(time.monotonic() - started, 1)
        figures["recipients_received"] = result.recipients_received
        figures["progress_calls"] = len(progress)
        campaign_id = result.campaign.id
        figures["cancelled"] = client.cancel_campaign(campaign_id).cancelled

        figures["rss_after_submit_mb"] = peak_rss_mb()
        started = time.monotonic()
        delivery_events = cancelled = out_of_order = 0
        previous = (-1, "")
        last_progress = None
        for event in client.watch(campaign_id, include_deliveries=True):
            if event.WhichOneof("event") == "delivery":
                delivery_events += 1
                cancelled += event.delivery.status == pb.DELIVERY_STATUS_CANCELLED
                # Cursors strictly increase: a repeat or a step back would show here.
                seq, _, delivery_id = event.cursor.partition(".")
                position = (int(seq), delivery_id)
                out_of_order += position <= previous
                previous = position
            else:
                last_progress = event.progress
        figures["watch_seconds"] = round(time.monotonic() - started, 1)
        figures["delivery_events"] = delivery_events
        figures["cancelled_events"] = cancelled
        figures["cursors_out_of_order"] = out_of_order
        assert last_progress is not None
        figures["final_cancelled"] = sum(c.cancelled for c in last_progress.counters)
        figures["rss_after_watch_mb"] = peak_rss_mb()

        started = time.monotonic()
        paged = 0
        for delivery in client.list_deliveries(campaign_id, page_size=1000):
            paged += delivery.status == pb.DELIVERY_STATUS_CANCELLED
        figures["paged_cancelled"] = paged
        figures["page_seconds"] = round(time.monotonic() - started, 1)
    figures["peak_rss_mb"] = peak_rss_mb()
    return figures


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM). Not ru_maxrss: that survives exec
    and so starts at the size of the (forked) test process that launched this one."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], int(sys.argv[3]))))
