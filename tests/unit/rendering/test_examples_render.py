"""Every example campaign renders for its whole audience, with no error-level warning."""

from pathlib import Path

import pytest

from brandcast.client.campaign_file import load_campaign
from brandcast.orchestrator.rendering import CampaignRenderer
from brandcast.v1 import variant_pb2

EXAMPLES = sorted((Path(__file__).resolve().parents[3] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.stem)
def test_example_renders_without_errors(example: Path) -> None:
    spec = load_campaign(example)
    variants = CampaignRenderer(spec).preview(list(spec.audience))
    assert variants
    errors = [
        (v.recipient_id, w.code)
        for v in variants
        for w in v.warnings
        if w.severity == variant_pb2.RenderWarning.SEVERITY_ERROR
    ]
    assert errors == []


def test_there_is_a_dark_and_a_light_brand_example() -> None:
    assert {"dark-brand", "light-brand", "spring-launch"} <= {p.stem for p in EXAMPLES}
