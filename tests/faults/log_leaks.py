"""Personal data and secrets in service logs (scenario 16): what counts as a leak.

Every rig scans its own logs when it stops (``rig.running_rig``), so each rig of
the session is checked whichever pytest-xdist worker ran it; the scenario's own
test (``tests/security/test_security_logs.py``) runs the stack that logs the most.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}", re.IGNORECASE)
E164 = re.compile(r"(?<![\w/.])\+\d{8,15}(?!\d)")
BEARER = re.compile(r"(?i)bearer\s+(?!\[redacted\])[\w.~+/=-]{8,}")


def leaks(text: str, secrets: Iterable[str] = ()) -> list[str]:
    found = EMAIL.findall(text) + E164.findall(text) + BEARER.findall(text)
    found += [secret for secret in secrets if secret and secret in text]
    # Celery's banner names its module by file path; nothing else may match.
    return [hit for hit in found if not hit.endswith((".py", ".log"))]


@dataclass
class LogScan:
    files: list[Path]
    lines: int = 0
    #: File -> up to 10 of its leaks.
    found: dict[str, list[str]] = field(default_factory=dict)


def scan_logs(folders: Iterable[Path], secrets: Iterable[str] = ()) -> LogScan:
    secrets = list(secrets)
    scan = LogScan(sorted({path for folder in folders for path in folder.glob("*.log")}))
    for path in scan.files:
        text = path.read_text(errors="replace")
        scan.lines += text.count("\n")
        hits = leaks(text, secrets)
        if hits:
            scan.found[str(path)] = sorted(set(hits))[:10]
    return scan
