"""brandcast: send, follow, preview, list and cancel campaigns from the command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from brandcast.client import _cli_format as fmt
from brandcast.client._audience import read_csv
from brandcast.client._config import (
    ADDRESS_ENV,
    DEFAULT_ADDRESS,
    DEFAULT_PORT,
    DEFAULT_TIMEOUT,
    TLS_CA_ENV,
    TOKEN_ENV,
    ClientConfig,
)
from brandcast.client._errors import (
    BrandcastError,
    DeadlineExceededError,
    InvalidArgumentError,
    UnavailableError,
)
from brandcast.client._retry import RetryPolicy
from brandcast.client._sync import Client
from brandcast.client.campaign_file import CampaignFileError, load_campaign
from brandcast.v1 import campaign_pb2, campaign_service_pb2

DESCRIPTION: Final = "Send, follow, preview, list, report on and cancel Brandcast campaigns."
EPILOG: Final = f"""\
examples:
  brandcast send examples/spring-launch.yaml --watch
  brandcast send campaign.yaml --audience customers.csv --watch
  brandcast preview examples/spring-launch.yaml
  brandcast list
  brandcast status CAMPAIGN_ID
  brandcast deliveries CAMPAIGN_ID --format csv > report.csv
  brandcast cancel CAMPAIGN_ID
  brandcast pause CAMPAIGN_ID; brandcast resume CAMPAIGN_ID
  brandcast duplicate CAMPAIGN_ID --name "Spring blend, again"

environment:
  {ADDRESS_ENV}   orchestrator host[:port] (default {DEFAULT_ADDRESS}; port {DEFAULT_PORT} if none)
  {TOKEN_ENV}     API bearer token (the orchestrator's API_TOKENS)
  {TLS_CA_ENV}    PEM file of the CA that signed the orchestrator's certificate; turns TLS on

A campaign file is YAML in the protobuf JSON mapping of brandcast.v1.CampaignSpec
(protos/brandcast/v1/campaign.proto); field names in snake_case or camelCase.
"""

EXIT_INTERRUPTED: Final = 130
EXPORT_FORMATS: Final = {
    "csv": campaign_service_pb2.EXPORT_FORMAT_CSV,
    "jsonl": campaign_service_pb2.EXPORT_FORMAT_JSON_LINES,
}


class _InterruptedError(Exception):
    """Ctrl-C, with what to tell the user about the campaign being followed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _client(args: argparse.Namespace) -> Client:
    # The CLI retries less than the library: someone is waiting at the terminal.
    return Client(
        args.address,
        token=args.token,
        tls_ca=args.tls_ca,
        timeout=args.timeout,
        retry=RetryPolicy(attempts=3),
    )


def _follow(client: Client, campaign_id: str) -> int:
    """Print progress until every delivery settled; Ctrl-C stops watching, not the campaign."""
    campaign = client.get_campaign(campaign_id)
    starts = fmt.start_time(campaign)
    if starts is not None:
        print(f"waiting for the send date: starts {fmt.starts_in(starts)}", flush=True)
    try:
        last = ""
        for event in client.watch(campaign_id):
            if event.WhichOneof("event") != "progress":
                continue
            line = "\n".join([fmt.progress_line(event.progress), *fmt.pace_lines(event.progress)])
            if line != last:
                print(line, flush=True)
                last = line
    except KeyboardInterrupt:
        raise _InterruptedError(
            f"stopped watching; campaign {campaign_id} goes on. "
            f"Follow it again with: brandcast watch {campaign_id}"
        ) from None
    for line in fmt.campaign_lines(client.get_campaign(campaign_id)):
        print(line)
    return 0


def _send(args: argparse.Namespace) -> int:
    spec = load_campaign(args.file)
    audience = read_csv(args.audience) if args.audience else None
    with _client(args) as client:
        result = client.submit_campaign(
            spec,
            audience=audience,
            idempotency_key=args.idempotency_key or None,
            skip_invalid_addresses=args.skip_invalid_addresses,
            test=args.test,
        )
        for warning in result.warnings:
            print(f"warning: {warning.field}: {warning.message}", file=sys.stderr)
        for skipped in result.skipped:
            print(fmt.skipped_line(skipped), file=sys.stderr)
        if result.merged_duplicates:
            print(
                f"note: {result.merged_duplicates} deliveries merged: recipients shared an address",
                file=sys.stderr,
            )
        print(("duplicate of " if result.duplicate else "accepted ") + result.campaign.id)
        starts = fmt.start_time(result.campaign)
        if starts is not None and not args.watch:
            print(f"scheduled: starts {fmt.starts_in(starts)}")
        if not args.watch:
            return 0
        return _follow(client, result.campaign.id)


def _watch(args: argparse.Namespace) -> int:
    with _client(args) as client:
        return _follow(client, args.campaign_id)


def _status(args: argparse.Namespace) -> int:
    with _client(args) as client:
        campaign = client.get_campaign(args.campaign_id)
    for line in fmt.campaign_lines(campaign):
        print(line)
    starts = fmt.start_time(campaign)
    if starts is not None:
        print(f"  starts {fmt.starts_in(starts)}")
    return 0


def _list(args: argparse.Namespace) -> int:
    with _client(args) as client:
        for shown, campaign in enumerate(client.list_campaigns(page_size=min(args.limit, 500))):
            if shown == args.limit:
                break
            total = sum(c.total for c in campaign.counters)
            failed = sum(c.failed + c.bounced for c in campaign.counters)
            created = campaign.created_at.ToDatetime().strftime("%Y-%m-%d %H:%M")
            print(
                f"{campaign.id}  {created}  {fmt.state_name(campaign.state):<11} "
                f"{total:>7} deliveries  {failed:>5} failed  {campaign.spec.name}"
            )
    return 0


def _cancel(args: argparse.Namespace) -> int:
    with _client(args) as client:
        response = client.cancel_campaign(args.campaign_id)
    print(f"cancelled {response.cancelled} deliveries")
    for line in fmt.campaign_lines(response.campaign):
        print(line)
    return 0


def _deliveries(args: argparse.Namespace) -> int:
    status = (
        campaign_pb2.DeliveryStatus.Value(f"DELIVERY_STATUS_{args.status.upper()}")
        if args.status
        else campaign_pb2.DELIVERY_STATUS_UNSPECIFIED
    )
    channel = (
        campaign_pb2.Channel.Value(f"CHANNEL_{args.channel.upper()}")
        if args.channel
        else campaign_pb2.CHANNEL_UNSPECIFIED
    )
    with _client(args) as client:
        if args.format in EXPORT_FORMATS:
            # The server's export: every column, streamed in flat memory whatever the size.
            for data in client.export_deliveries(
                args.campaign_id,
                export_format=EXPORT_FORMATS[args.format],
                channel=channel,
                status=status,
            ):
                sys.stdout.buffer.write(data)
            sys.stdout.flush()
            return 0
        for delivery in client.list_deliveries(
            args.campaign_id, channel=channel, status=status, page_size=1000
        ):
            print(fmt.delivery_line(delivery))
    return 0


def _pause(args: argparse.Namespace) -> int:
    with _client(args) as client:
        campaign = client.pause_campaign(args.campaign_id)
    print("\n".join(fmt.campaign_lines(campaign)))
    return 0


def _resume(args: argparse.Namespace) -> int:
    with _client(args) as client:
        campaign = client.resume_campaign(args.campaign_id)
    print("\n".join(fmt.campaign_lines(campaign)))
    return 0


def _duplicate(args: argparse.Namespace) -> int:
    with _client(args) as client:
        campaign = client.duplicate_campaign(args.campaign_id, name=args.name)
    print(f"created {campaign.id} from {args.campaign_id}")
    print("\n".join(fmt.campaign_lines(campaign)))
    return 0


def _preview(args: argparse.Namespace) -> int:
    spec = load_campaign(args.file)
    sample = args.sample or min(max(len(spec.audience), 1), 100)
    with _client(args) as client:
        response = client.preview_campaign(spec, sample_size=sample)
    objects = fmt.preview_objects(spec, response)
    if args.json:
        print(json.dumps(objects, indent=2, ensure_ascii=False))
        return 0
    for warning in response.warnings:
        print(f"warning: {warning.field}: {warning.message} [{warning.code}]")
    for item in objects:
        print("\n".join(fmt.preview_text(item)))
        print()
    return 0


def build_parser() -> argparse.ArgumentParser:
    server = argparse.ArgumentParser(add_help=False)
    group = server.add_argument_group("orchestrator")
    group.add_argument(
        "--address",
        default=None,
        help=f"host[:port] (env {ADDRESS_ENV}; default {DEFAULT_ADDRESS}, port {DEFAULT_PORT})",
    )
    group.add_argument("--token", default=None, help=f"API bearer token (env {TOKEN_ENV})")
    group.add_argument(
        "--tls-ca", default=None, help=f"PEM CA file; turns TLS on (env {TLS_CA_ENV})"
    )
    group.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per call (default 30)"
    )

    parser = argparse.ArgumentParser(
        prog="brandcast",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help_text, description=help_text, parents=[server])

    send = command("send", "submit a campaign file")
    send.add_argument("file", type=Path)
    send.add_argument("--audience", type=Path, help="CSV of recipients, streamed (header row)")
    send.add_argument("--watch", action="store_true", help="follow until every delivery settled")
    send.add_argument("--idempotency-key", default="", help="resubmitting with it is harmless")
    send.add_argument(
        "--skip-invalid-addresses",
        action="store_true",
        help="send a recipient's other channels when one address is invalid",
    )
    send.add_argument("--test", action="store_true", help="a test send (at most 10 recipients)")
    send.set_defaults(run=_send)

    watch = command("watch", "follow a campaign until every delivery settled")
    watch.add_argument("campaign_id")
    watch.set_defaults(run=_watch)

    status = command("status", "show a campaign's state and counters")
    status.add_argument("campaign_id")
    status.set_defaults(run=_status)

    listing = command("list", "list campaigns, newest first")
    listing.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    listing.set_defaults(run=_list)

    cancel = command("cancel", "cancel the deliveries not yet handed to a provider")
    cancel.add_argument("campaign_id")
    cancel.set_defaults(run=_cancel)

    deliveries = command("deliveries", "list a campaign's deliveries (a report)")
    deliveries.add_argument("campaign_id")
    deliveries.add_argument("--format", choices=("text", "csv", "jsonl"), default="text")
    deliveries.add_argument("--status", choices=fmt.STATUS_NAMES, default=None)
    deliveries.add_argument("--channel", choices=("email", "sms", "social"), default=None)
    deliveries.set_defaults(run=_deliveries)

    pause = command("pause", "stop releasing a campaign's deliveries (resume goes on)")
    pause.add_argument("campaign_id")
    pause.set_defaults(run=_pause)

    resume = command("resume", "release a paused campaign's deliveries again")
    resume.add_argument("campaign_id")
    resume.set_defaults(run=_resume)

    duplicate = command("duplicate", "create a new campaign from an earlier one")
    duplicate.add_argument("campaign_id")
    duplicate.add_argument("--name", default="", help='default: "<old name> (copy)"')
    duplicate.set_defaults(run=_duplicate)

    preview = command("preview", "render a campaign file's variants on the server; sends nothing")
    preview.add_argument("file", type=Path)
    preview.add_argument("--json", action="store_true", help="print JSON")
    preview.add_argument("--sample", type=int, default=0, help="audience members to render")
    preview.set_defaults(run=_preview)
    return parser


def _report(error: BrandcastError, args: argparse.Namespace) -> None:
    print(f"error: {error.code.name}: {error.message}", file=sys.stderr)
    if isinstance(error, InvalidArgumentError):
        for violation in error.violations:
            print(f"  {violation.field}: {violation.description}", file=sys.stderr)
    elif isinstance(error, UnavailableError | DeadlineExceededError):
        address = ClientConfig.resolve(args.address).describe()
        print(
            f"hint: is the orchestrator running and reachable at {address}? "
            f"Set --address or {ADDRESS_ENV} (host[:port]); with TLS, --tls-ca or {TLS_CA_ENV}.",
            file=sys.stderr,
        )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except CampaignFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrandcastError as exc:
        _report(exc, args)
        # Like a bad file: the input is wrong, and sending it again will not help.
        return 2 if isinstance(exc, InvalidArgumentError) else 1
    except _InterruptedError as exc:
        print(f"\n{exc.message}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0  # `brandcast deliveries ID | head`
    return code


if __name__ == "__main__":
    sys.exit(main())
