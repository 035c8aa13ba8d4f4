"""The allocator setting that keeps freed activations from staying resident."""

from __future__ import annotations

import ctypes
import platform
import sys

import pytest

from tunesmith.train.memory import pin_mmap_threshold

MB = 1024 * 1024


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            *("arena", "ordblks", "smblks", "hblks", "hblkhd"),
            *("usmblks", "fsmblks", "uordblks", "fordblks", "keepcost"),
        )
    ]


def _mmapped_bytes(libc) -> int:
    return libc.mallinfo2().hblkhd


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="mallopt is glibc's",
)
def test_a_block_after_a_bigger_free_is_still_mmapped():
    """Unpinned, glibc raises its threshold to 16 MB on the first free and serves the 8 MB
    block from the heap, where it would stay resident after being freed."""
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    libc.mallinfo2.restype = _MallInfo2
    assert pin_mmap_threshold() is True
    libc.free(libc.malloc(16 * MB))
    before = _mmapped_bytes(libc)
    block = libc.malloc(8 * MB)
    try:
        assert _mmapped_bytes(libc) - before >= 8 * MB
    finally:
        libc.free(block)
