"""Process-wide settings for the hot path's two processes (the worker and its helper)."""

from __future__ import annotations

import gc

from threadpoolctl import threadpool_limits

#: Allocations between young collections of Python's cyclic GC (default 700). Every consumed record, parsed
#: event and batch list is a GC-tracked allocation: at the default the collector ran every ~100 events and its
#: older passes walked every live object (seen-item dicts, probe tuples), taking ~40% of the worker's CPU.
#: Measured (bench/ingest.py, 2 cores): 40-42k -> 68k events/s. Reference counting frees nearly everything
#: here, so letting cyclic garbage wait longer costs little memory.
GC_THRESHOLDS = (50_000, 50, 100)


def tune_for_throughput() -> None:
    """Call once at the start of a process on the ingest path."""
    # One BLAS thread: the worker's matrix products are small, and an idle OpenBLAS thread spins. Measured: the
    # worker process used 18 CPU-s for 12 s of ingest with two threads, 9 with one, and the helper process got
    # its core back (16k -> 22k events/s).
    threadpool_limits(limits=1, user_api="blas")
    gc.set_threshold(*GC_THRESHOLDS)
