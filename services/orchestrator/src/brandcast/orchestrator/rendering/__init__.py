"""The renderer: one brand core message into email, SMS and social variants.

Pure: imports nothing else from the orchestrator. The servicer builds a `CampaignRenderer`
on submit (a `RenderError` there is INVALID_ARGUMENT, one field violation per entry) and
renders each recipient at dispatch; per-recipient rendering only runs what is personal.

Marketer templates (Jinja2, sandboxed, StrictUndefined) see these variables:

- every template: `brand` (name, primary_color, secondary_color, logo_url, legal_footer,
  postal_address, sms_sender, default_hashtags), `campaign` (id, name) and `message`
  (headline, body, cta_text in the recipient's locale; cta_url with tracking; image_url,
  hashtags, locale);
- email subject/preheader/html/text and SMS: `recipient` (id, name, email, locale,
  timezone, segment, attributes); email also `unsubscribe_url`; SMS also `link`, `opt_out`;
- social: `account` (id, handle, network), `link`, `hashtags`.

`channels.email.templates.html` and `.text` replace the content of the branded layout; the
layout keeps the logo, the colors and the footer (legal text, postal address, unsubscribe).
An SMS always ends up with the link and the opt-out wording (appended when the template
leaves them out); posts get the hashtags that fit appended.
"""

from brandcast.orchestrator.rendering._email import LocaleEmail
from brandcast.orchestrator.rendering._errors import FieldViolation, Rendered, RenderError
from brandcast.orchestrator.rendering._renderer import CampaignRenderer, LaidOutEmail

__all__ = [
    "CampaignRenderer",
    "FieldViolation",
    "LaidOutEmail",
    "LocaleEmail",
    "RenderError",
    "Rendered",
]
