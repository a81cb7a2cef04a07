"""Safe production defaults: compose will not start a deployment that would send
recipients a localhost unsubscribe link or run a generated admin login."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from brandcast.orchestrator.settings import OrchestratorSettings, public_url_problem

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
ENV_EXAMPLE = (REPO / ".env.example").read_text(encoding="utf-8")


def _example(name: str) -> str:
    match = re.search(rf"^{name}=(.*)$", ENV_EXAMPLE, re.MULTILINE)
    assert match, name
    return match[1].strip().strip("'")


def test_compose_requires_the_unsubscribe_url_and_admin_users() -> None:
    orchestrator = COMPOSE["services"]["orchestrator"]["environment"]
    admin = COMPOSE["services"]["admin"]["environment"]
    assert orchestrator["UNSUBSCRIBE_BASE_URL"].startswith("${UNSUBSCRIBE_BASE_URL:?")
    assert orchestrator["UNSUBSCRIBE_URL_PUBLIC"] == "true"
    assert admin["ADMIN_USERS"].startswith("${ADMIN_USERS:?")
    assert admin["ADMIN_DEMO_USER"] == "false"


def test_env_example_marks_both_as_ones_to_change() -> None:
    for name in ("UNSUBSCRIBE_BASE_URL", "ADMIN_USERS"):
        comment = ENV_EXAMPLE.split(f"\n{name}=")[0].rsplit("\n\n", 1)[-1]
        assert "CHANGE ME (required)" in comment, name


def test_the_orchestrator_refuses_the_example_placeholder_and_local_urls() -> None:
    for url in (
        _example("UNSUBSCRIBE_BASE_URL"),
        "http://127.0.0.1:8025/unsubscribe",
        "https://localhost/unsubscribe",
        "https://10.0.0.5/unsubscribe",
        "http://news.acme.com/unsubscribe",
    ):
        with pytest.raises(ValidationError, match="UNSUBSCRIBE_BASE_URL"):
            OrchestratorSettings(unsubscribe_base_url=url, unsubscribe_url_public=True)
    accepted = OrchestratorSettings(
        unsubscribe_base_url="https://links.acme.com/unsubscribe", unsubscribe_url_public=True
    )
    assert accepted.unsubscribe_base_url.startswith("https://links.acme.com")
    assert public_url_problem("https://links.acme.com/unsubscribe") == ""


def test_the_one_machine_default_keeps_its_loopback_url() -> None:
    assert OrchestratorSettings().unsubscribe_base_url.startswith("http://127.0.0.1")
