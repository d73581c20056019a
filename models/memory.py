"""Giving freed memory back to the operating system after bursts (a retraining, a checkpoint, a drift report).

glibc's malloc keeps what Python and NumPy free for reuse. After a burst of large short-lived buffers (a
checkpoint's bytes, an epoch's tensors, a report's frames) the free space sits inside its heaps, where only
what is at a heap's very top is handed back by itself: a long-lived process's RSS keeps the burst's peak and
creeps up with fragmentation, which an hour's soak reads as growth (docs/benchmarks.md). `malloc_trim(0)` hands
back the free pages anywhere in the heaps. Where the C library has no such call (musl, macOS) nothing happens.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import Any


@functools.cache
def _malloc_trim() -> Any:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim  # ctypes releases the GIL for the call: other threads go on meanwhile
    except (OSError, AttributeError):
        return None


def trim_memory() -> bool:
    """Hand freed heap memory back to the OS; whether any was (False where the C library cannot)."""
    trim = _malloc_trim()
    return bool(trim is not None and trim(0))
