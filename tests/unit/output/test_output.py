"""Shell UX: colours only on a TTY and never with NO_COLOR, --quiet, the markdown PR comment's
size cap, GitHub annotations — through the real CLI on saved plan files (no network)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import pytest
from click.testing import CliRunner
from helpers import desired, remote

from conn_reconcile.apply import planfile as planfile
from conn_reconcile.cli.main import cli
from conn_reconcile.model.secrets import Redactor
from conn_reconcile.output.render import render_markdown
from conn_reconcile.plan.model import PlanOptions, plan_meta
from conn_reconcile.plan.planner import build_plan

ESC = "\x1b["


def sample_plan(n_creates: int = 1):
    creates = [
        desired(name=f"new-{i:04d}", service_auth={"type": "bearer", "token": "${TOK}"}) for i in range(n_creates)
    ]
    return build_plan(
        [*creates, desired(name="moved", url="https://b.example.com"), desired(name="same")],
        [remote("moved-1", "moved", url="https://a.example.com"), remote("same-1", "same"), remote("x-1", "unmanaged")],
        options=PlanOptions(),
        meta=plan_meta("https://api.example.invalid", PlanOptions()),
    )


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "plan.json"
    planfile.save(path, sample_plan(), Redactor())
    return path


def run_in_pty(args, env):
    """Run the CLI with stdout on a pseudo-terminal; returns what it printed."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "conn_reconcile", *args],
        stdout=follower,
        stderr=follower,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 65536)
        except OSError:  # EIO once the child has closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(leader)
    assert proc.wait(30) == 0
    return b"".join(chunks).decode()


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    env.update(extra)
    return env


@pytest.mark.slow
def test_colours_on_a_tty(saved):
    out = run_in_pty(["show", str(saved)], clean_env())
    assert ESC + "33m  ~ update moved" in out


@pytest.mark.slow
def test_no_colours_on_a_tty_with_no_color(saved):
    out = run_in_pty(["show", str(saved)], clean_env(NO_COLOR="1"))
    assert "~ update moved" in out and ESC not in out


def test_no_colours_when_piped(saved):
    proc = subprocess.run(
        [sys.executable, "-m", "conn_reconcile", "show", str(saved)], capture_output=True, text=True, env=clean_env()
    )
    assert proc.returncode == 0 and "~ update moved" in proc.stdout and ESC not in proc.stdout


def test_color_flag_forces_colours_and_no_color_flag_disables_them(saved):
    forced = CliRunner().invoke(cli, ["--color", "show", str(saved)])
    assert ESC in forced.output
    off = CliRunner().invoke(cli, ["--no-color", "show", str(saved)])
    assert ESC not in off.output


def test_quiet_prints_only_changes_and_the_summary(saved):
    result = CliRunner().invoke(cli, ["--quiet", "show", str(saved)])
    assert result.exit_code == 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [
        "  ~ update moved (moved-1)  connectors/moved.yaml",
        "  + create new-0000  connectors/new-0000.yaml",
        "Plan: 1 to create, 1 to update, 0 to replace, 0 to delete, 1 unchanged.",
    ]


def test_markdown_is_capped_and_says_so():
    plan = sample_plan(n_creates=400)
    full = render_markdown(plan, max_chars=10**9)
    assert len(full) > 20_000
    capped = render_markdown(plan, max_chars=20_000)
    assert len(capped) <= 20_000
    assert "_Plan truncated: " in capped and " change(s) not shown" in capped and "under 20000 characters" in capped
    rows = [line for line in capped.splitlines() if line.startswith("| `")]
    assert rows and all(line.endswith(" |") and line.count(" | ") == 3 for line in rows)  # no row is cut
    assert capped.startswith("<!-- conn-reconcile-plan -->")
    assert "| 400 | 1 | 0 | **0** | 1 | 1 |" in capped  # the summary table survives the cut


def test_markdown_and_github_formats_from_a_saved_plan(saved):
    md = CliRunner().invoke(cli, ["show", str(saved), "--format", "markdown"])
    assert "| `~` update | moved | connectors/moved.yaml | `url` |" in md.output
    assert "<details><summary>Full plan</summary>" in md.output
    gh = CliRunner().invoke(cli, ["show", str(saved), "--format", "github"])
    assert "::notice file=connectors/moved.yaml,line=1,title=conn-reconcile update::update moved: url" in gh.output


def test_console_is_the_last_line_of_defence(capsys):
    from conn_reconcile.output.console import Console

    console = Console(Redactor(["CANARY-console-1"]), quiet=False, colour=True)
    console.out("\x1b[32m  + create a\x1b[0m \x1b]0;t\x07 \u202e CANARY-console-1\n::notice title=x::ours")
    console.err("Error: bad\n::error::x\n  ::warning::y ##[error]z \x1b[2J")
    out, err = capsys.readouterr()
    # our colours and our own annotations on stdout survive; everything else is visible
    assert out == "\x1b[32m  + create a\x1b[0m \\x1b]0;t\\x07 \\u202e (sensitive)\n::notice title=x::ours\n"
    # nothing on stderr is ever a workflow command
    assert err == "Error: bad\n\\x3a:error::x\n  \\x3a:warning::y #\\u0023[error]z \\x1b[2J\n"
    console.out(out)  # escaping is idempotent: printing printed text changes nothing
    assert capsys.readouterr().out == out + "\n"
