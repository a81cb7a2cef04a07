"""A long run of characters without a space costs linear time to scan for
URLs (found while hardening, issue #19): one pattern for "a run holding a dot
that may start a domain" tried every start inside a run without one, so a
60 KB word ending a sentence took ~50 s per SMS render."""

from __future__ import annotations

import time

from brandcast.shared.text_counting import x_urls


def test_a_60kb_word_ending_a_sentence_is_scanned_in_linear_time() -> None:
    # A sentence of one 60 KB word: its final dot starts no domain.
    text = "Spring blend at https://acme.example.com/spring " + "b" * 60_000 + "."
    started = time.perf_counter()
    found = x_urls(text)
    elapsed = time.perf_counter() - started
    assert [u.url for u in found] == ["https://acme.example.com/spring"]
    assert elapsed < 1.0, elapsed  # ~0.01 s here; the quadratic scan took ~50 s


def test_urls_beside_long_runs_are_still_found() -> None:
    text = "x" * 5_000 + " see acme.example.com/a and " + "y" * 50 + ".com"
    assert [u.url for u in x_urls(text)] == ["acme.example.com/a", "y" * 50 + ".com"]
