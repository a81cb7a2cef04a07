"""A bad configuration value stops every service at start: exit status 2 and one
``invalid configuration: VARIABLE: reason`` line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    ("argv", "variable", "value", "reason"),
    [
        (["brandcast-orchestrator"], "DISPATCH_BATCH_SIZE", "0", "greater than or equal to 1"),
        (["brandcast-email", "worker"], "EMAIL_SMTP_PORT", "99999", "less than or equal to 65535"),
        (["brandcast-email", "webhooks"], "LOG_FORMAT", "xml", "'json' or 'text'"),
        (
            ["brandcast-sms", "worker"],
            "SMS_PROVIDERS",
            "twilio,carrier-pigeon",
            "No such SMS provider",
        ),
        (["brandcast-social", "worker"], "SOCIAL_HTTP_TIMEOUT", "soon", "valid number"),
        (["brandcast-admin", "serve"], "ADMIN_SESSION_MAX_AGE", "5", "greater than or equal"),
    ],
)
def test_bad_value_names_the_variable_and_exits_2(
    argv: list[str], variable: str, value: str, reason: str, tmp_path: Path
) -> None:
    env = {**os.environ, variable: value, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    done = subprocess.run(
        [str(BIN / argv[0]), *argv[1:]],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert f"{argv[0]}: invalid configuration: {variable}: " in done.stderr
    assert reason in done.stderr
    assert "Traceback" not in done.stderr
