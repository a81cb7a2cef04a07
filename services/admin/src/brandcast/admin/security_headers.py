"""Security headers on every response, and ``Secure`` cookies over TLS.

* ``Content-Security-Policy``: scripts, fonts and connections from this site only; no
  framing by other sites (``frame-ancestors 'none'``), no ``<base>`` or plugins, forms
  post here only. Inline styles stay allowed: the email preview is a sandboxed
  ``srcdoc`` frame, which inherits this policy, and emails are styled inline.
* ``X-Frame-Options: DENY`` for browsers without ``frame-ancestors``.
* ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: same-origin``.
* Served over TLS (the request's scheme is https, e.g. behind a proxy run with
  ``--proxy-headers``): every cookie gets ``Secure`` and HSTS is sent.
"""

from __future__ import annotations

from typing import Final

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY: Final = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: https: http:",
        "font-src 'self' data: https:",
        "connect-src 'self'",
        "frame-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "object-src 'none'",
    ]
)
HEADERS: Final = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}
HSTS: Final = "max-age=31536000"


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tls = scope.get("scheme") == "https"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
                if tls:
                    headers["strict-transport-security"] = HSTS
                    _secure_cookies(headers)
            await send(message)

        await self.app(scope, receive, with_headers)


def _secure_cookies(headers: MutableHeaders) -> None:
    cookies = headers.getlist("set-cookie")
    if not cookies:
        return
    del headers["set-cookie"]
    for cookie in cookies:
        secure = "secure" in [part.strip().lower() for part in cookie.split(";")]
        headers.append("set-cookie", cookie if secure else f"{cookie}; secure")
