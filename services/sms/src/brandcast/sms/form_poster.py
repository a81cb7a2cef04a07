"""POSTing forms from the emulator: its status callbacks and simulated inbound replies.

The emulator posts two status callbacks per message to one webhook URL. Through
httpx's ``AsyncClient`` each cost the emulator ~0.5 ms of CPU (its connection
pool walks every queued request on every step, and httpcore tries to import
``sniffio`` on each request when it is not installed): most of the emulator's
CPU. This poster speaks just what those callbacks need, HTTP/1.1 over
connections kept alive per host, in ~0.1 ms: a request with ``Content-Length``,
an answer read by ``Content-Length``, chunked, or to the end of the connection.

At most ``concurrency`` requests are in flight; more wait their turn (the
webhooks are one process: more connections would only queue there).
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

#: What a kept connection is: its reader and writer.
_Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class PostError(Exception):
    """The request got no HTTP answer (refused, reset, timed out, not HTTP)."""


@dataclass(frozen=True)
class FormResponse:
    status_code: int
    text: str


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    #: The Host header: the URL's host and port, as written.
    authority: str
    #: Path and query.
    target: str


def _target(url: str) -> _Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PostError(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    authority = parts.netloc.rpartition("@")[2]
    return _Target(parts.scheme, parts.hostname, port, authority, target)


class FormPoster:
    def __init__(self, *, concurrency: int, timeout: float, user_agent: str) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._timeout = timeout
        self._user_agent = user_agent
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._tls: ssl.SSLContext | None = None

    async def post(self, url: str, form: dict[str, str], headers: dict[str, str]) -> FormResponse:
        """POST ``form`` (URL-encoded) with ``headers``; ``PostError`` without an answer."""
        target = _target(url)
        body = urlencode(form).encode()
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        request = (
            f"POST {target.target} HTTP/1.1\r\nHost: {target.authority}\r\n"
            f"User-Agent: {self._user_agent}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\n{head}\r\n"
        ).encode("latin-1") + body
        async with self._slots:
            try:
                async with asyncio.timeout(self._timeout):
                    return await self._exchange(target, request)
            except TimeoutError as exc:
                raise PostError(f"no answer from {url} within {self._timeout:g}s") from exc
            except (
                OSError,
                ValueError,
                asyncio.IncompleteReadError,
                asyncio.LimitOverrunError,
            ) as exc:
                raise PostError(f"{type(exc).__name__}: {exc} ({url})") from exc

    async def _exchange(self, target: _Target, request: bytes) -> FormResponse:
        key = (target.scheme, target.host, target.port)
        kept = self._idle.get(key)
        if kept:
            reader, writer = kept.pop()
            try:
                return await self._round_trip(key, reader, writer, request)
            except (OSError, asyncio.IncompleteReadError):
                # The server closed the kept connection (its keep-alive timeout) before
                # reading the request: once more on a new one.
                writer.close()
        reader, writer = await asyncio.open_connection(
            target.host, target.port, ssl=self._tls_context() if target.scheme == "https" else None
        )
        try:
            return await self._round_trip(key, reader, writer, request)
        except BaseException:
            writer.close()
            raise

    async def _round_trip(
        self,
        key: tuple[str, str, int],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: bytes,
    ) -> FormResponse:
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        version, _, rest = status_line.partition(" ")
        if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
            raise PostError(f"not an HTTP/1.x answer: {status_line[:80]!r}")
        headers = {}
        for line in header_lines:
            name, colon, value = line.partition(":")
            if colon:
                headers[name.strip().lower()] = value.strip()
        keep = headers.get("connection", "").lower() != "close" and version == "HTTP/1.1"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = await _read_chunked(reader)
        elif "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        else:
            body, keep = await reader.read(), False
        if keep:
            self._idle.setdefault(key, []).append((reader, writer))
        else:
            writer.close()
        return FormResponse(int(rest[:3]), body.decode("utf-8", "replace"))

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    async def aclose(self) -> None:
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for _, writer in connections:
                writer.close()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            # Trailer fields, then the blank line.
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)


__all__ = ["FormPoster", "FormResponse", "PostError"]
