"""``brandcast-social``: run the worker or the network emulator."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from brandcast.shared.config import load_settings
from brandcast.shared.logs import configure_logging
from brandcast.social.accounts import load_accounts
from brandcast.social.bootstrap import ADAPTER
from brandcast.social.settings import SocialSettings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="brandcast-social", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="consume brandcast.social and publish posts")
    worker.add_argument(
        "--concurrency", type=int, default=None, help="worker processes (SOCIAL_WORKER_CONCURRENCY)"
    )
    emulator = commands.add_parser("emulator", help="serve the Mastodon/Bluesky/X/LinkedIn sandbox")
    emulator.add_argument("--host", default="127.0.0.1")
    emulator.add_argument("--port", type=int, default=8040)
    emulator.add_argument("--mastodon-max-characters", type=int, default=500)
    return parser


def _run_worker(settings: SocialSettings, concurrency: int | None) -> int:
    for name in settings.social_networks:
        # Imported now: a network from another package registers its row of the channel
        # table on import, before the accounts file names it.
        ADAPTER.providers.resolve(name)
    if settings.social_accounts_file is not None:
        load_accounts(settings.social_accounts_file)  # fail now, not on the first post
    ADAPTER.run_worker(settings, concurrency=concurrency)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = load_settings(SocialSettings, "brandcast-social")
    configure_logging(settings.log_level, settings.log_format, service="brandcast-social")
    if args.command == "emulator":
        from brandcast.social.emulator import EmulatorState, serve  # noqa: PLC0415

        serve(
            args.host,
            args.port,
            EmulatorState(mastodon_max_characters=args.mastodon_max_characters),
        )
        return 0
    try:
        return _run_worker(settings, args.concurrency)
    except ValueError as exc:  # an invalid accounts file, a network that cannot be built
        print(f"brandcast-social: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
