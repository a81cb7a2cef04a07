"""The SMS Celery worker: ``celery -A brandcast.sms.worker worker`` or ``brandcast-sms worker``."""

from __future__ import annotations

from brandcast.sms.bootstrap import create_worker
from brandcast.sms.settings import SmsSettings

app = create_worker(SmsSettings())
