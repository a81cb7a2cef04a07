"""The MIME writer against the ``email`` package's own parser: whatever the values,
what we write parses back to them, without defects, within RFC 5322's line limits."""

from __future__ import annotations

from email.header import decode_header, make_header
from email.message import EmailMessage as ParsedMessage
from email.parser import BytesParser
from email.policy import compat32, default
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brandcast.email.message import EmailMessage
from brandcast.email.mime import build_mime
from brandcast.email.sandbox.smtp_sink import index_headers
from brandcast.shared.errors import PermanentProviderError

#: Header text: printable ASCII with specials, spaces and tabs, encoded-word look-alikes,
#: accents, CJK and emoji (no CR, LF or NUL: those are refused).
header_text = (
    st.lists(
        st.sampled_from(
            [*"abcXYZ019 ,;:<>()[]@\\\".'=?_-\t", "=?", "?=", "é", "ü", "«", "春", "✓", "😀"]
        ),
        max_size=120,
    )
    .map("".join)
    .map(str.strip)
)
#: Display names: the same without tabs (a reader's parser turns an unquoted one into a space).
name_text = header_text.map(lambda text: text.replace("\t", ""))
#: Body text: long lines, trailing spaces, CR / LF / CRLF breaks, tabs, '=' and '.',
#: lines that look like MIME boundaries, non-ASCII.
body_text = st.lists(
    st.sampled_from(
        [*"ab Z.=\t", "\n", "\r\n", "\r", "--", "=_", "From ", "é", "春", "😀", "x" * 90]
    ),
    max_size=200,
).map("".join)


def parse(data: bytes) -> ParsedMessage:
    parsed = BytesParser(policy=default).parsebytes(data)
    assert isinstance(parsed, ParsedMessage)
    return parsed


def lines_of(text: str) -> str:
    return "".join(line.decode() + "\n" for line in text.encode().splitlines())


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    subject=header_text,
    from_name=name_text,
    to_name=name_text,
    text=body_text,
    html=body_text,
)
def test_what_is_written_parses_back_to_the_values(
    subject: str, from_name: str, to_name: str, text: str, html: str
) -> None:
    message = EmailMessage(
        from_address="news@acme.example",
        to_address="reader@example.org",
        subject=subject,
        text=text,
        html=html,
        from_name=from_name,
        to_name=to_name,
        reply_to="hello@acme.example",
        list_unsubscribe_url="https://acme.example/unsubscribe/" + "t" * 60,
        list_unsubscribe_mailto="mailto:unsubscribe@acme.example?subject=tok",
    )
    data = build_mime(message, idempotency_key="key-1")

    assert data.isascii()
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert b"\r" not in data.replace(b"\r\n", b"")
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    head = data.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n"):
        # Folded where a space allows: only a name and one word, or one word, is longer.
        assert len(line) <= 78 or len(line.split()) <= (1 if line[:1].isspace() else 2)

    parsed = parse(data)
    assert not parsed.defects
    assert parsed["Subject"] == subject
    for name, display_name, address in (
        ("From", from_name, "news@acme.example"),
        ("To", to_name, "reader@example.org"),
    ):
        assert parsed[name].addresses[0].addr_spec == address
        raw = str(BytesParser(policy=compat32).parsebytes(data, headersonly=True)[name])
        if raw.startswith("=?utf-8?"):
            # Encoded words: the modern parser keeps the space between two of them in a
            # display name, which RFC 2047 (6.2) says to drop; compat32's decoder drops it.
            decoded = str(make_header(decode_header(str(raw))))
            assert decoded == f"{display_name} <{address}>"
        else:
            assert parsed[name].addresses[0].display_name == display_name
    assert parsed["Reply-To"].addresses[0].addr_spec == "hello@acme.example"
    assert parsed["Message-ID"] == "<key-1@acme.example>"
    assert parsed["MIME-Version"] == "1.0"
    assert parsed["List-Unsubscribe"] == message.list_unsubscribe()
    # The SMTP sink's index reads the same two headers without the parser.
    assert index_headers(data) == (parsed["Message-ID"], parsed["Subject"])

    parts = list(parsed.iter_parts()) if html else [parsed]
    expected = [lines_of(text or "x"), lines_of(html)] if html else [lines_of(text or "x")]
    assert [p.get_content_type() for p in parts] == (
        ["text/plain", "text/html"] if html else ["text/plain"]
    )
    for part, want in zip(parts, expected, strict=True):
        assert not part.defects
        got = part.get_content().replace("\r\n", "\n")
        if want == "x\n" and not text:
            assert "best viewed" in got  # the fallback text of an HTML-only message
        else:
            assert got == want


def test_short_ascii_lines_go_as_7bit_and_long_or_accented_ones_are_encoded() -> None:
    def encodings(text: str) -> list[str]:
        message = EmailMessage("a@acme.example", "b@example.org", "Hi", text, "<p>x</p>")
        return [
            str(part["Content-Transfer-Encoding"])
            for part in parse(build_mime(message, idempotency_key="k")).iter_parts()
        ]

    assert encodings("Hello\nthere\n") == ["7bit", "7bit"]
    assert encodings("x" * 200) == ["quoted-printable", "7bit"]
    assert encodings("Grüße aus Köln: frische Bohnen, jede Woche.\n") == [
        "quoted-printable",
        "7bit",
    ]
    assert encodings("春のセールが始まりました。" * 4) == ["base64", "7bit"]


def test_a_text_only_message_is_a_single_part() -> None:
    message = EmailMessage("a@acme.example", "b@example.org", "Hi", "Hello\n", "")
    parsed = parse(build_mime(message, idempotency_key="k"))
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content().replace("\r\n", "\n") == "Hello\n"


def test_ascii_names_with_specials_are_quoted() -> None:
    message = EmailMessage(
        "a@acme.example", "b@example.org", "Hi", "x", "", from_name='Acme, Inc. "Beans"'
    )
    data = build_mime(message, idempotency_key="k")
    assert b'From: "Acme, Inc. \\"Beans\\"" <a@acme.example>' in data
    assert parse(data)["From"].addresses[0].display_name == 'Acme, Inc. "Beans"'


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject", "Hi\r\nBcc: victim@evil.example"),
        ("from_name", "Acme\nBcc: victim@evil.example"),
        ("to_name", "Reader\x00"),
        ("to_address", "b@example.org\r\nBcc: victim@evil.example"),
        ("to_address", "b@example.org, victim@evil.example"),
        ("from_address", "Acme <a@acme.example>"),
        ("reply_to", "x@acme.example\nBcc: victim@evil.example"),
    ],
)
def test_values_that_could_inject_headers_are_refused(field: str, value: str) -> None:
    fields: dict[str, Any] = {
        "from_address": "a@acme.example",
        "to_address": "b@example.org",
        "subject": "Hi",
        "text": "x",
        "html": "",
    }
    fields[field] = value
    with pytest.raises(PermanentProviderError) as caught:
        build_mime(EmailMessage(**fields), idempotency_key="k")
    assert caught.value.code == "invalid_message"


def test_an_unfoldable_header_longer_than_998_characters_is_refused() -> None:
    message = EmailMessage(
        "a@acme.example",
        "b@example.org",
        "Hi",
        "x",
        "",
        list_unsubscribe_url="https://acme.example/u/" + "t" * 1000,
    )
    with pytest.raises(PermanentProviderError, match="998"):
        build_mime(message, idempotency_key="k")
