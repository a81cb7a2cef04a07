"""``brandcast``: send, follow and preview campaigns from the command line.

A campaign file is YAML in the protobuf JSON mapping of ``CampaignSpec``
(``name``, ``brand_kit``, ``core_message``, ``channels``, ``audience``,
``schedule.send_at``...), so every field of the contract can be written and a
misspelt one is an error naming it.

    brandcast send examples/spring-launch.yaml --watch
    brandcast status 3f0c...
    brandcast preview examples/spring-launch.yaml --json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
import yaml
from google.protobuf import json_format
from google.rpc import error_details_pb2  # type: ignore[import-untyped]
from grpc_status import rpc_status

from brandcast.orchestrator.intake import inline_audience_violations
from brandcast.orchestrator.rendering import CampaignRenderer, RenderError
from brandcast.orchestrator.validation import validate_spec
from brandcast.shared import channels
from brandcast.v1 import campaign_pb2, campaign_service_pb2, campaign_service_pb2_grpc, variant_pb2

_STATUS_NAMES = (
    "pending",
    "scheduled",
    "queued",
    "sent",
    "delivered",
    "failed",
    "bounced",
    "suppressed",
    "cancelled",
)


class CampaignFileError(Exception):
    """The campaign file cannot be read as a CampaignSpec."""


def _plain(value: Any) -> Any:
    # YAML turns unquoted timestamps into datetimes; the JSON mapping wants RFC 3339.
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def load_campaign(path: Path) -> campaign_pb2.CampaignSpec:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CampaignFileError(f"{path}: {exc}") from exc
    if not isinstance(data, dict):
        raise CampaignFileError(f"{path}: expected a mapping of CampaignSpec fields")
    try:
        return json_format.ParseDict(_plain(data), campaign_pb2.CampaignSpec())
    except json_format.ParseError as exc:
        raise CampaignFileError(f"{path}: {exc}") from exc


def _channel_name(channel: int) -> str:
    return channels.channel(channel).name


def _counter_line(counter: campaign_pb2.ChannelCounters) -> str:
    parts = [f"{name} {getattr(counter, name)}" for name in _STATUS_NAMES if getattr(counter, name)]
    return f"  {_channel_name(counter.channel):<7} {counter.total:>6} total: " + ", ".join(parts)


def _print_campaign(campaign: campaign_pb2.Campaign) -> None:
    state = campaign_pb2.CampaignState.Name(campaign.state).removeprefix("CAMPAIGN_STATE_")
    print(f"campaign {campaign.id} {campaign.spec.name!r}: {state.lower()}")
    for counter in campaign.counters:
        print(_counter_line(counter))


def _stub(args: argparse.Namespace) -> tuple[campaign_service_pb2_grpc.CampaignServiceStub, Any]:
    channel = grpc.insecure_channel(args.address)
    metadata = (("authorization", f"Bearer {args.token}"),) if args.token else ()
    return campaign_service_pb2_grpc.CampaignServiceStub(channel), metadata


def _send(args: argparse.Namespace) -> int:
    spec = load_campaign(Path(args.file))
    stub, metadata = _stub(args)
    response = stub.SubmitCampaign(
        campaign_service_pb2.SubmitCampaignRequest(spec=spec, idempotency_key=args.idempotency_key),
        metadata=metadata,
        timeout=args.timeout,
    )
    for warning in response.warnings:
        print(f"warning: {warning.field}: {warning.message}", file=sys.stderr)
    print(("duplicate of " if response.duplicate else "accepted ") + response.campaign.id)
    if not args.watch:
        return 0
    last: campaign_service_pb2.CampaignProgress | None = None
    for event in stub.WatchCampaign(
        campaign_service_pb2.WatchCampaignRequest(campaign_id=response.campaign.id),
        metadata=metadata,
    ):
        if event.WhichOneof("event") != "progress":
            continue
        last = event.progress
        done = sum(c.total - c.pending - c.scheduled - c.queued for c in last.counters)
        total = sum(c.total for c in last.counters)
        print(f"progress: {done}/{total} deliveries settled", flush=True)
    final = stub.GetCampaign(
        campaign_service_pb2.GetCampaignRequest(campaign_id=response.campaign.id),
        metadata=metadata,
        timeout=args.timeout,
    ).campaign
    _print_campaign(final)
    return 0


def _status(args: argparse.Namespace) -> int:
    stub, metadata = _stub(args)
    campaign = stub.GetCampaign(
        campaign_service_pb2.GetCampaignRequest(campaign_id=args.campaign_id),
        metadata=metadata,
        timeout=args.timeout,
    ).campaign
    _print_campaign(campaign)
    return 0


def preview_objects(spec: campaign_pb2.CampaignSpec) -> list[dict[str, Any]]:
    """One JSON object per rendered variant of every audience member and account."""
    # The same checks as submit: a preview never shows what submit then refuses.
    violations = validate_spec(spec) + inline_audience_violations(spec)
    if violations:
        raise RenderError(violations)
    renderer = CampaignRenderer(spec)
    accounts = {a.id: a for a in spec.brand_kit.social_accounts}
    out: list[dict[str, Any]] = []
    members = {r.id: r for r in spec.audience}
    for variant in renderer.preview(list(spec.audience)):
        item: dict[str, Any] = {"channel": _channel_name(variant.channel)}
        kind = variant.WhichOneof("variant")
        member = members.get(variant.recipient_id)
        # Like submit: no email delivery without an address, no SMS without a phone.
        if member is not None and (
            (kind == "email" and not member.email) or (kind == "sms" and not member.phone)
        ):
            continue
        if kind == "email":
            email = variant.email
            item |= {"recipient": variant.recipient_id, "subject": email.subject}
            item |= {"preheader": email.preheader, "html": email.html, "text": email.text}
        elif kind == "sms":
            sms = variant.sms
            item |= {"recipient": variant.recipient_id, "text": sms.text}
            item |= {"encoding": _sms_encoding(sms.encoding), "segments": sms.segments}
        elif kind == "social":
            post = variant.social
            account = accounts.get(variant.recipient_id)
            network = account.network if account else post.network
            item |= {"account": variant.recipient_id, "network": _network_name(network)}
            item |= {"text": post.text, "length": post.length}
        item["warnings"] = [
            {"code": w.code, "message": w.message, "field": w.field} for w in variant.warnings
        ]
        out.append(item)
    return out


def _sms_encoding(value: int) -> str:
    return variant_pb2.SmsEncoding.Name(value).removeprefix("SMS_ENCODING_").lower()  # type: ignore[arg-type]


def _network_name(value: int) -> str:
    return channels.network(value).name


def _preview(args: argparse.Namespace) -> int:
    objects = preview_objects(load_campaign(Path(args.file)))
    if args.json:
        print(json.dumps(objects, indent=2, ensure_ascii=False))
        return 0
    for item in objects:
        who = item.get("recipient") or f"{item.get('account')} ({item.get('network')})"
        print(f"--- {item['channel']} · {who}")
        print(item.get("subject") or item.get("text", ""))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="brandcast", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    def with_server(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--address",
            default=os.environ.get("BRANDCAST_ADDRESS", "127.0.0.1:50051"),
            help="orchestrator host:port (env BRANDCAST_ADDRESS)",
        )
        command.add_argument(
            "--token",
            default=os.environ.get("BRANDCAST_TOKEN", ""),
            help="API bearer token (env BRANDCAST_TOKEN)",
        )
        command.add_argument("--timeout", type=float, default=30.0, help="seconds per call")

    send = commands.add_parser("send", help="submit a campaign file")
    send.add_argument("file")
    send.add_argument("--watch", action="store_true", help="follow until every delivery settled")
    send.add_argument("--idempotency-key", default="", help="resubmitting with it is harmless")
    with_server(send)
    send.set_defaults(run=_send)

    status = commands.add_parser("status", help="show a campaign's state and counters")
    status.add_argument("campaign_id")
    with_server(status)
    status.set_defaults(run=_status)

    preview = commands.add_parser("preview", help="render a campaign file locally")
    preview.add_argument("file")
    preview.add_argument("--json", action="store_true", help="print JSON")
    preview.set_defaults(run=_preview)
    return parser


def _report_rpc_error(error: grpc.RpcError) -> None:
    code = error.code() if isinstance(error, grpc.Call) else None
    details = error.details() if isinstance(error, grpc.Call) else str(error)
    print(f"error: {code.name if code else 'RPC'}: {details}", file=sys.stderr)
    status = rpc_status.from_call(error) if isinstance(error, grpc.Call) else None
    details_list: list[Any] = list(status.details) if status else []
    for detail in details_list:
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            for violation in bad_request.field_violations:
                print(f"  {violation.field}: {violation.description}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except CampaignFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RenderError as exc:
        for violation in exc.violations:
            print(f"error: {violation.field}: {violation.description}", file=sys.stderr)
        return 2
    except grpc.RpcError as exc:
        _report_rpc_error(exc)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
