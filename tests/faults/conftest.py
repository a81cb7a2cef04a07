"""Fixtures of the fault suite: the repository root on ``sys.path`` so tests can
import ``tests.faults.rig`` and the example stack, and a figure reporter."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for path in (ROOT, ROOT / "examples"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
