"""How the CLI runs, end to end against the emulator: Ctrl-C from a parent that ignores SIGINT, the
in-process runner equal to the subprocess, the git commit a plan carries, and the org listed only once
the files have loaded (bad files: no request at all)."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from e2e import HeldEndpoint, restore_default_sigint, table

pytestmark = pytest.mark.e2e


# ---- Ctrl-C when the test runner itself ignores SIGINT (nohup, trap '' INT) -----------------

PROBE = "import signal; print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)"


@contextlib.contextmanager
def sigint_ignored() -> Iterator[None]:
    """This process ignores SIGINT, as pytest does when started under ``nohup`` or after
    ``trap '' INT``: children started meanwhile inherit the ignored disposition."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def test_children_inherit_an_ignored_sigint_unless_the_launcher_restores_it():
    with sigint_ignored():
        inherited = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
        # restore_signals (the default) covers SIGPIPE/SIGXFZ/SIGXFSZ only, not SIGINT
        restored_signals = subprocess.run(
            [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, restore_signals=True
        )
        launched = subprocess.run(
            [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, preexec_fn=restore_default_sigint
        )
    assert inherited.stdout == "True\n" and restored_signals.stdout == "True\n"
    assert launched.stdout == "False\n"


@pytest.mark.slow
def test_ctrl_c_works_when_the_test_runner_ignores_sigint(project):
    """The Ctrl-C scenario of test_interrupt.py, from a parent that ignores SIGINT."""
    with HeldEndpoint() as held:
        for i in (1, 2, 3):
            project.write(f"c{i}.yaml", project.service(f"c{i}", url=f"{held.url}/c{i}/search"))
        with sigint_ignored():  # an ignored SIGINT is inherited across exec
            run = project.start("apply", "--auto-approve", "--parallelism", "1")
        run.wait_until(lambda: held.held == 1, "a create in flight")
        run.proc.send_signal(signal.SIGINT)
        run.wait_until(lambda: "waiting for 1 call(s) in flight" in run.err_so_far, "the interrupt notice")
        held.gate.set()
        result = run.finish()
    assert result.code == 130, result.both
    assert [row[:3] for row in table(result.out)] == [
        ["c1", "create", "created"],
        ["c2", "create", "skipped"],
        ["c3", "create", "skipped"],
    ]
    assert "Apply interrupted: 1 created, 0 failed, 2 skipped." in result.out
    assert [c["name"] for c in project.emulator.connectors] == ["c1"]


# ---- the in-process runner is the subprocess's equal ----------------------------------------


def test_in_process_runs_see_only_the_project_environment_and_leave_nothing_behind(project, monkeypatch):
    import os

    monkeypatch.setenv("CO_API_KEY", "CANARY-outer-key-never-used")  # the outer value must not reach the CLI
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(project.root / "outer-summary.md"))
    cwd, before = os.getcwd(), dict(os.environ)
    project.write("docs.yaml", project.service("docs"))
    assert project.in_process
    runs = [project.run("plan", "--format", "markdown"), project.run_process("plan", "--format", "markdown")]
    assert os.getcwd() == cwd and dict(os.environ) == before
    assert [r.code for r in runs] == [0, 0], [r.both for r in runs]
    assert runs[0].out == runs[1].out and runs[0].err == runs[1].err  # in process == subprocess, byte for byte
    assert not (project.root / "outer-summary.md").exists()
    assert "CANARY-outer" not in runs[0].both + runs[1].both


def test_only_saved_and_json_plans_carry_the_git_commit(project):
    """A saved plan and the JSON one say which commit planned (the text plan skips that git call)."""
    import subprocess

    subprocess.run(["git", "init", "-q"], cwd=project.root, check=True)
    project.write("docs.yaml", project.service("docs"))
    subprocess.run(["git", "add", "-A"], cwd=project.root, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "c"],
        cwd=project.root,
        check=True,
    )
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project.root, capture_output=True, text=True).stdout.strip()
    assert project.run("plan", "--out", "plan.json").code == 0
    assert json.loads((project.root / "plan.json").read_text())["meta"]["git_commit"] == head
    assert json.loads(project.run("plan", "--json").out)["meta"]["git_commit"] == head


def test_plan_lists_the_org_only_once_the_files_have_loaded(project, monkeypatch):
    """Loading the files sees no request yet; the listing follows, once."""
    from conn_reconcile.workflows import common as workflow

    project.write("a.yaml", project.service("a"))
    real = workflow.load_desired
    seen: list[int] = []

    def load_then_count(*args, **kwargs):
        seen.append(len(project.emulator.requests))
        return real(*args, **kwargs)

    monkeypatch.setattr(workflow, "load_desired", load_then_count)
    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 2 and "+ create a" in plan.out, plan.both
    assert seen == [0] and [(r.method, r.path) for r in project.emulator.requests] == [("GET", "/v1/connectors")]


def test_bad_files_send_no_request(project):
    project.write("a.yaml", "name: a\nurl: [unclosed\n")
    plan = project.run("plan")
    assert plan.code == 1 and "connectors/a.yaml" in plan.err, plan.both
    assert len(project.emulator.requests) == 0


def test_bad_files_are_reported_before_an_unreachable_api(project):
    """Bad files win: the input error, not the listing's, whatever the API does."""
    project.write("a.yaml", "name: a\nurl: [unclosed\n")
    plan = project.run("--api-url", "http://127.0.0.1:9", "plan")
    assert plan.code == 1, plan.both
    assert [line.split(":")[0] for line in plan.err.splitlines()] == ["connectors/a.yaml"], plan.both
