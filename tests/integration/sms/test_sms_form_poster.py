"""The emulator's form poster against real loopback servers: kept-alive connections,
a server that closed one, chunked and close-delimited answers, and no server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from brandcast.shared.devstack import free_port
from brandcast.sms.form_poster import FormPoster, PostError

Answer = Callable[[int], bytes]


async def serve(answer: Answer, *, close_after: int) -> tuple[asyncio.Server, list[bytes]]:
    """A raw HTTP server: answers each request with ``answer(n)``, closes every connection
    after ``close_after`` requests; records the requests it read."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for _ in range(close_after):
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            seen.append(head + await reader.readexactly(length))
            writer.write(answer(len(seen)))
            await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0), seen


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def fixed(n: int) -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_connections_are_kept_and_reopened_when_the_server_closed_them() -> None:
    async def scenario() -> None:
        server, seen = await serve(fixed, close_after=2)
        port = server.sockets[0].getsockname()[1]
        poster = FormPoster(concurrency=1, timeout=5, user_agent="test")
        for i in range(5):
            response = await poster.post(
                f"http://127.0.0.1:{port}/status?d=x", {"n": str(i), "a b": "c&d"}, {"X-S": "1"}
            )
            assert (response.status_code, response.text) == (200, "ok")
            await asyncio.sleep(0.01)  # lets the server close after its second answer
        assert len(seen) == 5
        assert seen[0].startswith(b"POST /status?d=x HTTP/1.1\r\nHost: 127.0.0.1:")
        assert b"\r\nX-S: 1\r\n" in seen[0]
        assert seen[0].endswith(b"\r\n\r\nn=0&a+b=c%26d")
        await poster.aclose()
        server.close()

    run(scenario)


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\ntry\r\n6\r\n again\r\n0\r\n\r\n",
        b"HTTP/1.0 503 Busy\r\n\r\ntry again",
    ],
)
def test_chunked_and_close_delimited_answers_are_read(answer: bytes) -> None:
    async def scenario() -> None:
        server, _ = await serve(lambda n: answer, close_after=1)
        port = server.sockets[0].getsockname()[1]
        poster = FormPoster(concurrency=1, timeout=5, user_agent="test")
        response = await poster.post(f"http://127.0.0.1:{port}/s", {}, {})
        assert (response.status_code, response.text) == (503, "try again")
        await poster.aclose()
        server.close()

    run(scenario)


def test_no_server_is_a_post_error() -> None:
    async def scenario() -> None:
        poster = FormPoster(concurrency=1, timeout=5, user_agent="test")
        with pytest.raises(PostError):
            await poster.post(f"http://127.0.0.1:{free_port()}/s", {}, {})

    run(scenario)
