"""The cyclic garbage collector, kept off the data of a command while it is built in bulk: loading
files, listing the org and planning allocate many objects that form no reference cycles and stay
alive for the rest of the command, which each run of the collector would traverse again for nothing."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block; what it built is frozen at its end
    (nested blocks: the outermost one does both).

    Frozen (``gc.freeze``): moved to the collector's permanent generation, never traversed again,
    still freed by reference counting as usual; objects made afterwards are collected as always.
    The only cost: a reference cycle alive at the freeze that becomes garbage later is not
    reclaimed before the process ends (loading and planning make none)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
