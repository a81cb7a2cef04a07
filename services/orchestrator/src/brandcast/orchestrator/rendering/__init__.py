"""The renderer: one brand core message into email, SMS and social variants.

Pure: imports nothing else from the orchestrator. The servicer builds a `CampaignRenderer`
on submit (a `RenderError` there is INVALID_ARGUMENT) and renders each recipient at dispatch.
"""

from brandcast.orchestrator.rendering._errors import FieldViolation, Rendered, RenderError
from brandcast.orchestrator.rendering._renderer import CampaignRenderer

__all__ = ["CampaignRenderer", "FieldViolation", "RenderError", "Rendered"]
