"""The cyclic garbage collector, kept off the data of a command while it is built in bulk.

Loading thousands of connector files, listing thousands of remote connectors and planning
them allocate millions of objects that form no reference cycles and stay alive for the rest
of the command. Each run of the collector would traverse all of them again, several times
over (about a tenth of the CPU time of a plan of 5,000 connectors), to find nothing.

So inside :func:`paused` the collector is off, and at its end every object alive is moved to
the collector's permanent generation (``gc.freeze``): never traversed again, still freed by
reference counting as usual. Objects made afterwards are collected as always. The only cost:
a reference cycle that was alive at the freeze and becomes garbage later is not reclaimed
before the process ends (loading and planning make none).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block; what it built is frozen at its end
    (nested blocks: the outermost one does both)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
