"""Every example campaign's email as Chromium draws it, at desktop and mobile widths.

The screenshots are test artefacts in test-output/ (email-<example>-<width>.png). In the
drawn page every text that shows (headline, paragraphs, the button label, the footer and
its link) must reach WCAG AA contrast (4.5:1) against the background it is drawn on,
whatever the brand colours. Images are answered with a local placeholder: the browser
never reaches a real address.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Route

from brandcast.client.campaign_file import load_campaign
from brandcast.orchestrator.rendering import CampaignRenderer
from brandcast.orchestrator.rendering._contrast import AA_NORMAL_TEXT, contrast_ratio

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))
WIDTHS = {"desktop": 1280, "mobile": 390}
PLACEHOLDER = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="600" height="240">'
    '<rect width="100%" height="100%" fill="#d1d5db"/>'
    '<text x="50%" y="50%" font-family="sans-serif" font-size="28" fill="#374151" '
    'text-anchor="middle">image</text></svg>'
)
# What a reader reads, and what it is drawn on (the nearest ancestor with a background).
TEXT_COLOURS = """() => {
  const rgba = (c) => c.match(/[\\d.]+/g).map(Number);
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = [];
  for (const selector of ['.content h1', '.content p', 'a.cta', '.footer p', '.footer a']) {
    for (const el of document.querySelectorAll(selector)) {
      if (!el.textContent.trim() || el.getClientRects().length === 0) continue;
      out.push({selector, text: el.textContent.trim().slice(0, 40),
                color: rgba(getComputedStyle(el).color).slice(0, 3),
                background: background(el)});
    }
  }
  return out;
}"""


def _hex(rgb: list[float]) -> str:
    return "#" + "".join(f"{round(c):02x}" for c in rgb)


def _placeholder(route: Route) -> None:
    if route.request.url.startswith(("http://", "https://")):
        route.fulfill(status=200, content_type="image/svg+xml", body=PLACEHOLDER)
    else:
        route.abort()


@pytest.mark.slow
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.stem)
def test_example_emails_are_readable_at_every_width(
    chromium_browser: Browser, shot: Callable[[str], str], example: Path
) -> None:
    spec = load_campaign(example)
    renderer = CampaignRenderer(spec)
    recipient = next(r for r in spec.audience if r.email)
    [email] = [v.email for v in renderer.preview([recipient]) if v.HasField("email")]
    for label, width in WIDTHS.items():
        context = chromium_browser.new_context(viewport={"width": width, "height": 900})
        try:
            page = context.new_page()
            page.route("**/*", _placeholder)
            page.set_content(email.html, wait_until="load")
            page.screenshot(path=shot(f"email-{example.stem}-{label}"), full_page=True)
            texts = page.evaluate(TEXT_COLOURS)
            # Nothing wider than the screen: the mobile layout really is one column.
            assert page.evaluate("document.documentElement.scrollWidth") <= width
        finally:
            context.close()
        kinds = {t["selector"] for t in texts}
        assert {".content h1", "a.cta", ".footer p", ".footer a"} <= kinds, kinds
        for text in texts:
            ratio = contrast_ratio(_hex(text["color"]), _hex(text["background"]))
            assert ratio >= AA_NORMAL_TEXT, (example.stem, label, text, round(ratio, 2))
