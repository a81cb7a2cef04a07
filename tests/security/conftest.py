"""Fixtures of the security suite: the repository root on ``sys.path`` so tests can
import ``tests.faults.rig`` (the in-process API and the SMS rig)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for path in (ROOT, ROOT / "examples"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
