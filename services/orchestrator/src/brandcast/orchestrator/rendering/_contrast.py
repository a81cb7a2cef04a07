"""Text colours that stay readable whatever the brand colours (WCAG 2.x contrast).

WCAG AA asks 4.5:1 between normal text and its background. A brand colour that is too
light for white (a cream secondary colour as a headline) is darkened in steps toward
black, keeping its hue, until it reaches that ratio; the call-to-action label is white
or near-black, whichever reads on the brand's button colour.
"""

from __future__ import annotations

from functools import cache

AA_NORMAL_TEXT = 4.5
WHITE = "#ffffff"
NEAR_BLACK = "#111827"


def _channels(color: str) -> tuple[int, int, int]:
    value = color.lstrip("#")
    if len(value) == 3:
        value = "".join(ch * 2 for ch in value)
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def relative_luminance(color: str) -> float:
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in _channels(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(first: str, second: str) -> float:
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


@cache
def readable_on(background: str, candidates: tuple[str, ...], fallback: str) -> str:
    """The first candidate that reaches AA on `background`; else `fallback` moved toward
    black (or white, on a dark background) until it does, keeping its hue."""
    for color in candidates:
        if contrast_ratio(color, background) >= AA_NORMAL_TEXT:
            return color.lower()
    base = _channels(fallback)
    target = (0, 0, 0) if relative_luminance(background) > 0.18 else (255, 255, 255)
    for step in range(1, 21):
        mix = step / 20
        color = "#" + "".join(
            f"{round(c + (t - c) * mix):02x}" for c, t in zip(base, target, strict=True)
        )
        if contrast_ratio(color, background) >= AA_NORMAL_TEXT:
            return color
    return "#000000" if target == (0, 0, 0) else WHITE


@cache
def label_on(button: str) -> str:
    """White or near-black: the one that reads on a button of this colour."""
    for color in (WHITE, NEAR_BLACK, "#000000"):
        if contrast_ratio(color, button) >= AA_NORMAL_TEXT:
            return color
    return WHITE if contrast_ratio(WHITE, button) > contrast_ratio("#000000", button) else "#000000"
