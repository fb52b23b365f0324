"""A hung or failing API is never silent: every retry is announced on stderr (the call, why, the
wait, the attempt), and the defaults bound what a CI log shows before the command gives up. Timing is
driven by the emulator's faults (a request held without an answer, injected statuses) and short
timeouts, never by sleeping."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from e2e import count

from conn_reconcile.config import defaults

pytestmark = pytest.mark.e2e

LIST = "/v1/connectors"
RETRY = r"conn-reconcile: GET /v1/connectors: {reason}; retrying in \d+\.\ds \(attempt {n} of 4\)"


def test_a_request_that_times_out_is_announced_with_its_retry(project):
    project.write("docs.yaml", project.service("docs"))
    project.emulator.faults.add("GET", LIST, delay=60, drop=True)  # the first listing hangs
    plan = project.run("--timeout", "0.5", "plan")
    assert plan.code == 0, plan.both
    assert re.search(RETRY.format(reason=r"timed out after 0\.5s", n=2), plan.err), plan.err
    assert "+ create docs" in plan.out and count(project, "GET") == 2


def test_failing_answers_are_announced_per_retry_until_it_gives_up_after_4_attempts(project):
    project.write("docs.yaml", project.service("docs"))
    project.emulator.faults.add("GET", LIST, statuses=[503], times=100)
    plan = project.run("plan")
    assert plan.code == 1, plan.both
    lines = plan.err.strip().splitlines()
    assert len(lines) == 4, plan.err
    for n, line in zip((2, 3, 4), lines, strict=False):
        assert re.fullmatch(RETRY.format(reason="HTTP 503", n=n), line), line
    assert (
        lines[-1] == "Error: API error 503 on GET /v1/connectors: injected fault: HTTP 503 (gave up after 4 attempts)"
    )
    assert count(project, "GET") == 4


def test_the_defaults_a_ci_log_reader_accepts(project):
    shown = project.run("config", "--format", "json")
    assert shown.code == 0, shown.both
    settings = json.loads(shown.out)["settings"]
    assert settings["timeout"] == {"value": 10.0, "source": "default"}
    assert settings["deadline"] == {"value": 1800.0, "source": "default"}
    usage = project.run("--help")
    assert "up to 4 attempts" in usage.out
    assert (defaults.TIMEOUT, defaults.MAX_ATTEMPTS, defaults.DEADLINE) == (10, 4, 1800)


def test_the_readme_says_these_defaults_and_shows_a_retry_line_as_printed():
    readme = " ".join((Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8").split())
    assert "`--timeout SECONDS` / `CONN_RECONCILE_TIMEOUT` (default 10:" in readme
    assert "`--deadline SECONDS` / `CONN_RECONCILE_DEADLINE` (default 1800," in readme
    assert "are retried up to 4 attempts" in readme
    (example,) = re.findall(r"`(conn-reconcile: GET [^`]*)`", readme)
    assert re.fullmatch(RETRY.format(reason=r"timed out after 10s", n=2), example), example
