"""The loopback sandboxes as their own processes: the SMTP sink and the SMS emulator,
for the designs compared with ours (the naive design, Apprise)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import harness  # noqa: F401 - puts examples/ on sys.path
from local_stack import BIN

from brandcast.shared.devstack import DevStack, Process, free_port


@dataclass(frozen=True)
class Sinks:
    smtp_port: int
    sms_url: str
    mail_dir: Path


@contextlib.contextmanager
def running_sinks(data_dir: Path) -> Iterator[Sinks]:
    smtp_port, sms_port = free_port(), free_port()
    host = ["--host", "127.0.0.1"]
    with DevStack(data_dir / "logs") as stack:
        stack.start(
            Process(
                "smtp-sink",
                [
                    str(BIN / "brandcast-email"),
                    *("sink", *host, "--port", str(smtp_port), "--dir", str(data_dir / "mail")),
                ],
                {"LOG_LEVEL": "WARNING"},
                port=smtp_port,
            )
        )
        stack.start(
            Process(
                "sms-emulator",
                [str(BIN / "brandcast-sms"), "emulator", *host, "--port", str(sms_port)],
                {"LOG_LEVEL": "WARNING"},
                port=sms_port,
            )
        )
        yield Sinks(smtp_port, f"http://127.0.0.1:{sms_port}", data_dir / "mail")
