"""Logging for every service: JSON or text lines, with personal data redacted.

Email addresses, phone numbers and bearer tokens are masked in every record
(message and arguments) unless ``LOG_REDACT=false`` is set explicitly for
debugging, so logs can be shipped anywhere without leaking recipients.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from typing import Any

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Digits in groups separated by spaces, dashes or parentheses (never dots, so IP
# addresses and version numbers stay readable), with or without a leading "+".
# Not inside a UUID or another dash-joined identifier either.
_PHONE = re.compile(r"(?<![\w.-])\+?\(?\d(?:[\s()-]{0,2}\d){7,14}(?![\w.-])")
# Signed tokens (``brandcast.shared.tokens``, JWTs): their payload may hold an
# address, base64-encoded, e.g. in an unsubscribe link's path.
_SIGNED_TOKEN = re.compile(r"[\w-]{8,}\.[\w-]{43}(?![\w-])")
_BEARER = re.compile(r"(?i)(bearer\s+)[\w.~+/=-]+")
_SECRET_PARAM = re.compile(r"(?i)((?:token|password|secret|key)=)[^&\s]+")

#: Extra record attributes that JSON lines carry when present.
CONTEXT_FIELDS = ("campaign_id", "delivery_id", "batch_id", "channel", "provider", "service")


def redact(text: str) -> str:
    text = _BEARER.sub(r"\1[redacted]", text)
    text = _SECRET_PARAM.sub(r"\1[redacted]", text)
    text = _SIGNED_TOKEN.sub("[token]", text)
    text = _EMAIL.sub("[email]", text)
    return _PHONE.sub("[phone]", text)


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = record.exc_text or self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False)


def configure_logging(level: str = "INFO", fmt: str = "text", service: str = "") -> None:
    """Route the root logger to stderr once, redacted unless LOG_REDACT=false."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        prefix = f"{service} " if service else ""
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s %(levelname)s {prefix}%(name)s: %(message)s")
        )
    if os.environ.get("LOG_REDACT", "true").lower() != "false":
        handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
