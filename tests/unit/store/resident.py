"""Resident memory of what a piece of work leaves behind, as the memory tests of the store measure it."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable


def resident_after(work: Callable[[], None]) -> int:
    """Bytes still allocated (tracemalloc, every allocator domain) once `work` has run and garbage is collected."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        work()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
