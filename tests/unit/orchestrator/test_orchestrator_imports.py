"""What the orchestrator loads at start: every module imported is resident for
the life of the process (issue #23's memory target)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from brandcast.shared.control import CampaignControl


def _loaded_after(code: str, candidates: tuple[str, ...]) -> set[str]:
    # A fresh interpreter: this test session has long imported everything.
    probe = f"import sys\n{code}\nprint(' '.join(m for m in {candidates!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True, timeout=120
    )
    return set(done.stdout.split())


def test_the_orchestrator_loads_redis_only_when_a_campaign_is_controlled() -> None:
    # CONTROL_REDIS_URL always has a value; the client library costs the
    # orchestrator about 8 MB of RSS, for pauses and cancels that may never come.
    made = (
        "import brandcast.orchestrator.server\n"
        "from brandcast.shared.control import CampaignControl\n"
        "control = CampaignControl('redis://127.0.0.1:1/0', 'test')"
    )
    assert _loaded_after(made, ("redis",)) == set()
    used = (
        f"{made}\n"
        "from brandcast.shared.control import Control\n"
        "import contextlib\n"
        "with contextlib.suppress(Exception):\n"
        "    control.set('c1', Control.PAUSED)\n"
        "control.close()"
    )
    assert _loaded_after(used, ("redis",)) == {"redis"}


def test_a_control_client_refuses_a_url_that_is_not_redis_at_once() -> None:
    with pytest.raises(ValueError, match="not a Redis URL"):
        CampaignControl("http://127.0.0.1:6379/0", "test")
