"""The allocator setting that keeps freed activations from staying resident."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

#: Run in a fresh process: the test process's own allocator state (threads, earlier tests'
#: frees) would make where a block lands depend on test order.
PROBE = """
import ctypes, sys
from pathlib import Path
from tunesmith.train.memory import pin_mmap_threshold

MB = 1024 * 1024
libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "pin":
    assert pin_mmap_threshold() is True
libc.free(libc.malloc(16 * MB))  # unpinned, glibc now raises its threshold to 16 MB
block = libc.malloc(8 * MB)
for line in Path("/proc/self/maps").read_text().splitlines():
    if line.endswith("[heap]"):
        low, high = (int(x, 16) for x in line.split()[0].split("-"))
        print("heap" if low <= block < high else "mmap")
        break
else:
    print("mmap")
"""


def _where_an_8mb_block_lands(mode: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="mallopt is glibc's",
)
def test_a_block_after_a_bigger_free_stays_mmapped_only_when_pinned():
    """In the heap, a freed block stays resident; an mmapped one goes back to the system."""
    assert _where_an_8mb_block_lands("default") == "heap"
    assert _where_an_8mb_block_lands("pin") == "mmap"
