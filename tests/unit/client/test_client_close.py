"""Client.close returns even when grpcio's own close never does."""

from __future__ import annotations

import threading
import time

import grpc
import pytest

from brandcast.client import Client, _sync


class _StuckChannel:
    """Stands in for grpcio's channel in the state grpc/grpc#19973 leaves it in
    (a close that waits forever for a call to drain): it cannot be produced on
    demand, so this is the one stand-in of the client's tests."""

    def __init__(self, real: object) -> None:
        self.real = real
        self.release = threading.Event()
        self.close_started = threading.Event()

    def close(self) -> None:
        self.close_started.set()
        self.release.wait()


def test_close_gives_up_on_a_channel_that_never_closes(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(_sync, "CLOSE_WAIT", 0.3)
    client = Client("127.0.0.1:1")
    stuck = _StuckChannel(client._channel)
    client._channel = stuck  # type: ignore[assignment]
    started = time.monotonic()
    try:
        client.close()
        waited = time.monotonic() - started
    finally:
        stuck.release.set()
        stuck.real.close()  # type: ignore[attr-defined]
    assert stuck.close_started.is_set()
    assert 0.3 <= waited < 2.0
    assert "did not close within" in caplog.text


def test_a_channel_that_closes_is_closed_at_once() -> None:
    client = Client("127.0.0.1:1")
    started = time.monotonic()
    client.close()
    assert time.monotonic() - started < _sync.CLOSE_WAIT
    call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = client._channel.unary_unary("/x/y")
    with pytest.raises(ValueError, match="closed"):
        call(b"")
