"""``--target`` as a user types it, end to end against the emulator: a name or glob that matches no
connector of the files nor of the state is an error (exit 1) with the nearest name, like a wrong
``--file``, never a silent "targeted: 0 of N"; a connector known only to the state is still a target."""

from __future__ import annotations

import pytest
from e2e import count, remote_by_name

pytestmark = pytest.mark.e2e


@pytest.fixture
def applied(project):
    for name in ("alpha", "beta", "gamma", "wiki"):
        project.write(f"{name}.yaml", project.service(name))
    assert project.run("apply", "--auto-approve").code == 0
    return project


def test_a_target_typo_is_an_error_with_the_nearest_name(applied):
    project = applied
    project.write("wiki.yaml", project.service("wiki", active=False))
    for command in (("plan",), ("plan", "--out", "p.json"), ("apply", "--auto-approve")):
        refused = project.run(*command, "--target", "wikki")
        assert refused.code == 1, refused.both
        assert "--target wikki: matches no connector in the files or the state; did you mean 'wiki'?" in refused.err
        assert "targeted: 0 of" not in refused.both
    assert not (project.root / "p.json").exists()
    assert count(project, "PATCH", f"/v1/connectors/{remote_by_name(project)['wiki']['id']}") == 0

    glob = project.run("plan", "--target", "wik?x*", "--target", "alpha")
    assert glob.code == 1 and "--target wik?x*: matches no connector in the files or the state" in glob.err
    far = project.run("plan", "--target", "zzzzzz")
    assert far.code == 1 and "--target zzzzzz: matches no connector" in far.err and "did you mean" not in far.err

    ok = project.run("plan", "--target", "wik*")
    assert ok.code == 0 and "targeted: 1 of 4 connectors" in ok.out, ok.both


def test_a_target_known_only_to_the_state_is_still_a_target(applied):
    project = applied
    (project.connectors / "gamma.yaml").unlink()
    pruned = project.run("apply", "--prune", "--target", "gamma", "--auto-approve")
    assert pruned.code == 0, pruned.both
    assert set(remote_by_name(project)) == {"alpha", "beta", "wiki"}
