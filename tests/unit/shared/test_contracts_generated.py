"""The generated contract code must match what protos/ generates now."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
GENERATED = ROOT / "protos" / "python" / "src" / "brandcast" / "v1"


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "protos" / "generate.py"), str(tmp_path)],
        check=True,
        capture_output=True,
    )
    fresh = tmp_path / "brandcast" / "v1"
    names = sorted(p.name for p in fresh.iterdir())
    assert names == sorted(p.name for p in GENERATED.iterdir() if p.suffix in {".py", ".pyi"})
    match, mismatch, errors = filecmp.cmpfiles(fresh, GENERATED, names, shallow=False)
    assert not mismatch, f"stale generated files, run `make protos`: {mismatch}"
    assert not errors
    assert len(match) == len(names) >= 8
