"""Keep freed activation memory from piling up in the process (glibc's malloc on Linux).

glibc serves big blocks with mmap and returns them on free, but after each such free it raises
its mmap threshold (up to 32 MB), so the next step's activation buffers come from the heap
instead, where freed space stays mapped: resident memory grew by about 1.3 GB over a few LoRA
steps of the default model. Pinning the threshold keeps large buffers in mmap, which goes back
to the system when a step ends. The price is a page fault on every fresh page of every big
buffer: LoRA steps of the default model ran about 25% slower, so it is a switch
(``train.release_memory``), off by default. Elsewhere (macOS, musl, Windows) it is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

#: mallopt parameter numbers from glibc's malloc.h.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: Blocks from this size up are mmapped (128 KiB, glibc's own starting value).
MMAP_THRESHOLD_BYTES = 128 * 1024


def pin_mmap_threshold() -> bool:
    """Stop glibc from raising its mmap threshold; True when the setting took effect."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl has no mallopt)
        return False
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    return ok and mallopt(_M_TRIM_THRESHOLD, 2 * MMAP_THRESHOLD_BYTES) == 1
