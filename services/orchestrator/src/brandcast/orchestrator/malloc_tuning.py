"""glibc malloc settings that keep the orchestrator's RSS from ratcheting up.

Most of what the orchestrator allocates while a campaign runs is not Python's
(tracemalloc saw under 9 MB at its peak during a 50k-recipient bench run while
RSS grew by over 20 MB): libpq results, protobuf (upb) arenas and gRPC buffers,
freed after each round. glibc keeps such memory by default:

- after the first large block is freed it raises its mmap threshold (up to
  32 MB), so later large blocks come from the heap and their pages stay
  resident once freed, wherever a small live block pins the heap behind them;
- every thread that contends gets an arena of its own (up to 8 per core), each
  holding its own free memory.

A fixed 128 KiB mmap threshold hands large blocks back to the kernel when they
are freed, and two arenas bound the per-thread copies. An operator's own
``MALLOC_ARENA_MAX`` / ``MALLOC_MMAP_THRESHOLD_`` win: glibc read them at start.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
from typing import Final

log = logging.getLogger(__name__)

#: mallopt parameters (malloc.h).
_M_MMAP_THRESHOLD: Final = -3
_M_ARENA_MAX: Final = -8
#: Blocks from this size on are mmapped, and unmapped when freed: glibc's
#: default before it adapts.
MMAP_THRESHOLD: Final = 128 * 1024
ARENA_MAX: Final = 2


def tune_malloc() -> bool:
    """Apply the settings above; False where the C library is not glibc."""
    libc = _glibc()
    if libc is None:
        return False
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    if "MALLOC_ARENA_MAX" not in os.environ:
        libc.mallopt(_M_ARENA_MAX, ARENA_MAX)
    return True


def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it (musl has mallopt as a no-op)
    except (OSError, AttributeError):
        log.debug("not glibc: malloc left as it is")
        return None
    return libc
