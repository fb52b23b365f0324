"""Shell completion (click's, through ``_CONN_RECONCILE_COMPLETE``): the candidates with their
types, the descriptions zsh and fish show, and the bash script run by a real bash."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.shell_completion import ShellComplete
from click.testing import CliRunner

from conn_reconcile.cli.main import COMMANDS, COMPLETE_VAR, cli


def candidates(words: list[str], incomplete: str) -> list[tuple[str, str]]:
    """(type, value) of each candidate for ``incomplete`` after ``words`` (the program's name left out)."""
    completer = ShellComplete(cli, {}, "conn-reconcile", COMPLETE_VAR)
    return [(item.type, item.value) for item in completer.get_completions(words, incomplete)]


def plain(*values: str) -> list[tuple[str, str]]:
    return [("plain", v) for v in values]


@pytest.mark.parametrize(
    "words,incomplete,expected",
    [
        ([], "", plain(*COMMANDS)),
        ([], "pl", plain("plan")),
        (["-q"], "s", plain("show", "snapshot", "schema", "secrets")),
        (["--state", "my dir/s.json"], "pl", plain("plan")),  # a value with a space is one word
        (["--env"], "", []),  # a value without choices: nothing to offer
        (["plan"], "--fo", plain("--force", "--format")),
        (["plan", "--format"], "", plain("text", "json", "markdown", "github")),
        (["plan", "--format"], "m", plain("markdown")),
        (["plan"], "--format=", plain("text", "json", "markdown", "github")),
        (["plan"], "--format=g", plain("github")),
        (["secrets", "--format"], "g", plain("github-env")),
        (["schema", "--of"], "", plain("connector", "config")),
        (["validate"], "--no", plain("--no-color")),
        (["validate"], "--lock", plain("--lock-timeout")),  # a global option, after the command
        (["validate", "--lock-timeout", "1"], "--lock", []),  # given once already
        (["emulator"], "--lock", []),  # emulator takes no global option after it
        (["plan", "--out"], "", [("file", "")]),  # paths: the shell completes file names
        (["--state"], "", [("file", "")]),
        (["plan", "--dir"], "con", [("file", "con")]),  # a file or a directory
        (["validate", "--against"], "", [("dir", "")]),
        (["validate"], "", [("file", "")]),
    ],
)
def test_candidates(words: list[str], incomplete: str, expected: list[tuple[str, str]]) -> None:
    assert candidates(words, incomplete) == expected


def test_commands_are_completed_without_loading_them() -> None:
    """Command names (and their descriptions) come from the group's table."""
    completer = ShellComplete(cli, {}, "conn-reconcile", COMPLETE_VAR)
    items = completer.get_completions([], "sec")
    assert [(i.value, i.help) for i in items] == [("secrets", COMMANDS["secrets"][2])]


def test_an_unknown_instruction_is_an_error() -> None:
    result = CliRunner().invoke(cli, [], env={COMPLETE_VAR: "tcsh_source"})
    assert result.exit_code == 1 and "bash_source" in result.stderr


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_each_shell_gets_a_script_calling_back(shell: str) -> None:
    result = CliRunner().invoke(cli, [], env={COMPLETE_VAR: f"{shell}_source"})
    assert result.exit_code == 0 and f"{COMPLETE_VAR}={shell}_complete" in result.stdout


def test_zsh_and_fish_get_descriptions() -> None:
    zsh = CliRunner().invoke(
        cli, [], env={COMPLETE_VAR: "zsh_complete", "COMP_WORDS": "conn-reconcile plan --fo", "COMP_CWORD": "2"}
    )
    assert zsh.exit_code == 0 and zsh.stdout.splitlines()[:3] == ["plain", "--force", "Override the prune safeguards."]
    fish = CliRunner().invoke(
        cli, [], env={COMPLETE_VAR: "fish_complete", "COMP_WORDS": "conn-reconcile pl", "COMP_CWORD": "pl"}
    )
    assert fish.exit_code == 0 and fish.stdout == f"plain,plan\t{COMMANDS['plan'][2]}\n"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_bash_completes_through_the_script(tmp_path: Path) -> None:
    """The script as a user sources it, run by bash against the real command (a wrapper named
    conn-reconcile on PATH running this interpreter); ``compopt`` (file names left to bash)
    only works inside a real completion, so it is recorded instead."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "conn-reconcile"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m conn_reconcile "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    script = """
eval "$(_CONN_RECONCILE_COMPLETE=bash_source conn-reconcile)"
complete -p conn-reconcile
compopt() { local IFS=" "; echo "compopt $*"; }
try() {
    COMP_WORDS=("$@")
    COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
    COMPREPLY=()
    _conn_reconcile_completion conn-reconcile
    echo "[${COMPREPLY[*]}]"
}
try conn-reconcile pl
try conn-reconcile plan --format m
try conn-reconcile -q validate --ag
try conn-reconcile --state "'my dir/s.json'" pl
try conn-reconcile plan --out ''
"""
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env.pop(COMPLETE_VAR, None)
    proc = subprocess.run(["bash", "--norc", "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "complete -o nosort -F _conn_reconcile_completion conn-reconcile"
    assert lines[1:] == ["[plan]", "[markdown]", "[--against]", "[plan]", "compopt -o default", "[]"]
