"""``brandcast-sms``: the worker, the callback webhooks and the provider emulator."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from brandcast.shared.config import load_settings
from brandcast.shared.logs import configure_logging
from brandcast.sms.bootstrap import ADAPTER
from brandcast.sms.emulator import EmulatorConfig, create_emulator
from brandcast.sms.settings import SmsSettings
from brandcast.sms.webhooks import create_webhooks_app


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="brandcast-sms", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    worker = commands.add_parser("worker", help="consume the SMS dispatch queue")
    worker.add_argument(
        "--concurrency", type=int, default=0, help="worker processes (SMS_WORKER_CONCURRENCY)"
    )
    worker.add_argument("--hostname", default="", help="Celery node name, e.g. sms1@%%h")

    hooks = commands.add_parser("webhooks", help="serve delivery reports and inbound replies")
    hooks.add_argument("--host", default="127.0.0.1")
    hooks.add_argument("--port", type=int, default=8031)

    emulator = commands.add_parser("emulator", help="a loopback Twilio/Vonage-style sandbox")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=8030)
    emulator.add_argument("--dir", type=Path, default=None, help="write messages.jsonl here")
    emulator.add_argument("--callback-delay", type=float, default=0.2)
    emulator.add_argument(
        "--inbound-url", default="", help="where simulated replies go (default: webhooks)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = load_settings(SmsSettings, "brandcast-sms")
    configure_logging(settings.log_level, settings.log_format, "sms")

    if args.command == "worker":
        try:
            ADAPTER.check_providers(settings)
        except ValueError as exc:  # a missing credential, a provider that cannot be loaded
            print(f"brandcast-sms: {exc}", file=sys.stderr)
            return 2
        ADAPTER.run_worker(settings, concurrency=args.concurrency, hostname=args.hostname)
        return 0
    if args.command == "webhooks":
        # Imported here: the worker command must set up multiprocess metrics first.
        from brandcast.shared.metrics import serve_metrics  # noqa: PLC0415

        serve_metrics(settings.metrics_port, role="webhooks")
        uvicorn.run(create_webhooks_app(settings), host=args.host, port=args.port, log_config=None)
        return 0

    config = EmulatorConfig(
        account_sid=settings.sms_twilio_account_sid,
        auth_token=settings.sms_twilio_auth_token,
        vonage_api_key=settings.sms_vonage_api_key,
        vonage_api_secret=settings.sms_vonage_api_secret,
        vonage_signature_secret=settings.sms_vonage_signature_secret,
        callback_delay=args.callback_delay,
        inbound_url=args.inbound_url or settings.sms_callback_base_url.rstrip("/") + "/inbound",
        vonage_inbound_url=settings.sms_callback_base_url.rstrip("/") + "/inbound/vonage",
        inbound_to=settings.sms_default_sender,
        directory=args.dir,
    )
    uvicorn.run(create_emulator(config).app, host=args.host, port=args.port, log_config=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
