"""A loopback HTTP server that records every request and answers as scripted.

The official SDKs and our provider classes are pointed at it, one after the other,
and their requests compared: method, path, query, the headers that carry meaning,
and the body. For SDKs whose API host is fixed, ``RedirectAdapter`` sends their
``requests`` traffic to the recorder (the transport is redirected, the SDK is not
touched).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from brandcast.shared.http_thread import serve_in_thread

#: Headers every client sets its own way; everything else must match the SDK's.
INCIDENTAL_HEADERS = frozenset(
    {
        "host", "user-agent", "accept", "accept-encoding", "accept-charset", "connection",
        "content-length",
        "x-twilio-client", "x-client-platform", "x-stainless-lang",
    }
)  # fmt: skip


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode(), keep_blank_values=True)

    def meaningful_headers(self) -> dict[str, str]:
        """Headers that say something to the provider (auth, content type, versions, keys)."""
        return {k: v for k, v in self.headers.items() if k not in INCIDENTAL_HEADERS}


Answer = Callable[[Request], Response]


@dataclass
class Recorder:
    """Answers ``(method, path)`` from ``answers`` (JSON 200 ``{}`` otherwise)."""

    answers: Mapping[tuple[str, str], Answer] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)

    def app(self) -> Starlette:
        async def record(request: Request) -> Response:
            self.requests.append(
                Recorded(
                    request.method,
                    request.url.path,
                    parse_qs(request.url.query, keep_blank_values=True),
                    {k.lower(): v for k, v in request.headers.items()},
                    await request.body(),
                )
            )
            answer = self.answers.get((request.method, request.url.path))
            return answer(request) if answer is not None else JSONResponse({})

        methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
        return Starlette(routes=[Route("/{path:path}", record, methods=methods)])

    def take(self) -> list[Recorded]:
        taken, self.requests = list(self.requests), []
        return taken


@contextmanager
def recording(answers: Mapping[tuple[str, str], Answer]) -> Iterator[tuple[Recorder, str]]:
    recorder = Recorder(answers)
    with serve_in_thread(recorder.app()) as running:
        yield recorder, running.url


class RedirectAdapter(HTTPAdapter):
    """Sends every request of a ``requests`` session to ``target`` (scheme and host)."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self._target = urlsplit(target)

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(str(request.url))
        request.url = urlunsplit(parts._replace(scheme=self._target.scheme,
                                                netloc=self._target.netloc))  # fmt: skip
        request.headers["Host"] = self._target.netloc
        return super().send(request, *args, **kwargs)


def redirect(session: requests.Session, target: str) -> None:
    adapter = RedirectAdapter(target)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
