"""`make demo`: run the whole stack on this machine and send the example campaign.

Starts the sandbox providers, the orchestrator, the three adapters and the
admin as local processes, submits `examples/spring-launch.yaml` with the
`brandcast` CLI, prints a per-channel summary and where to look at what was
sent, then keeps everything running for you until Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from local_stack import BIN, LocalStack, start_local_stack

from brandcast.shared.bus import EMBEDDED_BROKER_DIR_ENV, is_embedded
from brandcast.shared.config import DEFAULT_BROKER_URL
from brandcast.shared.devstack import port_open

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _broker_reachable(url: str) -> bool:
    parts = urlsplit(url)
    return port_open(parts.port or 5672, parts.hostname or "127.0.0.1")


def _print_posts(local: LocalStack) -> None:
    """Every post as the (strict) network emulators accepted it, X's included."""
    try:
        answer = httpx.get(f"{local.url('social_emulator')}/_emulator/posts", timeout=10)
        answer.raise_for_status()
        posts = answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        print(f"\n(could not read the posts from the social emulator: {exc})")
        return
    print(f"\nPosts as sent ({len(posts)}):")
    for post in posts:
        print(f"  [{post['network']}] {post['url']}")
        for line in str(post["text"]).splitlines() or [""]:
            print(f"    {line}")


def _print_where_to_look(local: LocalStack) -> None:
    print("\nWhere to look:")
    print(f"  emails (.eml files + index.jsonl)  {local.mail_dir}")
    print(f"  SMS the emulator received          {local.url('sms_emulator')}/_emulator/messages")
    print(f"  social posts                       {local.url('social_emulator')}/_emulator/posts")
    print(f"  gRPC API                           {local.grpc_address}")
    if local.admin_login:
        user, password = local.admin_login
        print(f"  admin                              {local.url('admin')}")
        print(f"  admin login                        {user} / {password}")
    print(f"  service logs                       {local.stack.log_dir}")
    print("  Prometheus metrics (each process serves only its own):")
    for process in sorted(local.metrics_ports):
        print(f"    {process:<32} {local.metrics_url(process)}")
    targets = _write_scrape_targets(local)
    print(f"  the same as Prometheus file_sd targets  {targets}")


def _write_scrape_targets(local: LocalStack) -> Path:
    """The metrics endpoints as a Prometheus ``file_sd_configs`` file, so a local
    Prometheus (``deploy/prometheus``) can scrape the demo as it is."""
    path = local.data_dir / "prometheus-targets.json"
    path.write_text(
        json.dumps(
            [
                {"targets": [f"127.0.0.1:{port}"], "labels": {"service": process}}
                for process, port in sorted(local.metrics_ports.items())
            ],
            indent=2,
        )
        + "\n"
    )
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--campaign", type=Path, default=HERE / "spring-launch.yaml")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "var" / "demo")
    parser.add_argument("--exit", action="store_true", help="stop everything after the summary")
    args = parser.parse_args()

    shutil.rmtree(args.data_dir, ignore_errors=True)
    broker_url = os.environ.get("BROKER_URL", DEFAULT_BROKER_URL)
    extra_env: dict[str, str] = {}
    if not is_embedded(broker_url) and not _broker_reachable(broker_url):
        folder = args.data_dir / "broker"
        print(
            f"RabbitMQ is not reachable at {urlsplit(broker_url).hostname}:"
            f"{urlsplit(broker_url).port or 5672}; using the embedded broker in {folder} "
            "(kombu's filesystem transport: fine for a demo, not for production)."
        )
        broker_url = "filesystem://"
        extra_env[EMBEDDED_BROKER_DIR_ENV] = str(folder.resolve())
        os.environ[EMBEDDED_BROKER_DIR_ENV] = str(folder.resolve())
    database_url = f"sqlite:///{args.data_dir / 'brandcast.db'}"
    print(f"Starting Brandcast (broker {broker_url.split('@')[-1]}, store {database_url})…")
    local = start_local_stack(
        args.data_dir,
        broker_url=broker_url,
        database_url=database_url,
        preferred_ports=True,
        with_admin=shutil.which("brandcast-admin", path=str(BIN)) is not None,
        extra_env=extra_env,
    )
    try:
        print(f"Sending {args.campaign.relative_to(ROOT)}…\n")
        sent = subprocess.run(
            [
                str(BIN / "brandcast"),
                "send",
                str(args.campaign),
                "--watch",
                "--address",
                local.grpc_address,
            ],
            check=False,
        )
        if sent.returncode != 0:
            print("\nThe campaign did not complete; see the logs below.", file=sys.stderr)
        _print_posts(local)
        _print_where_to_look(local)
        if args.exit or sent.returncode != 0:
            return sent.returncode
        print("\nEverything keeps running; press Ctrl-C to stop it all.")
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
        return 0
    finally:
        print("\nStopping…")
        local.stop()


if __name__ == "__main__":
    sys.exit(main())
