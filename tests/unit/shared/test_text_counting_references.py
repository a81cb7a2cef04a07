"""Our counting against the references the networks and carriers use themselves.

One node process (tests/references/count_reference.mjs) answers for twitter-text (X),
sms-segments-calculator (Twilio) and @atproto/api RichText (Bluesky); hypothesis writes
texts from many scripts, emoji sequences (standard, newer than X's list, non-standard ZWJ
chains, with combining marks), URLs with and without a scheme, IDN hosts, non-ASCII paths,
hashtags and cashtags. Our count may be higher than the reference, never lower: a post
measured too long is shortened, one measured too short is refused by the network.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brandcast.shared.text_counting import (
    GSM7_ALL,
    XLengthCounter,
    bluesky_facets,
    bluesky_length,
    count_sms,
    x_weighted_length,
)
from brandcast.v1 import variant_pb2

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "tests" / "references" / "count_reference.mjs"
EXAMPLES = 500


class Reference:
    def __init__(self) -> None:
        node = shutil.which("node")
        assert node, "node is needed for the reference implementations (make tools)"
        assert (ROOT / "node_modules" / "twitter-text").is_dir(), "run make tools"
        self._process = subprocess.Popen(
            [node, str(SCRIPT)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )

    def ask(self, kind: str, text: str = "") -> Any:
        assert self._process.stdin
        assert self._process.stdout
        self._process.stdin.write(json.dumps({"kind": kind, "text": text}) + "\n")
        self._process.stdin.flush()
        reply = json.loads(self._process.stdout.readline())
        assert "ok" in reply, reply.get("error")
        return reply["ok"]

    def close(self) -> None:
        assert self._process.stdin
        self._process.stdin.close()
        self._process.wait(timeout=10)


@pytest.fixture(scope="module")
def reference() -> Iterator[Reference]:
    ref = Reference()
    yield ref
    ref.close()


# -- what the texts are made of --------------------------------------------------------------

_WORDS = [
    "Hello", "spring", "café", "Ünïcödé", "naïve", "Привет", "мир", "Γειά", "σου", "日本語",
    "中文测试", "한국어", "नमस्ते", "क्षत्रिय", "मुख्यमंत्री", "தமிழ்", "ไทยภาษา", "مرحبا", "שלום",
    "e\u0301",
    "ﬁ", "Å", "ẞ", "x²", "½", "1,000", "30%", "$5", "€10", "[ok]", "{x}", "~", "^", "|", "\\",
    "‘quoted’", "“double”", "—", "…", "·",
]  # fmt: skip
_EMOJI = [
    "😀", "🎉", "❤️", "❤", "☺", "✅", "👍🏽", "👩🏿‍💻", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇺🇸", "🇫🇷", "🇦🇦", "#️⃣",
    "1️⃣", "#⃣", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "🥱", "🫠", "🧑‍🦰", "🫱🏼‍🫲🏾", "👨‍🦰‍👧", "🐈‍⬛", "😀\u0301", "👍\u0308",
    "👩‍❤️‍👨", "🙋🏽‍♀️", "©", "©️", "®", "™", "‼", "\u200d", "\ufe0f", "🏽",
]  # fmt: skip
_TLDS = ["com", "org", "shop", "io", "de", "co", "app", "dev", "uk", "jp", "info", "xyz"]
_HOSTS = ["acme", "example", "my-shop", "a", "b2b", "sub.acme", "bücher", "пример", "例え"]
_PATHS = [
    "", "/", "/sale", "/a/b?x=1&y=2", "/ünï", "/пути", "/日本", "/p(1)", "/x#frag", "/a_b-c",
    "/%E2%9C%93", "?q=1", "/café?x=é", "/.(b)", "/(b)", "/a(b)c", "/x((y))", "/@user/",
    ":8080/p", "/a.b.c/", "/.", "/-",
]  # fmt: skip

_url = st.builds(
    lambda scheme, host, tld, path, end: f"{scheme}{host}.{tld}{path}{end}",
    st.sampled_from(["", "", "https://", "http://", "HTTPS://"]),
    st.sampled_from(_HOSTS),
    st.sampled_from(_TLDS),
    st.sampled_from(_PATHS),
    st.sampled_from(["", "", ".", ",", ")", "!", "?"]),
)
_tag = st.builds(
    lambda sign, body: f"{sign}{body}",
    st.sampled_from(["#", "＃", "$"]),
    st.sampled_from(["Sale", "spring2026", "2026", "café", "日本", "a_b", "x!", "AAPL", "tag-1"]),
)
_piece = st.one_of(
    st.sampled_from(_WORDS),
    st.sampled_from(_EMOJI),
    _url,
    _tag,
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=6),
    st.text(st.sampled_from(sorted(GSM7_ALL)), min_size=1, max_size=12),
)
_separator = st.sampled_from([" ", " ", " ", "\n", "\n\n", "\u00a0", "", "(", ". ", "\r\n"])
texts = st.lists(st.tuples(_piece, _separator), max_size=40).map(
    lambda parts: "".join(piece + sep for piece, sep in parts)
)
long_texts = st.lists(st.tuples(_piece, _separator), min_size=20, max_size=120).map(
    lambda parts: "".join(piece + sep for piece, sep in parts)
)
_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.mark.slow
@_SETTINGS
@given(text=texts)
def test_x_weighted_length_is_never_below_twitter_text(reference: Reference, text: str) -> None:
    expected = reference.ask("x", text)
    assert x_weighted_length(text) >= expected["weightedLength"], expected


# Every kind of space X splits runs at, and marks that NFC might compose with one.
_any_space = st.sampled_from(
    [" ", "\n", "\t", "\x0b", "\x85", "\u00a0", "\u2000", "\u2001", "\u2028", "\u202f", "\u3000",
     " \u0301", "\u2000\u0301", "\u3000\u3099", "  "]
)  # fmt: skip
_texts_with_any_space = st.lists(
    st.tuples(st.one_of(_piece, st.just("a.com,"), st.just("\u0301x.co")), _any_space), max_size=30
).map(lambda parts: "".join(piece + space for piece, space in parts))


@_SETTINGS
@given(
    text=st.one_of(texts, long_texts, _texts_with_any_space),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=4),
)
def test_x_length_counter_agrees_with_x_weighted_length(text: str, cuts: list[int]) -> None:
    # The counter adds up the runs of a text (each with the spaces before it), measured once
    # each: right only while no URL, emoji sequence or NFC composition spans a space.
    counter = XLengthCounter()
    for candidate in [text, *(text[:cut] + "…" + text[cut:][::2] for cut in cuts)]:
        assert counter(candidate) == x_weighted_length(candidate), candidate


@pytest.mark.slow
@_SETTINGS
@given(text=st.one_of(texts, long_texts))
def test_sms_segments_are_never_below_twilio(reference: Reference, text: str) -> None:
    expected = reference.ask("sms", text)
    ours = count_sms(text)
    encoding = "GSM-7" if ours.encoding == variant_pb2.SMS_ENCODING_GSM7 else "UCS-2"
    assert encoding == expected["encoding"]
    assert ours.segments >= expected["segments"], expected


@_SETTINGS
@given(text=texts)
def test_bluesky_length_and_facets_match_atproto(reference: Reference, text: str) -> None:
    expected = reference.ask("bluesky", text)
    assert bluesky_length(text) >= expected["graphemeLength"]
    ours = [
        {"kind": f.kind, "byteStart": f.byte_start, "byteEnd": f.byte_end, "value": f.value}
        for f in bluesky_facets(text)
    ]
    key = lambda facet: (facet["byteStart"], facet["kind"])  # noqa: E731
    assert sorted(ours, key=key) == sorted(expected["facets"], key=key)


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("visit acme.com today", 6 + 23 + 6),  # a bare domain is a 23-character URL
        ("👨‍👩‍👧‍👦", 2),  # a standard family sequence is one emoji
        ("👨‍🦰‍👧", 2 + 1 + 2),  # a non-standard chain: a known pair, a ZWJ, an emoji
        ("😀\u0301", 3),  # an emoji followed by a combining mark: the mark counts too
        ("https://bücher.de/日本", 23 + 4),  # the URL ends at the first CJK character
        ("a.com/.(b)", 23 + 4),  # twitter-text ends this path at the slash
        ("x a.com/(b) y", 2 + 23 + 2),  # but balanced parentheses alone are a path
        ("a" * 280, 280),
        ("日本語" * 10, 60),
    ],
)
def test_x_weighted_length_examples(reference: Reference, text: str, length: int) -> None:
    assert x_weighted_length(text) == length == reference.ask("x", text)["weightedLength"]


def test_emoji_sequences_we_group_are_grouped_by_x(reference: Reference) -> None:
    # Every sequence we count as one emoji, side by side: never below X's count.
    from brandcast.shared.text_counting._x import _emoji_sequences

    pattern = _emoji_sequences().pattern
    sequences = [s.replace("\\", "") for s in pattern.split("|")]
    for start in range(0, len(sequences), 200):
        text = " ".join(sequences[start : start + 200])
        assert x_weighted_length(text) >= reference.ask("x", text)["weightedLength"]


def test_gsm_table_is_twilios(reference: Reference) -> None:
    assert set(reference.ask("gsm-table")["characters"]) == set(GSM7_ALL)


def test_tld_lists_are_the_references(reference: Reference) -> None:
    package = files("brandcast.shared.text_counting")

    def listed(name: str) -> set[str]:
        text = package.joinpath(name).read_text("utf-8")
        return {line for line in text.splitlines() if line and not line.startswith("#")}

    assert listed("iana_tlds.txt") == set(reference.ask("tlds")["iana"])
    twitter = subprocess.run(
        [
            "node",
            "-e",
            "const m=(n)=>{const x=require('twitter-text/dist/regexp/'+n);return x.default||x};"
            "const b=(s)=>s.slice(s.indexOf('(?:(?:')+6,s.indexOf(')(?=')).split('|');"
            "console.log(JSON.stringify([...b(m('validGTLD').source),...b(m('validCCTLD').source)]))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert listed("x_tlds.txt") == set(json.loads(twitter.stdout))


@pytest.mark.slow
@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    body=long_texts,
    headline=texts,
    budget=st.integers(min_value=1, max_value=4),
    keep_lookalikes=st.booleans(),
)
def test_rendered_variants_are_within_the_references_limits(
    reference: Reference, body: str, headline: str, budget: int, keep_lookalikes: bool
) -> None:
    # What the renderer sends is checked by the references themselves: the X post within
    # 280 by twitter-text, the SMS within its budget by Twilio's calculator, the Bluesky
    # post within 300 graphemes with exactly the facets atproto would detect.
    from brandcast.orchestrator.rendering import CampaignRenderer, RenderError
    from brandcast.v1 import campaign_pb2

    spec = campaign_pb2.CampaignSpec(name="Property campaign")
    spec.brand_kit.name = "Acme"
    spec.brand_kit.sms_sender = "ACME"
    spec.brand_kit.social_accounts.add(id="x", network=campaign_pb2.SOCIAL_NETWORK_X)
    spec.brand_kit.social_accounts.add(id="sky", network=campaign_pb2.SOCIAL_NETWORK_BLUESKY)
    spec.core_message.headline = headline or "Sale"
    spec.core_message.body = body
    spec.core_message.cta_url = "https://acme.example/sale"
    spec.core_message.hashtags.append("spring")
    spec.channels.sms.enabled = True
    spec.channels.sms.segment_budget = budget
    spec.channels.sms.keep_lookalikes = keep_lookalikes
    spec.channels.social.enabled = True
    try:
        renderer = CampaignRenderer(spec)
    except RenderError:
        return  # e.g. a headline of only whitespace-like characters: refused, not sent
    sms = renderer.sms(campaign_pb2.Recipient(id="r")).variant
    twilio = reference.ask("sms", sms.text)
    assert twilio["segments"] <= budget
    assert ("GSM-7" if sms.encoding == variant_pb2.SMS_ENCODING_GSM7 else "UCS-2") == twilio[
        "encoding"
    ]
    for account in renderer.social_accounts():
        post = renderer.social(account).variant
        if account.id == "x":
            assert reference.ask("x", post.text)["weightedLength"] <= 280
        else:
            expected = reference.ask("bluesky", post.text)
            assert expected["graphemeLength"] <= 300
            ours = sorted((f.byte_start, f.byte_end, f.value) for f in post.facets)
            theirs = sorted((f["byteStart"], f["byteEnd"], f["value"]) for f in expected["facets"])
            assert ours == theirs
