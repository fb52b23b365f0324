"""The command-line parser: global options before and after the command, sources, environment
variables, value types, usage errors (exit 2), and apply's prompt on a real terminal."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from clirunner import invoke
from e2e import remote_by_name
from helpers import read_terminal

from conn_reconcile.cli import PROGRAM
from conn_reconcile.cmdline import COMMANDLINE, DEFAULT, ENVIRONMENT, UsageError, parse

GOOD = "name: docs\nurl: https://docs.example.com/search\n"


@pytest.fixture
def workdir(workdir: Path) -> Path:
    """The shared working directory (tests/conftest.py), with one connector file."""
    (workdir / "connectors").mkdir()
    (workdir / "connectors" / "a.yaml").write_text(GOOD, encoding="utf-8")
    return workdir


def test_a_global_option_after_the_command_wins_over_the_same_before_it() -> None:
    parsed = parse(PROGRAM, ["--timeout", "5", "plan", "--timeout", "7", "-q"], {})
    assert parsed.command.name == "plan"
    assert parsed.values["timeout"] == 7.0 and parsed.sources["timeout"] == (COMMANDLINE, "--timeout")
    assert parsed.values["quiet"] is True
    before = parse(PROGRAM, ["--timeout", "5", "plan"], {})
    assert before.values["timeout"] == 5.0


def test_sources_flag_environment_default() -> None:
    env = {"CONN_RECONCILE_TIMEOUT": "9", "CONN_RECONCILE_DEADLINE": ""}  # empty: unset
    parsed = parse(PROGRAM, ["validate"], env)
    assert parsed.values["timeout"] == 9.0
    assert parsed.sources["timeout"] == (ENVIRONMENT, "CONN_RECONCILE_TIMEOUT")
    assert parsed.values["deadline"] is None and parsed.sources["deadline"][0] == DEFAULT
    assert parsed.values["lock_timeout"] == 0.0 and parsed.values["colour"] is None
    flagged = parse(PROGRAM, ["validate", "--timeout", "3"], env)
    assert flagged.values["timeout"] == 3.0 and flagged.sources["timeout"][0] == COMMANDLINE


def test_options_and_arguments_mix_in_any_order() -> None:
    parsed = parse(PROGRAM, ["validate", "a.yaml", "--format", "json", "b.yaml", "--exclude", "x*", "--exclude=y*"], {})
    assert [str(p) for p in parsed.values["paths"]] == ["a.yaml", "b.yaml"]
    assert parsed.values["fmt"] == "json" and parsed.values["exclude"] == ("x*", "y*")
    dashed = parse(PROGRAM, ["validate", "a.yaml", "--format", "json", "--", "-b.yaml", "--format"], {})
    assert [str(p) for p in dashed.values["paths"]] == ["a.yaml", "-b.yaml", "--format"]  # after --: arguments
    assert dashed.values["fmt"] == "json"
    assert [str(p) for p in parse(PROGRAM, ["validate", "--", "-b.yaml"], {}).values["paths"]] == ["-b.yaml"]
    with pytest.raises(UsageError, match="unrecognized arguments: extra"):
        parse(PROGRAM, ["show", "a.json", "extra"], {})
    pair = parse(PROGRAM, ["plan", "--prune", "--no-prune", "--no-color"], {})
    assert pair.values["prune"] is False and pair.values["colour"] is False
    assert pair.sources["prune"] == (COMMANDLINE, "--prune")


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["apply", "--parallelism", "0"], "0 is not in the range 1<=x<=64"),
        (["apply", "--parallelism", "x"], "'x' is not a valid integer"),
        (["plan", "--timeout", "0"], "0 is not in the range x>0"),
        (["--timeout", "nan", "plan"], "nan is not in the range x>0"),
        (["plan", "--max-deletes", "-1"], "-1 is not in the range x>=0"),
        (["plan", "--format", "yaml"], "invalid choice: 'yaml'"),
        (["plan", "--form", "json"], "unrecognized arguments: --form"),  # no abbreviations
        (["validate", "--bogus"], "unrecognized arguments: --bogus"),
        (["bogus"], "no such command 'bogus'"),
        (["-q"], "missing command"),
        (["force-unlock"], "the following arguments are required: LOCK_ID"),
        (["schema", "-q"], "unrecognized arguments: -q"),  # schema takes no global options after it
    ],
)
def test_bad_usage_is_exit_2_with_one_message(workdir: Path, args: list[str], fragment: str) -> None:
    result = invoke(args)
    assert result.exit_code == 2, result.output
    assert fragment in result.stderr and "Traceback" not in result.output
    assert "Try 'conn-reconcile" in result.stderr and result.stdout == ""


def test_no_arguments_prints_the_help_and_exits_2(workdir: Path) -> None:
    result = invoke([])
    assert result.exit_code == 2 and "commands:" in result.stderr and "missing command" in result.stderr


def test_a_bad_environment_variable_names_the_variable(workdir: Path) -> None:
    result = invoke(["validate"], env={"CONN_RECONCILE_LOCK_TIMEOUT": "-1"})
    assert result.exit_code == 2
    assert "--lock-timeout (environment variable CONN_RECONCILE_LOCK_TIMEOUT): -1 is not in" in result.stderr
    with pytest.raises(UsageError, match="CONN_RECONCILE_TIMEOUT"):
        parse(PROGRAM, ["validate"], {"CONN_RECONCILE_TIMEOUT": "soon"})


def test_paths_of_the_wrong_kind_are_refused(workdir: Path) -> None:
    result = invoke(["plan", "--out", "connectors"])
    assert result.exit_code == 2 and "'connectors' is a directory" in result.stderr
    result = invoke(["validate", "--against", "connectors/a.yaml"])
    assert result.exit_code == 2 and "'connectors/a.yaml' is a file" in result.stderr


def test_the_sources_reach_the_config_command(workdir: Path) -> None:
    result = invoke(["--timeout", "4", "config", "--format", "json"], env={"CONN_RECONCILE_LOCK_TIMEOUT": "2"})
    assert result.exit_code == 0, result.output
    settings = json.loads(result.stdout)
    text = json.dumps(settings)
    assert "flag --timeout" in text and "environment variable CONN_RECONCILE_LOCK_TIMEOUT" in text


def test_help_of_a_command_and_of_the_program(workdir: Path) -> None:
    top = invoke(["--help"])
    assert top.exit_code == 0 and top.stderr == ""
    for name in PROGRAM.commands:
        assert f"\n  {name} " in top.stdout
    for flag in ("--config", "--env", "--timeout", "--color, --no-color", "-q, --quiet"):
        assert flag in top.stdout
    plan = invoke(["plan", "-h"])
    assert plan.exit_code == 0 and "--detailed-exitcode" in plan.stdout and "--max-deletes" in plan.stdout
    assert "--lock-timeout" not in plan.stdout  # the global options are listed once, by --help
    assert "Refuse to prune more than this. (default: 5)" in " ".join(plan.stdout.split())


def test_a_usage_error_never_prints_the_api_key(workdir: Path) -> None:
    canary = "CANARY-usage-key-5f1c"
    for args in (
        ["--api-key", canary, "validate", "--bogus"],
        ["apply", f"--api-key={canary}", "--parallelism", "0"],
        ["--api-key", canary, "nosuch"],
        ["--api-key", canary, "plan", "--max-deletes", canary],  # a usage error quoting the word given
        ["plan", f"--api-key={canary}", canary],
    ):
        result = invoke(args)
        assert result.exit_code == 2 and canary not in result.output, result.output
    from_env = invoke(["plan", "--timeout", canary], env={"CO_API_KEY": canary})
    assert from_env.exit_code == 2 and canary not in from_env.output and "is not a valid number" in from_env.output


def test_a_command_error_is_one_redacted_line_and_exit_1(workdir: Path) -> None:
    canary = "CANARY-cmd-key-77aa"
    result = invoke(["--api-key", canary, "--state", "x", "show", "missing.json"])
    assert result.exit_code == 1 and "Traceback" not in result.output and canary not in result.output


@pytest.mark.slow
@pytest.mark.parametrize("answer,applied", [("yes\n", True), ("no\n", False)])
def test_apply_asks_on_a_terminal_and_only_yes_applies(project, answer: str, applied: bool) -> None:
    project.write("a.yaml", project.service("a"))
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "conn_reconcile", "apply"],
        cwd=project.root,
        env=project.full_env(),
        stdin=slave,
        stdout=slave,
        stderr=subprocess.PIPE,
    )
    os.close(slave)
    seen = read_terminal(master, until=b"Only 'yes' will be accepted: ")  # the prompt, then the answer
    os.write(master, answer.encode())
    seen += read_terminal(master)
    err = proc.stderr.read().decode() if proc.stderr else ""
    code = proc.wait(timeout=60)
    project.outputs.append(seen.decode() + err)
    names = sorted(remote_by_name(project))
    if applied:
        assert code == 0 and names == ["a"], err
    else:
        assert code == 1 and "apply cancelled; nothing was changed" in err and names == []


def test_a_reader_that_goes_away_ends_the_command_quietly(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``conn-reconcile schema | head -1``: writing to a closed pipe is EPIPE (Python ignores
    SIGPIPE); the command stops with exit 1, no traceback, and stdout points at /dev/null so
    the interpreter's last flush cannot fail either."""
    from conn_reconcile.cli import cli

    read_end, write_end = os.pipe()
    os.close(read_end)
    stdout = open(write_end, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    err = io.StringIO()
    monkeypatch.setattr(sys, "stdout", stdout)
    monkeypatch.setattr(sys, "stderr", err)
    try:
        assert cli(["schema"]) == 1
        assert err.getvalue() == ""
        stdout.write("more")
        stdout.flush()  # now /dev/null: no BrokenPipeError
        assert os.path.samestat(os.fstat(write_end), os.stat(os.devnull))
    finally:
        stdout.close()
