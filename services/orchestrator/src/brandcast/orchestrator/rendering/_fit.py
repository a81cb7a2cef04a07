"""Shortening text to fit a measure, at a word boundary, keeping protected spans whole.

A protected span (a link, the SMS opt-out wording) is never cut and never dropped: the
text is cut at some point in the free text before it, and the protected spans that came
after the cut are re-attached after an ellipsis. Cuts fall before whitespace when that
loses little; otherwise (CJK text has no spaces) at a grapheme boundary, never inside a
grapheme cluster (combining marks, ZWJ emoji sequences, flags).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import grapheme

# Whitespace right after a non-space: the position just past the end of a word.
_WORD_END = re.compile(r"(?<=\S)\s")
# How many characters more a grapheme cut must keep before it is preferred over a word cut.
WORD_CUT_SLACK = 20


def protected_spans(text: str, protected: Sequence[str]) -> list[tuple[int, int]]:
    """Non-overlapping (start, end) of every occurrence of the protected strings."""
    spans: list[tuple[int, int]] = []
    for needle in sorted({p for p in protected if p}, key=len, reverse=True):
        start = text.find(needle)
        while start != -1:
            end = start + len(needle)
            if all(end <= s or start >= e for s, e in spans):
                spans.append((start, end))
            start = text.find(needle, end)
    return sorted(spans)


def shorten(
    text: str,
    protected: Sequence[str],
    fits: Callable[[str], bool],
    *,
    ellipsis: str,
) -> str | None:
    """The longest cut of `text` that `fits`, or None when even the protected spans do not."""
    spans = protected_spans(text, protected)

    def free(position: int) -> bool:
        return all(not (s < position <= e) for s, e in spans)

    def cut_at(position: int) -> str:
        kept = text[:position].rstrip().rstrip(".,;:-–—…").rstrip()
        tail = " ".join(text[s:e] for s, e in spans if s >= position)
        if not kept:
            return tail
        return f"{kept}{ellipsis} {tail}" if tail else f"{kept}{ellipsis}"

    word_cuts = [0] + [m.start() for m in _WORD_END.finditer(text) if not spans or free(m.start())]
    best_word = _longest_fitting(word_cuts, cut_at, fits)
    if best_word is None:
        return None  # the cut at 0 keeps only the protected spans; nothing shorter exists
    # Only a long stretch without spaces after the best word cut (CJK, a long word) can
    # give a grapheme cut worth more; segmenting graphemes is slow, so only there.
    later = [p for p in word_cuts if p > best_word] + [s for s, _ in spans if s > best_word]
    upper = min(later, default=len(text))
    if upper - best_word <= WORD_CUT_SLACK:
        return cut_at(best_word)
    grapheme_cuts = [best_word]
    position = best_word
    for cluster in grapheme.graphemes(text[best_word:upper]):
        position += len(cluster)
        if position < upper and free(position):
            grapheme_cuts.append(position)
    best_grapheme = _longest_fitting(grapheme_cuts, cut_at, fits)
    if best_grapheme is None or (best_word and best_grapheme - best_word <= WORD_CUT_SLACK):
        return cut_at(best_word)
    return cut_at(best_grapheme)


def _longest_fitting(
    candidates: list[int], cut_at: Callable[[int], str], fits: Callable[[str], bool]
) -> int | None:
    """Binary search: a longer prefix never measures shorter, so fitting is monotone."""
    low, high, best = 0, len(candidates) - 1, None
    while low <= high:
        middle = (low + high) // 2
        if fits(cut_at(candidates[middle])):
            best = candidates[middle]
            low = middle + 1
        else:
            high = middle - 1
    return best
