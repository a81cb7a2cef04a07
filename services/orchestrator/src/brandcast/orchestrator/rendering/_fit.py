"""Shortening text to fit a measure, keeping what matters, cutting only where it is safe.

What matters comes in this order:
  1. spans marked `keep` (the SMS opt-out, the call-to-action link, a legal footer) are
     never cut and never dropped: a cut before them re-attaches them after the ellipsis;
  2. every other URL stays whole (a cut never falls inside one); `fit_text` first tries
     to keep the URLs after the cut too, and drops them whole only when that cannot fit;
  3. as much free text as fits, cut before whitespace when that loses little, otherwise
     (CJK text has no spaces) at a grapheme boundary, never inside a cluster (combining
     marks, conjuncts, ZWJ emoji sequences, flags).

A measure need not be monotone everywhere: an SMS switches to UCS-2 (less than half the
room) at its first non-GSM character, so a longer cut can fit where a shorter one did not.
`regime_breaks` names such positions; the search is monotone between them.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from brandcast.shared.text_counting import grapheme_boundaries

# Whitespace right after a non-space: the position just past the end of a word.
_WORD_END = re.compile(r"(?<=\S)\s")
_TRAILING_PUNCTUATION = ".,;:-–—…"
# How many characters more a grapheme cut must keep before it is preferred over a word cut.
WORD_CUT_SLACK = 20


@dataclass(frozen=True)
class Span:
    """A part of the text that is never cut: kept after the cut (`keep`) or dropped whole."""

    start: int
    end: int
    keep: bool


def spans_of(text: str, needles: Iterable[str], *, keep: bool) -> list[Span]:
    """Every occurrence of the non-empty `needles` in `text`."""
    spans: list[Span] = []
    for needle in {n for n in needles if n}:
        start = text.find(needle)
        while start != -1:
            spans.append(Span(start, start + len(needle), keep))
            start = text.find(needle, start + len(needle))
    return spans


def merge_spans(spans: Iterable[Span]) -> list[Span]:
    """Overlapping spans become one, kept when any of them is kept."""
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            merged[-1] = Span(last.start, max(last.end, span.end), last.keep or span.keep)
        else:
            merged.append(span)
    return merged


@dataclass(frozen=True)
class Shortened:
    text: str
    # How much of the free text survived: the cut position (0: nothing but the kept spans).
    cut: int
    # URLs (spans not kept) that had to be dropped whole.
    dropped_urls: int


def fit_text(
    text: str,
    spans: Sequence[Span],
    fits: Callable[[str], bool],
    *,
    ellipsis: str,
    regime_breaks: Sequence[int] = (),
) -> Shortened | None:
    """The longest cut of `text` that `fits`, or None when even the kept spans do not."""
    spans = merge_spans(spans)
    with_urls = _Cutter(text, spans, keep_urls=True, ellipsis=ellipsis)
    best = with_urls.best(fits, regime_breaks)
    if best is not None:
        return best
    without_urls = _Cutter(text, spans, keep_urls=False, ellipsis=ellipsis)
    return without_urls.best(fits, regime_breaks)


class _Cutter:
    def __init__(self, text: str, spans: list[Span], *, keep_urls: bool, ellipsis: str) -> None:
        self.text = text
        self.spans = spans  # sorted, not overlapping (merge_spans)
        self.keep_urls = keep_urls
        self.ellipsis = ellipsis
        self._starts = [s.start for s in spans]
        # Each span that follows a cut, as it is re-attached: after the whitespace that
        # stood before it (a paragraph break stays one), else after a space.
        self._attached = []
        for span in spans:
            gap_start = span.start
            while gap_start > 0 and text[gap_start - 1].isspace():
                gap_start -= 1
            separator = text[gap_start : span.start] or " "
            kept = span.keep or keep_urls
            self._attached.append(separator + text[span.start : span.end] if kept else "")

    def free(self, position: int) -> bool:
        """Not inside a span (nor at its end, where trailing punctuation would be cut)."""
        index = bisect_left(self._starts, position) - 1
        return index < 0 or not position <= self.spans[index].end

    def cut_at(self, position: int) -> str:
        kept = self.text[:position].rstrip().rstrip(_TRAILING_PUNCTUATION).rstrip()
        joined = "".join(self._attached[bisect_left(self._starts, position) :])
        if not kept:
            return joined.lstrip()
        return f"{kept}{self.ellipsis}{joined}"

    def dropped(self, position: int) -> int:
        if self.keep_urls:
            return 0
        first = bisect_left(self._starts, position)
        return sum(1 for s in self.spans[first:] if not s.keep)

    def best(self, fits: Callable[[str], bool], regime_breaks: Sequence[int]) -> Shortened | None:
        text = self.text
        word_cuts = [0] + [m.start() for m in _WORD_END.finditer(text) if self.free(m.start())]
        best_word = _longest_fitting(word_cuts, self.cut_at, fits, regime_breaks)
        if best_word is None:
            return None  # the cut at 0 keeps only the spans; nothing shorter exists
        # Only a long stretch without spaces after the best word cut (CJK, a long word) can
        # give a grapheme cut worth more; segmenting graphemes costs, so only there.
        later = [p for p in word_cuts if p > best_word] + [
            s.start for s in self.spans if s.start > best_word
        ]
        upper = min(later, default=len(text))
        best = best_word
        if upper - best_word > WORD_CUT_SLACK:
            grapheme_cuts = [best_word] + [
                best_word + end
                for end in grapheme_boundaries(text[best_word:upper])
                if best_word + end < upper and self.free(best_word + end)
            ]
            best_grapheme = _longest_fitting(grapheme_cuts, self.cut_at, fits, regime_breaks)
            if best_grapheme is not None and not (
                best_word and best_grapheme - best_word <= WORD_CUT_SLACK
            ):
                best = best_grapheme
        return Shortened(self.cut_at(best), best, self.dropped(best))


def _longest_fitting(
    candidates: list[int],
    cut_at: Callable[[int], str],
    fits: Callable[[str], bool],
    regime_breaks: Sequence[int],
) -> int | None:
    """Binary search within each stretch where fitting is monotone (a longer prefix never
    measures shorter); the best of the stretches."""
    best: int | None = None
    bounds = sorted({0, *regime_breaks})
    for index, low_bound in enumerate(bounds):
        high_bound = bounds[index + 1] if index + 1 < len(bounds) else None
        group = [c for c in candidates if c >= low_bound and (high_bound is None or c < high_bound)]
        found = _search(group, cut_at, fits)
        if found is not None and (best is None or found > best):
            best = found
    return best


def _search(
    candidates: list[int], cut_at: Callable[[int], str], fits: Callable[[str], bool]
) -> int | None:
    low, high, best = 0, len(candidates) - 1, None
    while low <= high:
        middle = (low + high) // 2
        if fits(cut_at(candidates[middle])):
            best = candidates[middle]
            low = middle + 1
        else:
            high = middle - 1
    return best
