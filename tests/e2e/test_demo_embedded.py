"""`make demo` without RabbitMQ: the demo falls back to the embedded broker and completes.

The machine's RabbitMQ is shared with every other test, so instead of stopping
it the demo is pointed at a broker address where nothing listens, which is what
it sees when RabbitMQ is down.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.process_groups import stop_group

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_demo_completes_on_the_embedded_broker(
    tmp_path: Path, own_redis_keys: dict[str, str]
) -> None:
    env = {**os.environ, "BROKER_URL": "amqp://guest:guest@127.0.0.1:1//", **own_redis_keys}
    env.pop("BROKER_FILESYSTEM_DIR", None)
    demo = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "demo.py"), "--exit", "--data-dir", str(tmp_path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        out, err = demo.communicate(timeout=240)
    finally:
        # A demo that timed out would leave its whole stack running (seen: orphaned
        # orchestrators, workers and emulators from an earlier run).
        stop_group(demo)
    output = (out + err).decode()
    assert demo.returncode == 0, output
    assert "using the embedded broker" in output
    assert "': completed" in output
    for line in (
        "email        4 total: sent 4",
        # `brandcast send --watch` follows until complete: the SMS delivery reports are in.
        "sms          4 total: delivered 4",
        "social       4 total: sent 4",
        "Posts as sent (4):",
    ):
        assert line in output, output
    # Every network's post, X's included (the X emulator counts weighted length as X does).
    for network in ("mastodon", "bluesky", "x", "linkedin"):
        assert f"  [{network}] http" in output, output
    assert len(list((tmp_path / "mail").glob("*.eml"))) == 4
    assert any((tmp_path / "broker").rglob("*")), "the embedded broker kept its messages on disk"
