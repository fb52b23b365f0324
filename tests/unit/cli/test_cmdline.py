"""The command line on click: global options before and after the command, sources,
environment variables, value types, usage errors (exit 64, the API key never quoted), ``--``,
a closed pipe, and apply's prompt on a real terminal."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result
from e2e import remote_by_name
from helpers import read_terminal

from conn_reconcile.cli.main import COMMANDS, cli, parse
from conn_reconcile.cli.options import Invocation

GOOD = "name: docs\nurl: https://docs.example.com/search\n"


@pytest.fixture
def workdir(workdir: Path) -> Path:
    """The shared working directory (tests/conftest.py), with one connector file."""
    (workdir / "connectors").mkdir()
    (workdir / "connectors" / "a.yaml").write_text(GOOD, encoding="utf-8")
    return workdir


def invoke(args: list[str], env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(cli, args, env=env)


def test_a_global_option_after_the_command_wins_over_the_same_before_it(workdir: Path) -> None:
    ctx = parse(["--timeout", "5", "plan", "--timeout", "7", "-q"])
    assert ctx.command.name == "plan"
    inv = Invocation(ctx)
    assert inv.value("timeout") == 7.0 and inv.settings.timeout == 7.0
    assert inv.settings.source("timeout") == "flag --timeout"
    assert inv.value("quiet") is True and inv.console.quiet
    before = Invocation(parse(["--timeout", "5", "--state", "s.json", "plan", "--no-color"]))
    assert before.value("timeout") == 5.0 and before.settings.timeout == 5.0
    assert (before.settings.state, before.settings.source("state")) == ("s.json", "flag --state")
    assert before.value("colour") is False


def test_sources_flag_environment_default(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONN_RECONCILE_TIMEOUT", "9")
    monkeypatch.setenv("CONN_RECONCILE_DEADLINE", "")  # empty: unset
    settings = Invocation(parse(["validate"])).settings
    assert (settings.timeout, settings.source("timeout")) == (9.0, "environment variable CONN_RECONCILE_TIMEOUT")
    assert (settings.deadline, settings.source("deadline")) == (1800.0, "default")
    assert (settings.lock_timeout, settings.source("lock_timeout")) == (0.0, "default")  # shown by config
    inv = Invocation(parse(["validate"]))
    assert inv.value("colour") is None and inv.value("quiet") is False
    flagged = Invocation(parse(["validate", "--timeout", "3"])).settings
    assert (flagged.timeout, flagged.source("timeout")) == (3.0, "flag --timeout")


def test_options_and_arguments_mix_in_any_order() -> None:
    ctx = parse(["validate", "a.yaml", "--format", "json", "b.yaml", "--exclude", "x*", "--exclude=y*"])
    assert ctx.params["paths"] == (Path("a.yaml"), Path("b.yaml"))
    assert ctx.params["fmt"] == "json" and ctx.params["exclude"] == ("x*", "y*")
    dashed = parse(["validate", "a.yaml", "--format", "json", "--", "-b.yaml", "--format"])
    assert dashed.params["paths"] == (Path("a.yaml"), Path("-b.yaml"), Path("--format"))  # after --: arguments
    assert dashed.params["fmt"] == "json"
    assert parse(["validate", "--", "-b.yaml"]).params["paths"] == (Path("-b.yaml"),)
    with pytest.raises(click.UsageError, match=r"unexpected extra argument \(extra\)"):
        parse(["show", "a.json", "extra"])
    pair = parse(["plan", "--prune", "--no-prune", "--no-color"])
    assert pair.params["prune"] is False and Invocation(pair).value("colour") is False
    settings = Invocation(pair).settings
    assert (settings.prune, settings.source("prune")) == (False, "flag --prune")


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["apply", "--parallelism", "0"], "0 is not in the range 1<=x<=64"),
        (["apply", "--parallelism", "x"], "'x' is not a valid integer"),
        (["plan", "--timeout", "0"], "0.0 is not in the range x>0"),
        (["--timeout", "nan", "plan"], "nan is not in the range x>0"),
        (["plan", "--max-deletes", "-1"], "-1 is not in the range x>=0"),
        (["plan", "--format", "yaml"], "'yaml' is not one of 'text', 'json', 'markdown', 'github'"),
        (["plan", "--form", "json"], "No such option '--form'"),  # no abbreviations
        (["validate", "--bogus"], "No such option '--bogus'"),
        (["bogus"], "No such command 'bogus'"),
        (["-q"], "Missing command"),
        (["force-unlock"], "Missing argument 'LOCK_ID'"),
        (["--state", "", "plan"], "an empty path"),
        (["emulator", "-q"], "No such option '-q'"),  # emulator takes no global options after it
        (["schema", "--config"], "'schema --config' is now 'schema --of config'"),
        (["schema", "--of", "state"], "'state' is not one of 'connector', 'config'"),
    ],
)
def test_bad_usage_is_exit_64_with_one_message(workdir: Path, args: list[str], fragment: str) -> None:
    result = invoke(args)
    assert result.exit_code == 64, result.output
    assert fragment in result.stderr and "Traceback" not in result.output
    assert "Try 'conn-reconcile" in result.stderr and result.stdout == ""
    assert result.stderr.count("Error:") == 1


def test_no_arguments_prints_the_help_and_exits_64(workdir: Path) -> None:
    result = invoke([])
    assert result.exit_code == 64 and "Commands:" in result.stderr and "Error: Missing command." in result.stderr


def test_a_bad_environment_variable_names_the_variable(workdir: Path) -> None:
    result = invoke(["validate"], env={"CONN_RECONCILE_LOCK_TIMEOUT": "-1"})
    assert result.exit_code == 64
    assert "'--lock-timeout' (environment variable CONN_RECONCILE_LOCK_TIMEOUT): -1.0 is not in" in result.stderr
    result = invoke(["validate"], env={"CONN_RECONCILE_TIMEOUT": "soon"})
    assert result.exit_code == 64 and "(environment variable CONN_RECONCILE_TIMEOUT)" in result.stderr
    flagged = invoke(["validate", "--lock-timeout", "-1"], env={"CONN_RECONCILE_LOCK_TIMEOUT": "1"})
    assert flagged.exit_code == 64 and "environment variable" not in flagged.stderr  # the flag's value was bad


def test_paths_of_the_wrong_kind_are_refused(workdir: Path) -> None:
    result = invoke(["plan", "--out", "connectors"])
    assert result.exit_code == 64 and "'connectors' is a directory" in result.stderr
    result = invoke(["validate", "--against", "connectors/a.yaml"])
    assert result.exit_code == 64 and "'connectors/a.yaml' is a file" in result.stderr


def test_the_sources_reach_the_config_command(workdir: Path) -> None:
    result = invoke(
        ["--timeout", "4", "config", "--format", "json", "--state", "s.json"],
        env={"CONN_RECONCILE_LOCK_TIMEOUT": "2"},
    )
    assert result.exit_code == 0, result.output
    text = json.dumps(json.loads(result.stdout))
    assert "flag --timeout" in text and "environment variable CONN_RECONCILE_LOCK_TIMEOUT" in text
    assert "flag --state" in text
    (workdir / "conn-reconcile.yaml").write_text("dir: connectors\nmax_deletes: 2\n", encoding="utf-8")
    shown = invoke(["config"])
    assert shown.exit_code == 0 and "conn-reconcile.yaml:2" in shown.stdout, shown.output
    by_env = invoke(["config"], env={"CONN_RECONCILE_CONFIG": "conn-reconcile.yaml"})
    assert by_env.exit_code == 0 and "environment variable CONN_RECONCILE_CONFIG" in by_env.stdout, by_env.output


def test_help_of_a_command_and_of_the_program(workdir: Path) -> None:
    top = invoke(["--help"])
    assert top.exit_code == 0 and top.stderr == ""
    for name in COMMANDS:
        assert f"\n  {name} " in top.stdout
    for flag in ("--config", "--env", "--timeout", "--color / --no-color", "-q, --quiet", "--version"):
        assert flag in top.stdout
    plan = invoke(["plan", "-h"])
    assert plan.exit_code == 0 and "--detailed-exitcode" in plan.stdout and "--max-deletes" in plan.stdout
    assert "--lock-timeout" not in plan.stdout  # the global options are listed once, by --help
    assert "accepted here too" in plan.stdout
    assert "Refuse to prune more than this. [default: 5; x>=0]" in " ".join(plan.stdout.split())
    for name in COMMANDS:  # every command loads and shows its help
        shown = invoke([name, "--help"])
        assert shown.exit_code == 0 and f"Usage: conn-reconcile {name}" in shown.stdout, shown.output


def test_schema_of_config_and_of_connectors(workdir: Path) -> None:
    from conn_reconcile.files.schema import config_json_schema, json_schema

    connector = json.loads(invoke(["schema"]).stdout)
    config = invoke(["schema", "--of", "config"]).stdout
    assert connector == json_schema() and config == json.dumps(config_json_schema(), indent=2) + "\n"
    assert json.loads(invoke(["--config", "x.yaml", "schema", "-q", "--of", "connector"]).stdout) == connector


def test_a_usage_error_never_prints_the_api_key(workdir: Path) -> None:
    canary = "CANARY-usage-key-5f1c"
    for args in (
        ["--api-key", canary, "validate", "--bogus"],
        ["apply", f"--api-key={canary}", "--parallelism", "0"],
        ["--api-key", canary, "nosuch"],
        ["--api-key", canary, canary],  # the key where the command goes
        ["--api-key", canary, "plan", "--max-deletes", canary],  # a usage error quoting the word given
        ["plan", f"--api-key={canary}", canary],
        ["plan", "--api-key", canary, "--format", canary],
    ):
        result = invoke(args)
        assert result.exit_code == 64 and canary not in result.output, result.output
    from_env = invoke(["plan", "--timeout", canary], env={"CO_API_KEY": canary})
    assert from_env.exit_code == 64 and canary not in from_env.output and "is not a valid float" in from_env.output


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
    read_end, write_end = os.pipe()
    os.close(read_end)
    stdout = open(write_end, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    err = io.StringIO()
    monkeypatch.setattr(sys, "stdout", stdout)
    monkeypatch.setattr(sys, "stderr", err)
    try:
        assert cli.main(["schema"], standalone_mode=False) == 1
        assert err.getvalue() == ""
        stdout.write("more")
        stdout.flush()  # now /dev/null: no BrokenPipeError
        assert os.path.samestat(os.fstat(write_end), os.stat(os.devnull))
    finally:
        stdout.close()


@pytest.mark.slow
def test_a_closed_pipe_ends_the_process_quietly_with_exit_1(workdir: Path) -> None:
    """The same as a process (``conn-reconcile schema | head -c 1``): nothing on stderr, not
    even from the interpreter's last flush."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the command writes
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "conn_reconcile", "schema"], stdout=write_end, stderr=subprocess.PIPE, timeout=60
        )
    finally:
        os.close(write_end)
    assert proc.returncode == 1 and proc.stderr == b""
