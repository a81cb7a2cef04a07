"""The orchestrator's glibc malloc settings (see brandcast.orchestrator.malloc_tuning)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# After a freed 4 MiB block, is a 1 MiB block still mmapped (so handed back to
# the kernel when freed) or carved from the heap (glibc's adaptive threshold)?
_PROBE = """
import ctypes, sys
from brandcast.orchestrator.malloc_tuning import tune_malloc

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]

if sys.argv[1] == "tuned":
    assert tune_malloc()
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
libc.mallinfo2.restype = MallInfo2
libc.free(libc.malloc(4 << 20))
before = libc.mallinfo2().hblks
block = libc.malloc(1 << 20)
print(libc.mallinfo2().hblks - before)
libc.free(block)
"""


def _mmapped_blocks_after_a_large_free(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, mode],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    return int(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc only")
def test_large_blocks_stay_mmapped_after_a_large_one_was_freed() -> None:
    assert _mmapped_blocks_after_a_large_free("default") == 0  # glibc adapted
    assert _mmapped_blocks_after_a_large_free("tuned") == 1
