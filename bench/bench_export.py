"""ExportDeliveries of a large campaign: rows per second and the server's memory.

    uv run python bench/bench_export.py [--deliveries 1000000] [--database-url URL]

Loads one campaign of N deliveries straight into a fresh store (SQLite by
default), then streams it through a real gRPC server (CSV, then JSON lines) and
reports the rate, the bytes, and the orchestrator process's peak RSS above its
level before the export, sampled every 50 ms.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
import uuid
from pathlib import Path

import grpc
import psutil

from brandcast.orchestrator.server import bootstrap, create_server
from brandcast.orchestrator.settings import OrchestratorSettings
from brandcast.orchestrator.store import STATUS_RANK, NewDelivery, Store
from brandcast.v1 import campaign_pb2, campaign_service_pb2, campaign_service_pb2_grpc

S = campaign_pb2


def _load(store: Store, deliveries: int) -> str:
    campaign_id = str(uuid.uuid4())
    now = int(time.time() * 1_000_000)
    spec = S.CampaignSpec(name="Export bench")
    with store.campaign_writer() as writer:
        batch: list[NewDelivery] = []
        for n in range(deliveries):
            delivery_id = str(uuid.uuid4())
            status = S.DELIVERY_STATUS_DELIVERED if n % 10 else S.DELIVERY_STATUS_FAILED
            batch.append(
                NewDelivery(
                    id=delivery_id,
                    campaign_id=campaign_id,
                    channel=S.CHANNEL_SMS if n % 2 else S.CHANNEL_EMAIL,
                    recipient_id=f"r{n}",
                    address=f"r{n}@example.com" if n % 2 == 0 else f"+1415555{n % 10_000:04d}",
                    status=status,
                    status_rank=STATUS_RANK[status],
                    attempts=1,
                    provider="smtp" if n % 2 == 0 else "twilio",
                    provider_message_id=f"m-{n}",
                    error_code="" if n % 10 else "550",
                    error_message="" if n % 10 else "mailbox unavailable",
                    public_url="",
                    idempotency_key=delivery_id,
                    not_before_us=now,
                    created_us=now,
                    updated_us=now,
                    seq=1,
                )
            )
            if len(batch) == 10_000:
                writer.insert_deliveries(batch)
                batch = []
        writer.insert_deliveries(batch)
        writer.insert_campaign(
            {
                "id": campaign_id,
                "name": spec.name,
                "spec": spec.SerializeToString(),
                "state": S.CAMPAIGN_STATE_COMPLETED,
                "audience_size": deliveries,
                "trace_context": "{}",
                "created_us": now,
                "updated_us": now,
            }
        )
    return campaign_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--deliveries", type=int, default=1_000_000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="brandcast-export-"))
    url = args.database_url or f"sqlite:///{folder / 'export.db'}"
    store = Store.open(url)
    started = time.perf_counter()
    campaign_id = _load(store, args.deliveries)
    print(f"loaded {args.deliveries:,} deliveries in {time.perf_counter() - started:.1f} s")

    settings = OrchestratorSettings(database_url=url, grpc_address="127.0.0.1:0")
    app = bootstrap(settings, store=store, dispatch=False, collect=False)
    server, port = create_server(settings, app)
    server.start()
    process = psutil.Process()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = campaign_service_pb2_grpc.CampaignServiceStub(channel)
            for name, export_format in (
                ("CSV", campaign_service_pb2.EXPORT_FORMAT_CSV),
                ("JSON lines", campaign_service_pb2.EXPORT_FORMAT_JSON_LINES),
            ):
                baseline = process.memory_info().rss
                peak = [baseline]
                done = threading.Event()

                def sample(peak: list[int] = peak, done: threading.Event = done) -> None:
                    while not done.wait(0.05):
                        peak[0] = max(peak[0], process.memory_info().rss)

                sampler = threading.Thread(target=sample, daemon=True)
                sampler.start()
                started = time.perf_counter()
                rows = size = 0
                for chunk in stub.ExportDeliveries(
                    campaign_service_pb2.ExportDeliveriesRequest(
                        campaign_id=campaign_id, format=export_format
                    )
                ):
                    rows += chunk.rows
                    size += len(chunk.data)
                elapsed = time.perf_counter() - started
                done.set()
                sampler.join()
                grown = (peak[0] - baseline) / 1e6
                print(
                    f"{name}: {rows:,} rows, {size / 1e6:.0f} MB in {elapsed:.1f} s "
                    f"({rows / elapsed:,.0f} rows/s); peak RSS +{grown:.1f} MB "
                    f"over {baseline / 1e6:.0f} MB (server and client in this process)"
                )
    finally:
        server.stop(0).wait()
        app.stop()


if __name__ == "__main__":
    main()
