"""The design a team would write first, kept small and honest.

One Celery task per delivery (email or SMS); each task sends to the same SMTP sink
or SMS emulator our adapters use (or does nothing with ``NAIVE_PROVIDERS=null``),
then writes its receipt as one UPDATE with its own commit. Acks are late, as any
team that cares about not losing messages would configure.

Configured by environment: ``NAIVE_BROKER_URL``, ``NAIVE_DATABASE_URL`` (psycopg
URL), ``NAIVE_SMTP_PORT``, ``NAIVE_SMS_URL``, ``NAIVE_PROVIDERS`` (sandbox|null).
"""

from __future__ import annotations

import os
import smtplib
import uuid
from email.message import EmailMessage
from typing import Any

import httpx
import psycopg
from celery import Celery

app = Celery("naive", broker=os.environ.get("NAIVE_BROKER_URL", "amqp://127.0.0.1//"))
app.conf.update(
    task_acks_late=True,
    task_ignore_result=True,
    worker_prefetch_multiplier=4,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS naive_deliveries (
    id TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    address TEXT NOT NULL,
    status TEXT NOT NULL,
    provider_message_id TEXT NOT NULL DEFAULT ''
)
"""


#: One HTTP client per worker process (created after the prefork fork, on first use).
_http: httpx.Client | None = None


def _client() -> httpx.Client:
    global _http  # noqa: PLW0603 - one client per process, as most teams would write it
    if _http is None:
        _http = httpx.Client(timeout=10)
    return _http


def _null() -> bool:
    return os.environ.get("NAIVE_PROVIDERS", "sandbox") == "null"


def _record(delivery_id: str, status: str, provider_message_id: str) -> None:
    # One connection and one commit per receipt: what "save the result" usually becomes.
    with psycopg.connect(os.environ["NAIVE_DATABASE_URL"]) as conn:
        conn.execute(
            "UPDATE naive_deliveries SET status = %s, provider_message_id = %s WHERE id = %s",
            (status, provider_message_id, delivery_id),
        )


@app.task(name="naive.send_email", bind=True, max_retries=5)  # type: ignore[untyped-decorator]
def send_email(
    self: Any, delivery_id: str, to: str, sender: str, subject: str, text: str, html: str
) -> None:
    message_id = f"<{delivery_id}@acme.example>"
    if not _null():
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = sender, to, subject
        message["Message-ID"] = message_id
        message.set_content(text)
        message.add_alternative(html, subtype="html")
        try:
            with smtplib.SMTP("127.0.0.1", int(os.environ["NAIVE_SMTP_PORT"]), timeout=30) as smtp:
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise self.retry(exc=exc, countdown=2) from exc
    _record(delivery_id, "sent", message_id)


@app.task(name="naive.send_sms", bind=True, max_retries=5)  # type: ignore[untyped-decorator]
def send_sms(self: Any, delivery_id: str, to: str, sender: str, text: str) -> None:
    sid = "SM" + uuid.uuid4().hex
    if not _null():
        try:
            answer = _client().post(
                f"{os.environ['NAIVE_SMS_URL']}/2010-04-01/Accounts/ACsandbox/Messages.json",
                data={"To": to, "From": sender, "Body": text},
                auth=("ACsandbox", "sandbox-token"),
            )
        except httpx.HTTPError as exc:
            raise self.retry(exc=exc, countdown=2) from exc
        if answer.status_code == 429 or answer.status_code >= 500:
            raise self.retry(countdown=2)
        if answer.status_code >= 400:
            _record(delivery_id, "failed", "")
            return
        sid = str(answer.json()["sid"])
    _record(delivery_id, "sent", sid)
