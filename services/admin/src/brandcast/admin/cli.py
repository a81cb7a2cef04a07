"""``brandcast-admin serve`` and ``brandcast-admin hash-password``."""

from __future__ import annotations

import argparse
import getpass
import sys

import uvicorn

from brandcast.admin.app import create_app
from brandcast.admin.brand_kits import BrandKitsError
from brandcast.admin.settings import AdminSettings
from brandcast.admin.users import UsersConfigError, hash_password
from brandcast.shared.config import CommonSettings, load_settings
from brandcast.shared.logs import configure_logging
from brandcast.shared.metrics import serve_metrics


def _serve(args: argparse.Namespace) -> int:
    # LOG_LEVEL / LOG_FORMAT / LOG_REDACT as in every service; uvicorn's loggers
    # (log_config=None) go through the same redacting handler.
    common = load_settings(CommonSettings, "brandcast-admin")
    configure_logging(common.log_level, common.log_format, "brandcast-admin")
    serve_metrics(common.metrics_port, role="admin")
    settings = load_settings(AdminSettings, "brandcast-admin")
    try:
        app = create_app(settings)
    except (UsersConfigError, BrandKitsError) as exc:
        print(f"brandcast-admin: invalid configuration: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, proxy_headers=False)
    return 0


def _hash_password(args: argparse.Namespace) -> int:
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("brandcast-admin: the passwords differ", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\n")
    try:
        encoded = hash_password(password)
    except ValueError as exc:
        print(f"brandcast-admin: {exc}", file=sys.stderr)
        return 1
    name = args.user
    print(f"{name}:{encoded}" if name else encoded)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="brandcast-admin", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the admin web app")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.set_defaults(handler=_serve)
    hasher = commands.add_parser(
        "hash-password",
        help="print an argon2 hash for ADMIN_USERS (password read from the terminal or stdin)",
    )
    hasher.add_argument("--user", default="", help="print name:hash, ready for ADMIN_USERS")
    hasher.set_defaults(handler=_hash_password)
    args = parser.parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
