"""The SMTP provider against the real sink on loopback: what arrives, how SMTP replies
map to errors, connection reuse, DKIM on the wire, and injection attempts."""

from __future__ import annotations

import base64
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage as ParsedMessage
from email.parser import BytesParser
from email.policy import default
from pathlib import Path

import dkim
import pytest

from brandcast.email.deliver import deliver_email
from brandcast.email.dkim_signing import DkimSigner
from brandcast.email.providers.smtp import SmtpProvider
from brandcast.email.sandbox.samples import sample_batch, sample_item
from brandcast.email.sandbox.smtp_sink import (
    FailureRule,
    SinkController,
    read_index,
    start_sink,
    wait_for_messages,
)
from brandcast.shared.devstack import free_port
from brandcast.shared.errors import PermanentProviderError, TransientProviderError


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SinkController]:
    controller, _ = start_sink(tmp_path / "mail")
    yield controller
    controller.stop()


@pytest.fixture
def smtp(sink: SinkController) -> Iterator[SmtpProvider]:
    provider = SmtpProvider("127.0.0.1", sink.port, timeout=5)
    yield provider
    provider.close()


def send(provider: SmtpProvider, address: str, number: int = 1, **variant: str) -> str:
    item = sample_item(address, number, **variant)
    batch = sample_batch([item])
    outcome = deliver_email(batch, item, send=lambda m, k: provider.send(m, idempotency_key=k))
    return outcome.provider_message_id


def parse(sink: SinkController, entry: dict[str, object]) -> ParsedMessage:
    raw = (sink.handler.directory / str(entry["file"])).read_bytes()
    parsed = BytesParser(policy=default).parsebytes(raw)
    assert isinstance(parsed, ParsedMessage)
    return parsed


def test_delivered_message_is_complete_and_correct(
    sink: SinkController, smtp: SmtpProvider
) -> None:
    message_id = send(
        smtp,
        "reader@example.org",
        7,
        subject="Ünïcödé sale ✓ 春",
        from_name="Zoë «Acme» Café",
        to_name="Łukasz Reader",
        list_unsubscribe_mailto="mailto:unsub@acme.example?subject=t7",
    )
    [entry] = wait_for_messages(sink.handler.directory, 1)
    assert entry["mail_from"] == "news@acme.example"
    assert entry["rcpt_tos"] == ["reader@example.org"]
    assert entry["subject"] == "Ünïcödé sale ✓ 春"
    assert entry["message_id"] == message_id
    parsed = parse(sink, entry)
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    assert "<b>7</b>" in parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert parsed["Subject"] == "Ünïcödé sale ✓ 春"
    assert parsed["From"].addresses[0].display_name == "Zoë «Acme» Café"
    assert parsed["To"].addresses[0].display_name == "Łukasz Reader"
    assert parsed["Message-ID"] == message_id
    assert message_id.endswith("@acme.example>")
    # Long enough to be folded after the colon; unfolding leaves the leading FWS.
    assert parsed["List-Unsubscribe"].strip() == (
        "<https://acme.example/unsubscribe/t7>, <mailto:unsub@acme.example?subject=t7>"
    )
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_one_connection_serves_many_messages(sink: SinkController, smtp: SmtpProvider) -> None:
    for number in range(5):
        send(smtp, f"r{number}@example.org", number)
    assert len(wait_for_messages(sink.handler.directory, 5)) == 5
    assert smtp.connections_opened == 1
    assert sink.handler.sessions == 1


def test_reconnects_after_the_server_closed_the_connection(
    sink: SinkController, smtp: SmtpProvider
) -> None:
    send(smtp, "first@example.org", 1)
    # 421 makes smtplib close the socket: the next send must reconnect by itself.
    sink.handler.fail("closing@example.org", 421, times=1)
    with pytest.raises(TransientProviderError) as caught:
        send(smtp, "closing@example.org", 2)
    assert (caught.value.code, caught.value.outage) == ("421", True)
    send(smtp, "second@example.org", 3)
    assert [e["rcpt_tos"] for e in wait_for_messages(sink.handler.directory, 2)] == [
        ["first@example.org"],
        ["second@example.org"],
    ]
    assert smtp.connections_opened == 2


def test_stale_kept_connection_is_replaced_transparently(
    sink: SinkController, smtp: SmtpProvider
) -> None:
    send(smtp, "first@example.org", 1)
    # Simulate the server's idle timeout: the kept socket dies under the client.
    [kept] = smtp._idle
    kept.sock.shutdown(socket.SHUT_RDWR)  # type: ignore[union-attr]
    send(smtp, "second@example.org", 2)
    assert len(wait_for_messages(sink.handler.directory, 2)) == 2
    assert smtp.connections_opened == 2


def test_pooled_sessions_carry_concurrent_sends_each_message_once(
    sink: SinkController,
) -> None:
    provider = SmtpProvider("127.0.0.1", sink.port, timeout=5, max_connections=3)
    try:
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(lambda n: send(provider, f"r{n}@example.org", n), range(30)))
        opened = provider.connections_opened
        with ThreadPoolExecutor(8) as pool:
            ids += pool.map(lambda n: send(provider, f"r{n}@example.org", n), range(30, 40))
    finally:
        provider.close()
    entries = wait_for_messages(sink.handler.directory, 40)
    assert sorted(e["message_id"] for e in entries) == sorted(ids)
    assert len(set(ids)) == 40
    assert sorted(e["rcpt_tos"][0] for e in entries) == sorted(
        f"r{n}@example.org" for n in range(40)
    )
    # Never more sessions than the pool allows, and the second round reused them.
    assert 1 <= opened <= 3
    assert provider.connections_opened == opened
    assert sink.handler.sessions == opened


def test_a_slow_session_does_not_hold_up_the_others(sink: SinkController) -> None:
    provider = SmtpProvider("127.0.0.1", sink.port, timeout=5, max_connections=2)
    sink.handler.hold("slow@example.org")
    try:
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(send, provider, "slow@example.org", 1)
            deadline = time.monotonic() + 5
            while sink.handler.waiting == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert sink.handler.waiting == 1
            for number in range(2, 5):
                send(provider, f"quick{number}@example.org", number)
            assert not slow.done()
            sink.handler.release()
            slow.result(timeout=5)
    finally:
        sink.handler.release()
        provider.close()
    entries = wait_for_messages(sink.handler.directory, 4)
    assert entries[-1]["rcpt_tos"] == ["slow@example.org"]
    assert provider.connections_opened == 2


def test_4xx_is_transient_and_5xx_permanent_with_the_smtp_code(
    sink: SinkController, smtp: SmtpProvider
) -> None:
    with pytest.raises(TransientProviderError) as transient:
        send(smtp, "slow+451@example.org")
    assert (transient.value.code, transient.value.outage, transient.value.provider) == (
        "451",
        False,
        "smtp",
    )
    with pytest.raises(PermanentProviderError) as permanent:
        send(smtp, "bounce+550@example.org")
    assert permanent.value.code == "550"
    assert "Mailbox unavailable" in permanent.value.message
    # The connection stays usable after refusals.
    send(smtp, "fine@example.org")
    assert [e["rcpt_tos"] for e in wait_for_messages(sink.handler.directory, 1)] == [
        ["fine@example.org"]
    ]
    assert smtp.connections_opened == 1


def test_refused_connection_is_a_transient_outage() -> None:
    provider = SmtpProvider("127.0.0.1", free_port(), timeout=2)  # nothing listens there
    with pytest.raises(TransientProviderError) as caught:
        send(provider, "reader@example.org")
    assert (caught.value.code, caught.value.outage) == ("connection_failed", True)


def test_silent_server_times_out_as_an_outage() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        # Accepts TCP but never greets: the client's timeout must fire.
        provider = SmtpProvider("127.0.0.1", listener.getsockname()[1], timeout=0.5)
        with pytest.raises(TransientProviderError) as caught:
            send(provider, "reader@example.org")
    assert caught.value.outage


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject", "Sale\r\nBcc: victim@evil.example"),
        ("from_name", "Acme\r\nBcc: victim@evil.example"),
        ("to_name", "Reader\nBcc: victim@evil.example"),
    ],
)
def test_injection_attempts_send_nothing(
    sink: SinkController, smtp: SmtpProvider, field: str, value: str
) -> None:
    with pytest.raises(PermanentProviderError, match="line breaks"):
        send(smtp, "reader@example.org", 1, **{field: value})
    with pytest.raises(PermanentProviderError, match="single email address"):
        send(smtp, "reader@example.org, victim@evil.example")
    send(smtp, "control@example.org", 2)
    entries = wait_for_messages(sink.handler.directory, 1)
    assert [e["rcpt_tos"] for e in entries] == [["control@example.org"]]
    parsed = parse(sink, entries[0])
    assert parsed["Bcc"] is None
    assert "victim" not in str(parsed)


def test_dkim_signature_verifies_on_what_arrived(sink: SinkController, tmp_path: Path) -> None:
    key = tmp_path / "dkim.pem"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    der = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    signer = DkimSigner.from_file(key, selector="brand", domain="acme.example")
    provider = SmtpProvider("127.0.0.1", sink.port, timeout=5, dkim=signer)
    try:
        send(provider, "reader@example.org", 3, subject="Signé ✓")
    finally:
        provider.close()
    [entry] = wait_for_messages(sink.handler.directory, 1)
    raw = (sink.handler.directory / entry["file"]).read_bytes()

    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"brand._domainkey.acme.example."
        return b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)

    assert raw.startswith(b"DKIM-Signature:")
    assert dkim.verify(raw, dnsfunc=dns)


def test_sink_fail_rules_from_the_command_line_syntax(tmp_path: Path) -> None:
    address, rule = FailureRule.parse("Slow@Example.org=451:2")
    assert (address, rule.code, rule.remaining) == ("slow@example.org", 451, 2)
    with pytest.raises(ValueError, match="4xx or 5xx"):
        FailureRule.parse("x@example.org=250")
    controller, port = start_sink(tmp_path / "m", failures={address: rule})
    provider = SmtpProvider("127.0.0.1", port, timeout=5)
    try:
        for _ in range(2):
            with pytest.raises(TransientProviderError):
                send(provider, "slow@example.org")
        send(provider, "slow@example.org")
    finally:
        provider.close()
        controller.stop()
    assert len(read_index(tmp_path / "m")) == 1
    assert controller.handler.refused == [("slow@example.org", 451)] * 2


@pytest.mark.parametrize("word", ["a", "é"])
def test_a_body_line_over_998_octets_arrives_whole(
    sink: SinkController, smtp: SmtpProvider, word: str
) -> None:
    """Issue #19: a 5,000-character line used to fail with "Line too long" at
    the server (the sink, like aiosmtpd and Postfix, refuses lines over 1,000
    octets); the part is encoded so that no line on the wire is that long."""
    line = (word * 4999) + "!"
    send(smtp, "reader@example.org", text=line, html=f"<p>{line}</p>")
    [entry] = wait_for_messages(sink.handler.directory, 1)
    raw = (sink.handler.directory / str(entry["file"])).read_bytes()
    assert max(len(wire_line) for wire_line in raw.split(b"\r\n")) <= 998
    parsed = parse(sink, entry)
    assert parsed.get_body(("plain",)).get_content().strip() == line  # type: ignore[union-attr]
    assert line in parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]
