"""Building RFC 5322 messages: structure, encoded headers, unsubscribe headers, DKIM,
and refusing header injection."""

from __future__ import annotations

import base64
import random
import re
import subprocess
from email import message_from_bytes
from email.headerregistry import Address
from email.message import EmailMessage as ParsedMessage
from email.parser import BytesParser
from email.policy import compat32, default
from email.utils import parsedate_to_datetime
from pathlib import Path

import dkim
import pytest

from brandcast.email.dkim_signing import DkimSigner
from brandcast.email.message import (
    _PLAIN_ADDRESS,
    MIME_POLICY,
    EmailMessage,
    build_mime,
    message_from_item,
)
from brandcast.shared.errors import PermanentProviderError
from brandcast.v1 import bus_pb2, campaign_pb2, variant_pb2


def make_item(**email: str) -> tuple[bus_pb2.DispatchBatch, bus_pb2.DispatchItem]:
    address = email.pop("address", "reader@example.org")
    fields = {
        "subject": "Spring sale",
        "text": "Hello reader,\nour spring sale starts today.\n",
        "html": "<html><body><p>Hello <b>reader</b>,</p></body></html>",
        "from_name": "Acme Shop",
        "from_address": "news@acme.example",
        "to_name": "Reader",
        "list_unsubscribe_url": "https://acme.example/unsubscribe/tok123",
        "list_unsubscribe_mailto": "mailto:unsubscribe@acme.example?subject=tok123",
    }
    fields.update(email)
    item = bus_pb2.DispatchItem(
        delivery_id="d-1",
        idempotency_key="key-1",
        address=address,
        email=variant_pb2.EmailVariant(**fields),
    )
    batch = bus_pb2.DispatchBatch(
        batch_id="b-1", campaign_id="c-1", channel=campaign_pb2.CHANNEL_EMAIL, items=[item]
    )
    return batch, item


def built(**email: str) -> tuple[bytes, ParsedMessage]:
    batch, item = make_item(**email)
    raw = build_mime(message_from_item(batch, item), idempotency_key=item.idempotency_key)
    data = raw.as_bytes()
    parsed = BytesParser(policy=default).parsebytes(data)
    assert isinstance(parsed, ParsedMessage)
    return data, parsed


def test_message_is_multipart_alternative_with_text_and_html() -> None:
    data, parsed = built()
    assert parsed.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part.get_content() for part in parsed.iter_parts()}
    assert set(parts) == {"text/plain", "text/html"}
    assert "spring sale starts today" in parts["text/plain"]
    assert "<b>reader</b>" in parts["text/html"]
    # SMTP policy: every line ends in CRLF, no bare LF anywhere.
    assert b"\n" not in data.replace(b"\r\n", b"")


def test_headers_are_correct() -> None:
    _, parsed = built()
    assert parsed["From"].addresses[0].addr_spec == "news@acme.example"
    assert parsed["From"].addresses[0].display_name == "Acme Shop"
    assert parsed["To"].addresses[0].addr_spec == "reader@example.org"
    assert parsed["Subject"] == "Spring sale"
    assert parsed["Message-ID"] == "<key-1@acme.example>"
    assert parsedate_to_datetime(parsed["Date"]).tzinfo is not None
    assert parsed["MIME-Version"] == "1.0"


def test_unsubscribe_headers_follow_rfc_2369_and_8058() -> None:
    _, parsed = built()
    assert parsed["List-Unsubscribe"] == (
        "<https://acme.example/unsubscribe/tok123>, "
        "<mailto:unsubscribe@acme.example?subject=tok123>"
    )
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_one_click_header_only_for_https() -> None:
    _, parsed = built(list_unsubscribe_url="http://127.0.0.1:8025/unsubscribe/t")
    assert parsed["List-Unsubscribe"].startswith("<http://127.0.0.1:8025/unsubscribe/t>")
    assert parsed["List-Unsubscribe-Post"] is None
    _, parsed = built(list_unsubscribe_url="", list_unsubscribe_mailto="")
    assert parsed["List-Unsubscribe"] is None


def test_non_ascii_subject_and_names_round_trip_as_encoded_words() -> None:
    subject = "Frühlingsangebot: 20 % auf Crème brûlée ✓ — 春のセール"
    data, parsed = built(subject=subject, from_name="Zoë's Café «Brandt»", to_name="Ωmega Łukasz")
    headers = data.split(b"\r\n\r\n", 1)[0]
    assert headers.isascii(), "non-ASCII must be RFC 2047 encoded on the wire"
    assert b"=?utf-8?" in headers
    assert parsed["Subject"] == subject
    assert parsed["From"].addresses[0].display_name == "Zoë's Café «Brandt»"
    assert parsed["To"].addresses[0].display_name == "Ωmega Łukasz"


def test_non_ascii_bodies_survive_any_server() -> None:
    data, parsed = built(text="Grüße ✓\n", html="<p>Grüße ✓</p>")
    assert data.isascii(), "7bit transfer encodings only: no 8BITMIME needed"
    parts = [part.get_content().replace("\r\n", "\n") for part in parsed.iter_parts()]
    assert parts == ["Grüße ✓\n", "<p>Grüße ✓</p>\n"]


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("subject", "Hi\r\nBcc: victim@evil.example", "email.subject"),
        ("subject", "Hi\nX-Injected: yes", "email.subject"),
        ("from_name", "Acme\r\nBcc: victim@evil.example", "email.from_name"),
        ("to_name", "Reader\nBcc: victim@evil.example", "email.to_name"),
        ("address", "reader@example.org\r\nBcc: victim@evil.example", "address"),
        ("address", "reader@example.org, victim@evil.example", "address"),
        ("address", "Reader <reader@example.org>", "address"),
        ("from_address", "news@acme.example\nBcc: victim@evil.example", "email.from_address"),
        ("reply_to", "a@acme.example, victim@evil.example", "email.reply_to"),
        ("list_unsubscribe_url", "https://acme.example/u>\r\nBcc: x@y.example", "email.list_"),
        ("list_unsubscribe_url", "javascript:alert(1)", "email.list_unsubscribe_url"),
    ],
)
def test_header_injection_is_refused_naming_the_field(field: str, value: str, named: str) -> None:
    batch, item = make_item(**{field: value})
    with pytest.raises(PermanentProviderError) as caught:
        message_from_item(batch, item)
    assert caught.value.code == "invalid_message"
    assert named in caught.value.message


def test_email_policy_refusal_becomes_a_permanent_error_not_a_crash() -> None:
    # Bypassing validation: the email package itself refuses, and we translate it.
    message = EmailMessage(
        from_address="news@acme.example",
        to_address="reader@example.org",
        subject="Hi\r\nBcc: victim@evil.example",
        text="x",
        html="",
    )
    with pytest.raises(PermanentProviderError) as caught:
        build_mime(message, idempotency_key="k")
    assert "linefeed" in caught.value.message


def test_missing_fields_are_named() -> None:
    batch, item = make_item(from_address="")
    with pytest.raises(PermanentProviderError, match=r"email.from_address: is required"):
        message_from_item(batch, item)
    batch, item = make_item(text="", html="")
    with pytest.raises(PermanentProviderError, match=r"email.text"):
        message_from_item(batch, item)
    batch, item = make_item()
    item.ClearField("email")
    item.sms.text = "hi"
    with pytest.raises(PermanentProviderError, match=r"variant: expected an email variant"):
        message_from_item(batch, item)


def test_message_id_is_deterministic_and_always_valid() -> None:
    batch, item = make_item()
    message = message_from_item(batch, item)
    assert (
        message.message_id("abc-123") == message.message_id("abc-123") == "<abc-123@acme.example>"
    )
    odd = message.message_id("has space<and>@at")
    assert re.fullmatch(r"<[0-9a-f]{40}@acme\.example>", odd)
    assert odd == message.message_id("has space<and>@at")


def generate_rsa_key(directory: Path) -> tuple[Path, bytes]:
    """A fresh RSA key (PEM) and the public key as a DKIM DNS TXT record."""
    key = directory / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    der = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    return key, b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)


def test_dkim_signature_verifies_and_detects_tampering(tmp_path: Path) -> None:
    key, record = generate_rsa_key(tmp_path)
    signer = DkimSigner.from_file(key, selector="s2026", domain="acme.example")
    data, _ = built(subject="Déjà vu ✓")
    signed = signer.sign(data)

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"s2026._domainkey.acme.example."
        return record

    assert dkim.verify(signed, dnsfunc=dns)
    signature = message_from_bytes(signed)["DKIM-Signature"]
    signed_headers = re.search(r"h=([^;]+)", signature.replace("\r\n", "").replace(" ", ""))
    assert signed_headers is not None
    assert {"from", "subject", "list-unsubscribe", "list-unsubscribe-post"} <= set(
        signed_headers.group(1).lower().split(":")
    )
    tampered = signed.replace(b"Spring", b"Sprang").replace(b"List-Unsubscribe-Post: ", b"X: ")
    assert not dkim.verify(tampered, dnsfunc=dns)


def test_dkim_refuses_an_unusable_key_at_start(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ValueError, match="EMAIL_DKIM_PRIVATE_KEY_FILE"):
        DkimSigner.from_file(bad, selector="s", domain="acme.example")
    with pytest.raises(ValueError, match="cannot read"):
        DkimSigner.from_file(tmp_path / "missing.pem", selector="s", domain="acme.example")


@pytest.mark.parametrize(
    "address",
    [
        "reader@example.org",
        "first.last+tag@mail.example.co.uk",
        "o'brien@example.org",
        "x!#$%&'*+/=?^_`{|}~-y@a-b.example",
        "a@b",
        "a@-b",
        "UPPER@Example.ORG",
        "1234567890@123.example",
    ],
)
def test_plain_addresses_are_taken_exactly_as_the_parser_takes_them(address: str) -> None:
    parsed = Address(addr_spec=address)
    assert (parsed.username, parsed.domain) != ("", "")
    batch, item = make_item(address=address, from_address=address)
    message = message_from_item(batch, item)
    assert message.to_address == message.from_address == parsed.addr_spec == address


@pytest.mark.parametrize(
    "address",
    [
        "a..b@example.org",
        ".a@example.org",
        "a.@example.org",
        "a@b..example",
        "a@example.org.",
        '"quoted"@example.org',
        "a b@example.org",
        "a@[127.0.0.1]",
        "a@b@example.org",
        "a@example.org, b@example.org",
        "Name <a@example.org>",
        "@example.org",
        "a@",
        "rëader@example.org",
    ],
)
def test_other_addresses_go_through_the_parser(address: str) -> None:
    assert _PLAIN_ADDRESS.fullmatch(address) is None
    batch, item = make_item(address=address)
    try:
        expected: str | None = Address(addr_spec=address).addr_spec
    except Exception:  # whatever the parser refuses
        expected = None
    try:
        got: str | None = message_from_item(batch, item).to_address
    except PermanentProviderError:
        got = None
    # Not on the fast path: either refused, or accepted exactly as the parser accepts it
    # (and then only when the parser found both parts and the address is ASCII).
    assert got is None or got == expected


def test_every_plain_address_is_one_the_parser_takes_unchanged() -> None:
    rng = random.Random(7)
    # Every character the fast path allows on each side, dots doubled, and a few it refuses.
    local_chars, domain_chars = "aZ9!#$%&'*+/=?^_`{|}~-..\" é", "aZ9-..é_"

    def text(alphabet: str) -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6)))

    matched = 0
    for _ in range(20_000):
        candidate = f"{text(local_chars)}@{text(domain_chars)}"
        if _PLAIN_ADDRESS.fullmatch(candidate) is None:
            continue
        matched += 1
        parsed = Address(addr_spec=candidate)
        assert parsed.username, candidate
        assert parsed.domain, candidate
        assert parsed.addr_spec == candidate
    assert matched > 2_000


def test_bodies_are_7bit_when_ascii_with_short_lines_and_base64_otherwise() -> None:
    data, parsed = built(text="Plain ASCII\n", html="<p>Gr\u00fc\u00dfe</p>")
    encodings = [part["Content-Transfer-Encoding"] for part in parsed.iter_parts()]
    assert encodings == ["7bit", "base64"]
    long_line = "x" * 999
    _, parsed = built(text=long_line + "\n", html="<p>ok</p>")
    text, html = parsed.iter_parts()
    assert (text["Content-Transfer-Encoding"], html["Content-Transfer-Encoding"]) == (
        "base64",
        "7bit",
    )
    assert text.get_content().rstrip("\r\n") == long_line
    assert b"MIME-Version" not in data.split(b"\r\n\r\n", 1)[1], "only the message has one"


def test_long_non_ascii_headers_are_folded_into_encoded_words() -> None:
    subject = "Fr\u00fchlingsangebot ✓ " * 8
    data, parsed = built(subject=subject, from_name="Caf\u00e9 \u00abBrandt\u00bb")
    headers = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert max(len(line) for line in headers) <= 78
    assert parsed["Subject"] == subject
    assert parsed["From"].addresses[0].display_name == "Caf\u00e9 \u00abBrandt\u00bb"


def test_headers_are_written_exactly_as_compat32_folds_them() -> None:
    # The policy writes a header that fits as it is, without compat32's folding machinery;
    # the bytes must be the same as compat32's for any value, fitting or not.
    reference = compat32.clone(linesep="\r\n")
    rng = random.Random(11)
    alphabet = 'aZ9 ,;\t=?<>"()@.:_-\u00e9'
    for _ in range(20_000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120)))
        name = rng.choice(["Subject", "To", "List-Unsubscribe-Post"])
        assert MIME_POLICY.fold_binary(name, value) == reference.fold_binary(name, value), value


def test_long_unsubscribe_urls_and_message_ids_start_on_the_header_line() -> None:
    url = "http://127.0.0.1:8025/unsubscribe/" + "t" * 200
    data, parsed = built(list_unsubscribe_url=url)
    assert b"List-Unsubscribe: <" + url.encode() + b">,\r\n <mailto:" in data
    assert parsed["List-Unsubscribe"] == (
        f"<{url}>, <mailto:unsubscribe@acme.example?subject=tok123>"
    )
    batch, item = make_item()
    key = "k" * 120
    data = build_mime(message_from_item(batch, item), idempotency_key=key).as_bytes()
    assert f"Message-ID: <{key}@acme.example>\r\n".encode() in data


def laid_out(batch: bus_pb2.DispatchBatch, item: bus_pb2.DispatchItem) -> bus_pb2.DispatchItem:
    """``item`` as BUS_SHARED_EMAIL_LAYOUTS sends it: its bodies a layout of ``batch``."""
    variant = item.email
    batch.email_layouts.add(
        html_parts=[variant.html[:20], "preheader", variant.html[20:]],
        text_parts=[variant.text],
    )
    sent = bus_pb2.DispatchItem(
        delivery_id=item.delivery_id, idempotency_key=item.idempotency_key, address=item.address
    )
    sent.laid_out_email.variant.CopyFrom(variant)
    sent.laid_out_email.variant.ClearField("html")
    sent.laid_out_email.variant.ClearField("text")
    sent.laid_out_email.layout = len(batch.email_layouts) - 1
    sent.laid_out_email.html_values.append("")
    return sent


def test_a_laid_out_email_is_the_same_message() -> None:
    batch, item = make_item()
    whole = message_from_item(batch, item)
    assert message_from_item(batch, laid_out(batch, item)) == whole


def test_a_laid_out_email_its_batch_cannot_complete_is_refused() -> None:
    batch, item = make_item()
    sent = laid_out(batch, item)
    sent.laid_out_email.html_values.append("one too many")
    with pytest.raises(PermanentProviderError, match="laid_out_email: 2 values for a layout of 1"):
        message_from_item(batch, sent)
    sent.laid_out_email.layout = 5
    with pytest.raises(PermanentProviderError, match="laid_out_email: the e-mail uses layout 5"):
        message_from_item(batch, sent)
