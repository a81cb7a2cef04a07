"""A store chore repeated on a daemon thread until stopped.

A failed round is logged and tried again at the next interval: a chore that
gave up after one database blip would silently stop for the life of the process.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger(__name__)


class PeriodicTask:
    """Subclasses name the thread and implement ``run_once``."""

    thread_name = "periodic"

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> Any:
        raise NotImplementedError

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("%s failed; trying again at the next interval", self.thread_name)
            self._stop.wait(self._interval)
