"""The fork server the CLI's process runs come from (tests/forkserver.py): a forked run is this
process's own child and behaves as a run in a new interpreter does."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
from pathlib import Path

import forkserver
import pytest
from e2e import popen_cli

pytestmark = pytest.mark.skipif(not forkserver.available(), reason="the fork server needs Linux")


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith(("CO_", "CONN_RECONCILE_"))}
    out.update(NO_COLOR="1", **extra)
    return out


def both(args: list[str], cwd: Path, environ: dict[str, str], stdin: str | None = None) -> list[tuple[int, str, str]]:
    """(exit code, stdout, stderr) of a forked run, then of a fresh one."""
    runs = []
    for fresh in (False, True):
        proc = popen_cli(
            args,
            fresh=fresh,
            cwd=cwd,
            env=environ,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        out, err = proc.communicate(stdin, timeout=60)
        runs.append((proc.returncode, out, err))
    return runs


def ppid(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rpartition(")")[2].split()[1])


def test_a_forked_run_is_this_processs_child_forked_from_the_server(tmp_path: Path) -> None:
    proc = popen_cli(
        ["emulator", "--port", "0"], cwd=tmp_path, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert proc.stderr is not None
        assert proc.stderr.readline().startswith("emulator listening on http://127.0.0.1:")
        assert ppid(proc.pid) == os.getpid()  # waited for, signalled and reaped like any child
        assert b"forkserver.py" in Path(f"/proc/{proc.pid}/cmdline").read_bytes()  # forked, not exec'd
        assert Path(f"/proc/{proc.pid}/cwd").resolve() == tmp_path.resolve()
    finally:
        proc.kill()
    assert proc.wait(timeout=10) == -signal.SIGKILL
    proc.communicate()


def test_output_and_exit_code_match_a_fresh_interpreters(tmp_path: Path) -> None:
    (tmp_path / "conn-reconcile.yaml").write_text("prune: true\nmax_deletes: 3\n", encoding="utf-8")
    (tmp_path / "connectors").mkdir()
    (tmp_path / "connectors" / "bad.yaml").write_text("name: x\nurl: ftp://x\nextra: 1\n", encoding="utf-8")
    environ = env(CO_API_URL="http://127.0.0.1:9", LANG="C.UTF-8")
    forked, fresh = both(["config", "--format", "json"], tmp_path, environ)
    assert forked == fresh
    assert json.loads(forked[1])["settings"]["api_url"]["value"] == "http://127.0.0.1:9"  # the run's environment
    forked, fresh = both(["validate"], tmp_path, environ)
    assert forked == fresh
    assert forked[0] == 1 and "connectors/bad.yaml:3:1: extra: unknown field" in forked[1] + forked[2]


def test_a_terminal_on_standard_input_reaches_a_forked_run(tmp_path: Path, emulator) -> None:
    (tmp_path / "connectors").mkdir()
    (tmp_path / "connectors" / "a.yaml").write_text("name: a\nurl: https://a.example/search\n", encoding="utf-8")
    runs = []
    for fresh in (False, True):
        master, slave = pty.openpty()
        proc = popen_cli(
            ["apply"],  # asks for confirmation: only on a terminal, read from it
            fresh=fresh,
            cwd=tmp_path,
            env=env(CO_API_URL=emulator.url, CO_API_KEY="k"),
            stdin=slave,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        os.close(slave)
        os.write(master, b"no\n")
        out, err = proc.communicate(timeout=60)
        os.close(master)
        runs.append((proc.returncode, out, err))
    assert runs[0] == runs[1]
    assert runs[0][0] == 1 and "Do you want to perform these actions?" in runs[0][1], runs[0]
    assert emulator.connectors == []


def test_ctrl_c_ends_a_forked_run_as_it_ends_a_fresh_one(tmp_path: Path) -> None:
    codes = []
    for fresh in (False, True):
        proc = popen_cli(
            ["emulator", "--port", "0"],
            fresh=fresh,
            cwd=tmp_path,
            env=env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stderr is not None
        assert proc.stderr.readline().startswith("emulator listening on")
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
        codes.append(proc.returncode)
    assert codes[0] == codes[1]


def test_a_run_that_changes_what_the_interpreter_reads_at_start_up_is_refused_not_forked(tmp_path: Path) -> None:
    environ = env(PYTHONIOENCODING="latin-1")
    with pytest.raises(ValueError, match=r"keeps the server's PYTHONIOENCODING: use popen_cli\(fresh=True\)"):
        popen_cli(["--version"], cwd=tmp_path, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    fresh = popen_cli(["--version"], fresh=True, cwd=tmp_path, env=environ, stdout=subprocess.PIPE)
    assert fresh.communicate(timeout=60)[0].startswith("conn-reconcile")
