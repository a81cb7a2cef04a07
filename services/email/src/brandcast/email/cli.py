"""``brandcast-email``: the email adapter's entry points.

    brandcast-email worker [--concurrency N]         Celery worker on brandcast.email
    brandcast-email webhooks [--host H] [--port P]    Postmark webhooks + unsubscribe
    brandcast-email sink [--host H] [--port P] [--dir D] [--fail ADDR=CODE[:TIMES]]
    brandcast-email postmark-emulator [--host H] [--port P] [--token T]
    brandcast-email send-sample --to ADDR [--count N]  publish a sample batch to try a worker

Settings come from the environment (see the README); a bad value stops the
command with a message naming the variable.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

import uvicorn

from brandcast.email.bootstrap import ADAPTER
from brandcast.email.sandbox.postmark_emulator import PostmarkEmulator
from brandcast.email.sandbox.samples import sample_batch, sample_item
from brandcast.email.sandbox.smtp_sink import FailureRule, start_sink
from brandcast.email.settings import EmailSettings
from brandcast.email.webhooks import create_webhooks_app
from brandcast.shared.bus import BusPublisher
from brandcast.shared.config import load_settings
from brandcast.shared.http_thread import serve_in_thread
from brandcast.shared.logs import configure_logging


def _settings() -> EmailSettings:
    return load_settings(EmailSettings, "brandcast-email")


def _worker(args: argparse.Namespace) -> None:

    settings = _settings()
    configure_logging(settings.log_level, settings.log_format, "brandcast-email")
    try:
        ADAPTER.check_providers(settings)
    except ValueError as exc:
        sys.exit(f"brandcast-email: {exc}")
    ADAPTER.run_worker(settings, concurrency=args.concurrency)


def _webhooks(args: argparse.Namespace) -> None:

    settings = _settings()
    configure_logging(settings.log_level, settings.log_format, "brandcast-email-webhooks")
    # Imported here: the worker command must set up multiprocess metrics first.
    from brandcast.shared.metrics import serve_metrics  # noqa: PLC0415

    serve_metrics(settings.metrics_port, role="webhooks")
    uvicorn.run(create_webhooks_app(settings), host=args.host, port=args.port, log_config=None)


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def _sink(args: argparse.Namespace) -> None:
    # aiosmtpd logs every SMTP command at INFO: good for watching a demo, but at a few
    # hundred messages a second the redacted log lines cost the sink more than the mail.
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"), "text", "brandcast-email-sink")
    try:
        failures = dict(FailureRule.parse(spec) for spec in args.fail)
    except ValueError as exc:
        sys.exit(f"brandcast-email sink: {exc}")
    controller, port = start_sink(Path(args.dir), args.port, host=args.host, failures=failures)
    print(f"SMTP sink listening on {args.host}:{port}, storing in {args.dir}", flush=True)
    try:
        _wait_for_signal()
    finally:
        controller.stop()


def _postmark_emulator(args: argparse.Namespace) -> None:

    configure_logging("INFO", "text", "brandcast-email-postmark-emulator")
    emulator = PostmarkEmulator(args.token)
    server = serve_in_thread(emulator.app, host=args.host, port=args.port)
    print(f"Postmark emulator on {server.url} (token {args.token!r})", flush=True)
    try:
        _wait_for_signal()
    finally:
        server.stop()


def _send_sample(args: argparse.Namespace) -> None:
    settings = _settings()
    items = [sample_item(args.to, number) for number in range(1, args.count + 1)]
    batch = sample_batch(items)
    with BusPublisher(settings.broker_url, origin="brandcast-email-cli") as publisher:
        publisher.declare_topology()
        publisher.publish_dispatch(batch)
    print(f"published batch {batch.batch_id} with {len(items)} email(s) to {args.to}", flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="brandcast-email", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    worker = commands.add_parser("worker", help="run the Celery worker on the email queue")
    worker.add_argument(
        "--concurrency",
        type=int,
        default=0,
        help="worker processes (default EMAIL_WORKER_CONCURRENCY)",
    )
    worker.set_defaults(run=_worker)

    webhooks = commands.add_parser("webhooks", help="serve provider webhooks and unsubscribe")
    webhooks.add_argument("--host", default="127.0.0.1")
    webhooks.add_argument("--port", type=int, default=8025)
    webhooks.set_defaults(run=_webhooks)

    sink = commands.add_parser("sink", help="run the loopback SMTP sink")
    sink.add_argument("--host", default="127.0.0.1")
    sink.add_argument("--port", type=int, default=2525)
    sink.add_argument("--dir", default="var/mail", help="where .eml files and index.jsonl go")
    sink.add_argument(
        "--fail",
        action="append",
        default=[],
        metavar="ADDR=CODE[:TIMES]",
        help="refuse ADDR with SMTP CODE (TIMES times, default always)",
    )
    sink.set_defaults(run=_sink)

    emulator = commands.add_parser("postmark-emulator", help="run the loopback Postmark API")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=8031)
    emulator.add_argument("--token", default="sandbox-token")
    emulator.set_defaults(run=_postmark_emulator)

    sample = commands.add_parser("send-sample", help="publish a sample dispatch batch")
    sample.add_argument("--to", required=True, help="recipient address")
    sample.add_argument("--count", type=int, default=1)
    sample.set_defaults(run=_send_sample)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
