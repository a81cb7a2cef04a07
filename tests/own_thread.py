"""Run asyncio code (or anything that may call ``asyncio.run``) on a thread of its own.

pytest-playwright starts Playwright's sync API once per session; from then on the main
thread has an event loop marked as running, and ``asyncio.run`` there raises "cannot be
called from a running event loop" in every test that runs after a browser test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


def run_on_own_thread(function: Callable[..., T], *args: Any) -> T:
    with ThreadPoolExecutor(1, thread_name_prefix="own-loop") as pool:
        return pool.submit(function, *args).result()


def run_async(main: Coroutine[Any, Any, T]) -> T:
    with ThreadPoolExecutor(1, thread_name_prefix="own-loop") as pool:
        return pool.submit(asyncio.run, main).result()
