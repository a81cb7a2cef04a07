"""Network text rules: Mastodon's length count and LinkedIn's little-text escaping."""

from __future__ import annotations

from brandcast.social.networks.linkedin import little_text
from brandcast.social.networks.mastodon import mastodon_length


def test_a_url_counts_as_the_reserved_characters_however_long() -> None:
    url = "https://acme.example/" + "a" * 100
    assert mastodon_length(f"Sale {url}") == 5 + 23
    assert mastodon_length(f"Sale {url}", characters_per_url=30) == 5 + 30


def test_a_remote_mention_counts_without_its_domain() -> None:
    assert mastodon_length("hi @brand@mastodon.social") == len("hi @brand")


def test_graphemes_not_code_points_are_counted() -> None:
    # Family emoji: 7 code points, one grapheme; "é" as e + combining accent: one.
    assert mastodon_length("👨‍👩‍👧‍👦 cafe\u0301") == 6


def test_little_text_escapes_markup_and_keeps_hashtags() -> None:
    assert little_text("50% off (today) *only* #Sale @acme") == (
        r"50% off \(today\) \*only\* {hashtag|\#|Sale} \@acme"
    )


def test_little_text_leaves_plain_text_alone() -> None:
    assert little_text("Spring sale, 20% off!") == "Spring sale, 20% off!"
