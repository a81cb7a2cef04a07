"""Stopping a worker a test started, with every process it forked.

A Celery worker is a main process and its pool's children. Killing only the
main one after a slow warm shutdown orphans the children, which then live on
(two probe adapters from earlier runs were found hours later, holding broker
connections). Started in a session of their own, they are stopped as a group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess


def stop_group(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM to ``proc``, then SIGKILL to its whole process group once it has
    exited or ``timeout`` passed. ``proc`` must have been started with
    ``start_new_session=True``."""
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout)
    with contextlib.suppress(ProcessLookupError):  # the group has already gone
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout)
