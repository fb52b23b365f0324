"""The collection order that spreads the slow tests over pytest-xdist's workers (tests/scheduling.py)."""

from __future__ import annotations

import pytest
from scheduling import order, share_sizes


def shares(items: list[str], workers: int) -> list[list[str]]:
    out, start = [], 0
    for size in share_sizes(len(items), workers):
        out.append(items[start : start + size])
        start += size
    return out


def test_share_sizes_are_those_worksteal_hands_out():
    assert share_sizes(10, 4) == [2, 2, 3, 3]
    assert share_sizes(827, 4) == [206, 207, 207, 207]
    assert sum(share_sizes(5, 3)) == 5


@pytest.mark.parametrize("workers", [2, 3, 4])
def test_each_share_starts_with_its_turn_of_the_slow_tests(workers):
    items = [f"fast{i}" for i in range(30)]
    for i, at in enumerate((0, 1, 2, 3, 4, 5, 6, 7)):  # slow tests bunched as a module puts them
        items.insert(at, f"slow{i}")
    ordered = order(items, workers, lambda t: t.startswith("slow"))
    assert sorted(ordered) == sorted(items)  # nothing lost, nothing repeated
    for k, share in enumerate(shares(ordered, workers)):
        mine = [f"slow{i}" for i in range(k, 8, workers)]
        assert share[: len(mine)] == mine
        assert [t for t in share if t.startswith("fast")] == sorted(
            (t for t in share if t.startswith("fast")), key=lambda t: int(t[4:])
        )  # the others keep their collected order


def test_more_slow_tests_than_a_share_holds_are_all_kept():
    items = [f"slow{i}" for i in range(9)] + ["fast0"]
    ordered = order(items, 4, lambda t: t.startswith("slow"))
    assert sorted(ordered) == sorted(items)


def test_one_worker_keeps_the_collected_order():
    items = ["fast0", "slow0", "fast1"]
    assert order(items, 1, lambda t: t.startswith("slow")) == items
