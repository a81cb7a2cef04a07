"""Every configuration value has one line in the README's tables, with its default."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from brandcast.admin.settings import AdminSettings
from brandcast.email.settings import EmailSettings
from brandcast.orchestrator.settings import OrchestratorSettings
from brandcast.shared.config import CommonSettings
from brandcast.sms.settings import SmsSettings
from brandcast.social.settings import SocialSettings

README = (Path(__file__).resolve().parents[3] / "README.md").read_text()


def table_rows() -> dict[str, list[str]]:
    """Variable -> the defaults its lines give (a shared variable has one line per service)."""
    rows: dict[str, list[str]] = {}
    for line in README.splitlines():
        found = re.match(r"\| `([A-Z0-9_]+)` \| (.*?) \|", line)
        if found:
            rows.setdefault(found.group(1), []).append(found.group(2))
    return rows


@pytest.mark.parametrize(
    "settings",
    [
        CommonSettings,
        OrchestratorSettings,
        EmailSettings,
        SmsSettings,
        SocialSettings,
        AdminSettings,
    ],
)
def test_every_variable_is_documented_with_its_default(settings: type[BaseSettings]) -> None:
    rows = table_rows()
    prefix = str(settings.model_config.get("env_prefix") or "")
    for name, field in settings.model_fields.items():
        variable = (prefix + name).upper()
        assert variable in rows, f"{variable} has no line in the README"
        default = field.default
        if isinstance(default, tuple):
            default = ",".join(default)
        if default is None or default == "":
            assert "(empty)" in rows[variable], variable
        elif isinstance(default, bool):
            assert f"`{str(default).lower()}`" in rows[variable], variable
        elif isinstance(default, float) and default.is_integer():
            # Seconds and rates read as `10`, not `10.0`; both name the same value.
            assert {f"`{default}`", f"`{int(default)}`"} & set(rows[variable]), variable
        else:
            assert f"`{default}`" in rows[variable], variable
