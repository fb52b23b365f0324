"""Shell completion: the candidates, and the bash script run by a real bash."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from clirunner import invoke

from conn_reconcile.cli import PROGRAM
from conn_reconcile.completion import candidates


@pytest.mark.parametrize(
    "words,expected",
    [
        ([""], list(PROGRAM.commands)),
        (["pl"], ["plan"]),
        (["-q", "s"], ["show", "snapshot", "schema", "secrets"]),
        (["--env", ""], []),  # a value: left to the shell
        (["plan", "--fo"], ["--force", "--format"]),
        (["plan", "--format", ""], ["text", "json", "markdown", "github"]),
        (["plan", "--format", "m"], ["markdown"]),
        (["secrets", "--format", "g"], ["github-env"]),
        (["validate", "--no"], ["--no-color"]),
        (["validate", "--lock"], ["--lock-timeout"]),  # a global option, after the command
        (["schema", "--lock"], []),  # schema takes no global option after it
        (["plan", ""], []),  # file names
        (["nosuch", "--"], []),
    ],
)
def test_candidates(words: list[str], expected: list[str]) -> None:
    assert candidates(PROGRAM, words, len(words) - 1) == expected


def test_an_unknown_shell_is_an_error() -> None:
    result = invoke([], env={"_CONN_RECONCILE_COMPLETE": "tcsh_source"})
    assert result.exit_code == 1 and "bash_source" in result.stderr


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_each_shell_gets_a_script_calling_back(shell: str) -> None:
    result = invoke([], env={"_CONN_RECONCILE_COMPLETE": f"{shell}_source"})
    assert result.exit_code == 0 and f"_CONN_RECONCILE_COMPLETE={shell}_complete conn-reconcile" in result.stdout


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_bash_completes_through_the_script(tmp_path: Path) -> None:
    """The script as a user sources it, run by bash against the real command (a wrapper named
    conn-reconcile on PATH running this interpreter)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "conn-reconcile"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m conn_reconcile "$@"\n', encoding="utf-8")
    wrapper.chmod(0o755)
    script = """
eval "$(_CONN_RECONCILE_COMPLETE=bash_source conn-reconcile)"
complete -p conn-reconcile
for line in "conn-reconcile pl" "conn-reconcile plan --format m" "conn-reconcile -q validate --ag"; do
    read -r -a COMP_WORDS <<< "$line"
    COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
    _conn_reconcile_completion
    echo "[${COMPREPLY[*]}]"
done
"""
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    env.pop("_CONN_RECONCILE_COMPLETE", None)
    proc = subprocess.run(["bash", "--norc", "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("complete -o default -F _conn_reconcile_completion conn-reconcile")
    assert lines[1:] == ["[plan]", "[markdown]", "[--against]"]
