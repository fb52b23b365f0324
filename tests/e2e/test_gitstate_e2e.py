"""The git state backend end to end: a bare repository on disk as ``origin``, two clones of
it (two CI runners), the emulator as the org, the CLI in process and as subprocesses. Timing
is driven by a connector endpoint that holds a create's registration test until released;
the tests wait for requests and events, never sleep."""

from __future__ import annotations

import re

import pytest
from e2e import HeldEndpoint, Project, count, names, wait_for
from gitfixtures import BRANCH, LOCK_REF, STATE, branch_commit, git, git_env, make_clone, origin_repo  # noqa: F401

from conn_reconcile.model.state import State
from conn_reconcile.state import file as statefile

pytestmark = pytest.mark.e2e

RUN = {"GITHUB_SERVER_URL": "https://github.example", "GITHUB_REPOSITORY": "org/conns", "GITHUB_RUN_ID": "42"}
RUN_URL = "https://github.example/org/conns/actions/runs/42"


@pytest.fixture
def clones(project: Project, origin_repo, git_env, tmp_path) -> tuple[Project, Project]:
    """Clone A is the ``project`` fixture's directory, clone B a second project on the same org."""
    project.root.rmdir()
    make_clone(origin_repo, project.root)
    project.env.update(git_env)
    b = Project(
        make_clone(origin_repo, tmp_path / "clone-b"),
        project.api_url,
        project.endpoint_url,
        env=project.env,
        outputs=project.outputs,
        in_process=project.in_process,
    )
    b.emulator = project.emulator
    b.endpoint = project.endpoint
    return project, b


@pytest.fixture
def held(project):
    with HeldEndpoint() as ep:
        yield ep


def _branch_state(origin) -> dict:
    import json

    return json.loads(git(origin, "--git-dir", str(origin), "show", f"{BRANCH}:state.json"))


def _local(p: Project):
    return p.root / ".conn-reconcile" / "git" / "state" / "origin" / BRANCH / "state.json"


@pytest.mark.slow
def test_apply_writes_the_branch_and_a_plan_in_another_clone_matches_by_that_state(clones, origin_repo):
    a, b = clones
    a.write("docs.yaml", a.service("docs"))
    applied = a.run("--state", STATE, "apply", "--auto-approve")
    assert applied.code == 0, applied.both
    (created,) = a.emulator.connectors
    assert set(_branch_state(origin_repo)["connectors"]) == {created["id"]}
    assert branch_commit(origin_repo, LOCK_REF) is None  # the lock was released
    assert not (a.root / ".conn-reconcile" / "state.json").exists()  # no local state file was used

    b.write("docs.yaml", b.service("docs-v2"))  # renamed in git
    plan = b.run("--state", STATE, "plan")
    assert plan.code == 0, plan.both
    assert f"~ update docs-v2 ({created['id']})" in plan.out and "+ create" not in plan.out
    without = b.run("plan")  # the same files without the branch's state: a new connector
    assert "+ create docs-v2" in without.out

    renamed = b.run("--state", STATE, "apply", "--auto-approve")
    assert renamed.code == 0, renamed.both
    assert count(b, "POST") == 1 and count(b, "PATCH", f"/v1/connectors/{created['id']}") == 1
    assert _branch_state(origin_repo)["connectors"][created["id"]]["name"] == "docs-v2"
    clean = b.run("--state", STATE, "plan", "--detailed-exitcode")
    assert clean.code == 0 and "No changes." in clean.out, clean.both


def _held_by_a(clones, held, name: str):
    """Both clones hold connector ``name``; clone A's apply is started, holding the state lock
    while its create waits at ``held``."""
    a, b = clones
    for p in (a, b):
        p.write(f"{name}.yaml", p.service(name, url=f"{held.url}/{name}/search"))
    run = a.start("--state", STATE, "apply", "--auto-approve", env=RUN)
    run.wait_until(lambda: held.held == 1, "clone A's create in flight")
    return run


@pytest.mark.slow
def test_two_clones_applying_at_once_one_refuses_naming_the_holder_or_waits_for_it(clones, held, origin_repo):
    a, b = clones
    first = _held_by_a(clones, held, "c1")
    requests_before = len(a.emulator.requests)

    refused = b.run("--state", STATE, "apply", "--auto-approve")
    assert refused.code == 1, refused.both
    assert "the state is locked" in refused.err and f"pid {first.proc.pid}" in refused.err
    assert RUN_URL in refused.err and f"ref {LOCK_REF} on remote origin" in refused.err
    assert f"conn-reconcile --state {STATE} force-unlock " in refused.err
    assert len(a.emulator.requests) == requests_before  # it asked the org nothing

    waiting = b.start("--state", STATE, "--lock-timeout", "60", "apply", "--auto-approve")
    held.gate.set()
    assert first.finish().code == 0
    second = waiting.finish()
    assert second.code == 0, second.both
    assert "No changes." in second.out
    assert names(a) == {"c1": 1} and count(a, "POST") == 1
    (created,) = a.emulator.connectors
    assert set((statefile.load(_local(b)) or State()).connectors) == {created["id"]}  # read from the branch
    assert branch_commit(origin_repo, LOCK_REF) is None


@pytest.mark.slow
def test_a_killed_holder_leaves_the_lock_which_is_reported_and_can_be_forced(clones, held, origin_repo):
    a, b = clones
    killed = _held_by_a(clones, held, "docs")
    killed.proc.kill()
    killed.finish()

    refused = b.run("--state", STATE, "apply", "--auto-approve")
    assert refused.code == 1, refused.both
    found = re.search(
        r"lock ([0-9a-f]{16}) held by (\S+)@(\S+) \(pid (\d+), apply, since (\S+), run (\S+)\)", refused.err
    )
    assert found, refused.err
    lock_id = found.group(1)
    assert int(found.group(4)) == killed.proc.pid and found.group(6) == RUN_URL
    assert f"conn-reconcile --state {STATE} force-unlock {lock_id}" in refused.err

    wrong = b.run("--state", STATE, "force-unlock", "0123456789abcdef")
    assert wrong.code == 1 and "lock id mismatch" in wrong.err
    assert branch_commit(origin_repo, LOCK_REF) is not None
    forced = b.run("--state", STATE, "force-unlock", lock_id)
    assert forced.code == 0, forced.both
    assert f"Removed lock {lock_id}" in forced.out and branch_commit(origin_repo, LOCK_REF) is None

    held.holding = False
    held.gate.set()  # the killed run's create lands
    wait_for(lambda: len(a.emulator.connectors) == 1, "the killed run's create to land")
    again = b.run("--state", STATE, "apply", "--auto-approve")
    assert again.code == 0, again.both
    assert names(a) == {"docs": 1} and count(a, "POST") == 1  # adopted, never created twice
    (created,) = a.emulator.connectors
    assert set(_branch_state(origin_repo)["connectors"]) == {created["id"]}

    # clone A still holds the killed run's journal, made on a commit the branch has left behind
    stale = a.run("--state", STATE, "plan")
    assert stale.code == 1 and "never pushed" in stale.err and "rm -f " in stale.err, stale.both


@pytest.mark.slow
def test_a_run_whose_lock_was_forced_away_merges_its_state_with_the_run_that_wrote_meanwhile(clones, held, origin_repo):
    a, b = clones
    a.write("docs.yaml", a.service("docs", url=f"{held.url}/docs/search"))
    b.write("other.yaml", b.service("other"))
    running = a.start("--state", STATE, "apply", "--auto-approve")
    running.wait_until(lambda: held.held == 1, "A's create in flight (the branch read, the lock taken)")

    # A's lock is taken for a dead run's and forced away; B applies another connector meanwhile
    refused = b.run("--state", STATE, "apply", "--auto-approve")
    found = re.search(r"force-unlock ([0-9a-f]{16})", refused.err)
    assert refused.code == 1 and found, refused.both
    assert b.run("--state", STATE, "force-unlock", found.group(1)).code == 0
    applied = b.run("--state", STATE, "apply", "--auto-approve")
    assert applied.code == 0, applied.both
    (other,) = (c["id"] for c in a.emulator.connectors if c["name"] == "other")
    assert set(_branch_state(origin_repo)["connectors"]) == {other}
    theirs = branch_commit(origin_repo)

    held.gate.set()
    done = running.finish()
    (docs,) = (c["id"] for c in a.emulator.connectors if c["name"] == "docs")
    assert set(_branch_state(origin_repo)["connectors"]) == {docs, other}  # merged: neither run's record lost
    log = git(origin_repo, "--git-dir", str(origin_repo), "log", "--format=%P", "-1", BRANCH)
    assert log.strip() == theirs  # on top of B's state
    assert (statefile.load(_local(a)) or State()).connectors.keys() == {docs, other}
    assert done.code == 1 and "could not release the state lock" in done.err, done.both  # it was forced away
    assert "not saved" not in done.err and "kept in" not in done.err

    a.write("other.yaml", a.service("other"))  # A's next run, with B's file too, reads the merged state
    again = a.run("--state", STATE, "plan", "--detailed-exitcode")
    assert again.code == 0 and "No changes." in again.out, again.both
    assert count(a, "POST") == 2
