"""``--target`` checked against the connectors it can name: those of the files and of the state.
A name or glob matching none of them is an error naming the nearest name."""

import pytest
from helpers import desired

from conn_reconcile.errors import ConfigError
from conn_reconcile.model.state import ManagedRecord, State
from conn_reconcile.plan.selection import check_targets

FILES = [desired(name="wiki"), desired(name="alpha")]
STATE = State(connectors={"g-1": ManagedRecord(id="g-1", name="gamma")})


@pytest.mark.parametrize("targets", [["wiki"], ["wik*"], ["gamma"], ["[ag]*"], []])
def test_targets_naming_a_file_or_a_managed_connector(targets):
    check_targets(targets, FILES, STATE)


def test_unknown_targets_are_each_named_with_the_nearest_name():
    with pytest.raises(ConfigError) as caught:
        check_targets(["wikki", "alpha", "gama", "zzzzzz", "Wiki"], FILES, STATE)
    assert str(caught.value).splitlines() == [
        "--target wikki: matches no connector in the files or the state; did you mean 'wiki'?",
        "--target gama: matches no connector in the files or the state; did you mean 'gamma'?",
        "--target zzzzzz: matches no connector in the files or the state",
        "--target Wiki: matches no connector in the files or the state; did you mean 'wiki'?",
    ]
    with pytest.raises(ConfigError, match="--target gamma: matches no connector"):
        check_targets(["gamma"], FILES, None)
