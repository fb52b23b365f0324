"""The order the tests are collected in, so that pytest-xdist's workers finish together.

``--dist worksteal`` first hands each of the W workers a contiguous share of the collected list
(``len(pending) // workers left``, in turn), and a worker that runs out later takes half of the
queue of the busiest one, from its end. About fifty tests (those marked ``slow``: real processes,
real waits) take three quarters of the suite's time; left where their modules put them, a few
workers get most of them and the run ends on one worker's tail. :func:`order` deals the slow
tests out across the shares, in turn, and puts each share's slow tests at its front: every worker
starts on its slow tests, and what is left to take at the end is short."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import islice
from typing import TypeVar

T = TypeVar("T")


def share_sizes(total: int, workers: int) -> list[int]:
    """The sizes of the contiguous shares worksteal hands out first, in order."""
    sizes = []
    for i in range(workers):
        size = total // (workers - i)
        sizes.append(size)
        total -= size
    return sizes


def order(items: Sequence[T], workers: int, slow: Callable[[T], bool]) -> list[T]:
    """``items`` reordered: share k (of :func:`share_sizes`) starts with slow tests k, k+W, k+2W, ...
    (as many as fit) and is filled with the others in their collected order. With fewer than two
    workers, the order is kept."""
    if workers < 2:
        return list(items)
    sizes = share_sizes(len(items), workers)
    slow_items = [i for i in items if slow(i)]
    heads = [slow_items[k::workers][:size] for k, size in enumerate(sizes)]
    placed = {id(i) for head in heads for i in head}
    fill = iter([i for i in items if id(i) not in placed])
    out: list[T] = []
    for head, size in zip(heads, sizes, strict=True):
        out.extend(head)
        out.extend(islice(fill, size - len(head)))
    return out
