"""Every example of docs/calling-brandcast.md runs, in order, against a real orchestrator."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.integration.client.harness import Served
from tests.own_thread import run_on_own_thread

DOC = Path(__file__).resolve().parents[3] / "docs" / "calling-brandcast.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_the_python_examples_run(
    served: Served,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("BRANDCAST_ADDRESS", served.address)
    monkeypatch.setenv("BRANDCAST_TOKEN", served.token)
    monkeypatch.chdir(tmp_path)
    examples = blocks("python")
    assert len(examples) >= 7
    namespace: dict[str, object] = {"__name__": "docs_example"}
    for number, code in enumerate(examples):
        try:
            compiled = compile(code, f"{DOC.name}[python {number}]", "exec")
            # an example may call asyncio.run
            run_on_own_thread(exec, compiled, namespace)
        except Exception as exc:  # name the example that failed
            raise AssertionError(f"example {number} failed:\n{code}") from exc
    out = capsys.readouterr().out
    assert "accepted " in out
    assert "2501 sent" in out  # progress counts the spec's own recipient too
    assert "spec.audience[0].phone -> " in out
    assert "no such campaign" in out
    assert "cust-001,DELIVERY_STATUS_PENDING" in out
    assert (tmp_path / "report.csv").read_text().startswith("delivery_id,channel,")


def test_the_node_snippets_are_the_tested_example() -> None:
    example = (DOC.parents[1] / "clients" / "node" / "src" / "example.ts").read_text()
    snippets = blocks("ts")
    assert len(snippets) >= 3
    for snippet in snippets:
        assert snippet in example, f"not in clients/node/src/example.ts:\n{snippet}"
