"""``apply --format json|markdown|github`` and apply progress, end to end: the JSON document is
validated against docs/apply.schema.json, the job summary is appended, failed connectors are
annotated at their file and name line, the heartbeat appears while a call is slow (waited for,
not slept for), and a TTY gets ``[n/N]`` lines."""

from __future__ import annotations

import json
import os
import pty
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from e2e import TOKEN, HeldEndpoint
from helpers import read_terminal

pytestmark = pytest.mark.e2e

SCHEMA = json.loads((Path(__file__).resolve().parents[3] / "docs" / "apply.schema.json").read_text(encoding="utf-8"))


def validate(doc: dict) -> None:
    """``doc`` against docs/apply.schema.json (jsonschema is imported by the tests that use it)."""
    import jsonschema

    jsonschema.validate(doc, SCHEMA)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _one_good_one_failing(project) -> None:
    project.write("good.yaml", project.service("good"))
    # the registration test cannot reach it: Cohere refuses the create
    bad = project.service("bad\u202e", url=f"http://127.0.0.1:{_closed_port()}/search")
    project.write("bad.yaml", "# a connector that is down\n# owned by #team\n" + _dump(bad))


def _dump(doc: dict) -> str:
    import io

    from ruamel.yaml import YAML

    buf = io.StringIO()
    YAML().dump(doc, buf)
    return buf.getvalue()


def test_json_document_matches_the_schema_and_the_exit_code(project):
    _one_good_one_failing(project)

    run = project.run("apply", "--auto-approve", "--format", "json")

    assert run.code == 3, run.both
    doc = json.loads(run.out)  # stdout holds the document only: plan and progress went to stderr
    validate(doc)
    assert doc["exit_code"] == 3 and doc["interrupted"] is False
    assert doc["totals"] == {
        "created": 1,
        "updated": 0,
        "replaced": 0,
        "deleted": 0,
        "failed": 1,
        "unknown": 0,
        "skipped": 0,
    }
    by_name = {o["name"]: o for o in doc["outcomes"]}
    assert by_name["good"]["status"] == "created" and by_name["good"]["id"]
    assert by_name["good"]["file"] == "connectors/good.yaml"
    assert by_name["bad\u202e"]["status"] == "failed" and "registration" in by_name["bad\u202e"]["message"]
    assert "\\u202e" in run.out and "\u202e" not in run.out  # ASCII only
    assert "+ create good" in run.err and "created good" in run.err


def test_nothing_to_do_is_still_a_document(project):
    project.write("good.yaml", project.service("good"))
    assert project.run("apply", "--auto-approve").code == 0

    run = project.run("apply", "--auto-approve", "--format", "json")

    assert run.code == 0, run.both
    doc = json.loads(run.out)
    validate(doc)
    assert doc["outcomes"] == [] and doc["exit_code"] == 0


def test_markdown_goes_to_the_job_summary_and_github_annotates_the_name_line(project, tmp_path):
    _one_good_one_failing(project)
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")

    md = project.run("apply", "--auto-approve", "--format", "markdown", env={"GITHUB_STEP_SUMMARY": str(summary)})

    assert md.code == 3, md.both
    assert md.out.startswith("<!-- conn-reconcile-apply -->")
    assert "**Apply finished with errors: 1 created, 1 failed.** Exit code 3." in md.out
    rows = [line for line in md.out.splitlines() if line.startswith("| `")]
    # failures first; escaped (\u202e shown, its backslash markdown-escaped)
    assert rows[0].startswith("| `!` failed | bad\\\\u202e | create | - |"), rows
    assert summary.read_text(encoding="utf-8") == "earlier step\n" + md.out

    project.write("good.yaml", project.service("good", active=False))
    gh = project.run("apply", "--auto-approve", "--format", "github")

    assert gh.code == 3, gh.both
    errors = [line for line in gh.out.splitlines() if line.startswith("::error file=")]
    expected = (
        "::error file=connectors/bad.yaml,line=3,title=conn-reconcile apply%3A create bad\\u202e failed::"
        "create bad\\u202e: connector registration test failed: could not reach the connector (ConnectError)"
    )
    assert errors == [expected], gh.out
    assert "Apply finished with errors: 1 updated, 1 failed." in gh.out


@pytest.mark.slow
def test_heartbeat_while_a_call_is_slow_when_not_on_a_tty(project):
    with HeldEndpoint() as held:  # the create is slow: its registration test is held until released
        project.write("good.yaml", project.service("good", url=f"{held.url}/good/search"))
        bg = project.start("apply", "--auto-approve", "--format", "json", env={"CONN_RECONCILE_HEARTBEAT": "0.2"})
        bg.wait_until(lambda: held.held == 1, "the create in flight")
        # the create cannot finish before the gate is opened: the heartbeat comes while it is in flight
        bg.wait_until(lambda: "... still applying: 0/1 change(s) finished" in bg.err_so_far, "a heartbeat line")
        held.gate.set()
        run = bg.finish()

    assert run.code == 0, run.both
    assert json.loads(run.out)["totals"]["created"] == 1  # the heartbeat never reaches the document
    assert "created good" in run.err


def test_heartbeat_interval_must_be_a_positive_number(project):
    project.write("good.yaml", project.service("good"))
    run = project.run("apply", "--auto-approve", env={"CONN_RECONCILE_HEARTBEAT": "soon"})
    assert run.code == 1 and "CONN_RECONCILE_HEARTBEAT must be a number of seconds" in run.err, run.both


@pytest.mark.slow
def test_a_tty_gets_numbered_progress_lines(project):
    project.write("a.yaml", project.service("a"))
    project.write("b.yaml", project.service("b"))
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "conn_reconcile", "apply", "--auto-approve"],
        cwd=project.root,
        env=project.full_env(),
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
    )
    os.close(slave)
    out = read_terminal(master).decode()
    err = proc.stderr.read().decode() if proc.stderr else ""
    assert proc.wait(timeout=60) == 0, err
    project.outputs.append(out + err)
    assert re.search(r"^\[1/2 +\d+\.\ds\] +\+ created a ", out, re.MULTILINE), out
    assert re.search(r"^\[2/2 +\d+\.\ds\] +\+ created b ", out, re.MULTILINE), out
    assert TOKEN not in out
