"""A new user's first week, the smaller surprises, as a user meets them: the CLI against the
emulator on loopback, in a real git repository. Plan output that says what it means (managed
connectors removed from git apart from unmanaged ones, a rotated secret called rotated), a
rejected key that names where it came from, typos answered with a suggestion, usage errors
told apart from changes (exit 64 vs 2), examples in every command's help, the emulator's port."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest
from e2e import API_KEY, FP_KEY, Project

from conn_reconcile.cli.main import COMMANDS, parse
from conn_reconcile.config import defaults

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
MANAGED_HEADING = "Managed connectors removed from git (--prune deletes them):"
UNMANAGED_HEADING = "Unmanaged connectors (in the org, not in git; left alone):"


@pytest.fixture
def repo(project: Project) -> Project:
    """The project as a git repository, as a user's checkout is."""
    subprocess.run(["git", "init", "-q", str(project.root)], check=True)
    return project


def _section(out: str, heading: str) -> list[str]:
    """The lines under ``heading`` up to the next blank line."""
    lines = out.splitlines()
    start = lines.index(heading) + 1
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:end]


# ---- a: managed connectors removed from git are not "unmanaged" ------------------------------


def test_a_managed_connector_removed_from_git_is_listed_apart_from_unmanaged_ones(repo: Project) -> None:
    repo.write("docs.yaml", repo.service("docs"))
    repo.write("wiki.yaml", repo.service("wiki"))
    assert repo.run("apply", "--auto-approve").code == 0
    legacy = repo.emulator.seed({"name": "legacy", "url": f"{repo.endpoint_url}/legacy/search"})
    (repo.connectors / "wiki.yaml").unlink()  # the user removes it from git
    wiki = next(c for c in repo.emulator.connectors if c["name"] == "wiki")

    plan = repo.run("plan")

    assert plan.code == 0, plan.both
    assert _section(plan.out, MANAGED_HEADING) == [f"  wiki ({wiki['id']}): managed, removed from git"]
    assert _section(plan.out, UNMANAGED_HEADING) == [f"  legacy ({legacy['id']}): not managed by conn-reconcile"]
    comment = repo.run("plan", "--format", "markdown").out  # the PR comment's table: no "unmanaged" count
    assert "| create | update | replace | delete | unchanged | not in git |" in comment, comment
    assert f"{MANAGED_HEADING}\n  wiki ({wiki['id']}): managed, removed from git" in comment
    pruned = repo.run("plan", "--prune")
    assert f"- delete wiki ({wiki['id']})" in pruned.out and MANAGED_HEADING not in pruned.out, pruned.both


# ---- b: a rotated secret is called rotated ---------------------------------------------------


def test_a_rotated_secret_is_labelled_rotated_not_changed_in_git(repo: Project) -> None:
    repo.env["CONN_RECONCILE_FINGERPRINT_KEY"] = FP_KEY
    repo.write("docs.yaml", repo.service("docs"))
    assert repo.run("apply", "--auto-approve").code == 0

    plan = repo.run("plan", env={"CONN_TOKEN": "a-rotated-token-value"})

    assert plan.code == 0, plan.both
    line = next(x for x in plan.out.splitlines() if "service_auth.token" in x)
    shown = " ".join(line.split())
    assert shown == "~ service_auth.token = (sensitive, changed, from ${CONN_TOKEN}) # rotated (its value changed)", (
        line
    )
    assert "changed in git" not in plan.out
    forced = repo.run("plan", "--rotate-secrets")
    assert "# sent again (--rotate-secrets)" in forced.out and "rotated" not in forced.out, forced.both


def test_the_readme_plan_example_shows_the_groups_and_the_rotated_label() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    example = readme[readme.index("### `plan`") :].split("```text\n", 1)[1].split("```", 1)[0]
    assert f"{MANAGED_HEADING}\n  old-faq (old-faq-7q1w2e): managed, removed from git\n" in example
    assert f"{UNMANAGED_HEADING}\n  legacy (legacy-r2d2c3): not managed by conn-reconcile\n" in example
    token = next(line for line in example.splitlines() if "service_auth.token" in line)
    assert token.endswith("# rotated (its value changed)"), token


# ---- c: a rejected key names where it came from ----------------------------------------------


def test_a_rejected_api_key_flag_names_the_flag(repo: Project) -> None:
    repo.write("docs.yaml", repo.service("docs"))
    run = repo.run("--api-key", "a-wrong-key-1234", "plan")
    assert run.code == 1, run.both
    assert "the API key was rejected: check the key given with --api-key" in run.err, run.err
    assert "CO_API_KEY" not in run.err and "a-wrong-key-1234" not in run.both


def test_a_rejected_key_of_an_environment_names_its_variable(repo: Project) -> None:
    (repo.root / "conn-reconcile.yaml").write_text(
        "environments:\n  staging:\n    api_key_env: STAGING_CO_API_KEY\n", encoding="utf-8"
    )
    repo.write("docs.yaml", repo.service("docs"))
    run = repo.run("plan", "--env", "staging", env={"STAGING_CO_API_KEY": "a-wrong-key-5678", "CO_API_KEY": API_KEY})
    assert run.code == 1, run.both
    assert "the API key was rejected: check the key in STAGING_CO_API_KEY" in run.err, run.err
    assert "in CO_API_KEY" not in run.err and "a-wrong-key-5678" not in run.both


def test_a_rejected_key_from_the_default_variable_names_it(repo: Project) -> None:
    repo.write("docs.yaml", repo.service("docs"))
    run = repo.run("plan", env={"CO_API_KEY": "a-wrong-key-9012"})
    assert run.code == 1 and "the API key was rejected: check the key in CO_API_KEY" in run.err, run.both


# ---- d: a config typo gets a did-you-mean, located -------------------------------------------


def test_a_config_typo_gets_a_did_you_mean_at_its_line_and_column(repo: Project) -> None:
    (repo.root / "conn-reconcile.yaml").write_text("dir: connectors\npune: true\n", encoding="utf-8")
    repo.write("docs.yaml", repo.service("docs"))
    for args in (("plan",), ("validate",)):
        run = repo.run(*args)
        assert run.code == 1, run.both
        assert "conn-reconcile.yaml:2:1: pune: unknown field (did you mean 'prune'?)" in run.err, run.err


# ---- e: a command typo gets a suggestion -----------------------------------------------------


def test_a_command_typo_gets_a_suggestion(repo: Project) -> None:
    run = repo.run("plna")
    assert run.code == 64, run.both
    assert "Error: No such command 'plna'. Did you mean 'plan'?" in run.err, run.err
    far = repo.run("frobnicate")
    assert far.code == 64 and "No such command 'frobnicate'." in far.err and "Did you mean" not in far.err


# ---- f: usage errors are not "changes" -------------------------------------------------------


def test_usage_errors_exit_64_and_changes_exit_2(repo: Project) -> None:
    repo.write("docs.yaml", repo.service("docs"))
    changes = repo.run("plan", "--detailed-exitcode")
    assert changes.code == 2 and "+ create docs" in changes.out, changes.both
    for bad in (
        ("plan", "--detailed-exitcode", "--prnue"),  # an unknown option
        ("plan", "--detailed-exitcode", "--max-deletes", "many"),  # a bad value
        ("--timeout", "-1", "plan", "--detailed-exitcode"),
        (),  # no command
    ):
        run = repo.run(*bad)
        assert run.code == 64, (bad, run.both)
    assert repo.emulator.connectors == []


def test_the_exit_code_tables_say_64_is_a_usage_error() -> None:
    for doc in ("README.md", "docs/ARCHITECTURE.md"):
        text = (ROOT / doc).read_text(encoding="utf-8")
        rows = dict(re.findall(r"^\| (\d+) \| (.*) \|$", text[text.index("## Exit codes") :], re.M))
        assert "usage" in rows["64"] and "usage" not in rows["2"], (doc, rows)


# ---- g: examples in every command's help -----------------------------------------------------


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_help_has_examples(repo: Project, name: str) -> None:
    run = repo.run(name, "--help")
    assert run.code == 0, run.both
    examples = run.out[run.out.index("\nExamples:\n") :].splitlines()[2:]
    shown = [line.strip() for line in examples if line.strip().startswith("conn-reconcile ")]
    assert shown, run.out
    for line in shown:  # each example is a command line of this command that the CLI accepts as written
        ctx = parse(shlex.split(line)[1:])
        assert ctx.info_name == name, line


# ---- h: the emulator's options have help, and its default port is the demo's ----------------


def test_the_emulator_options_have_help_and_its_default_port_is_the_demos(repo: Project) -> None:
    run = repo.run("emulator", "--help")
    assert run.code == 0, run.both
    help_of = {m.group(1): m.group(2) for m in re.finditer(r"^\s+(--\w[\w-]*)[^\n]*?  +(\S[^\n]*)$", run.out, re.M)}
    assert "interface" in help_of["--host"] and "port" in help_of["--port"].lower(), run.out
    assert f"[default: {defaults.EMULATOR_PORT};" in run.out
    demo = (ROOT / "scripts" / "demo.sh").read_text(encoding="utf-8")
    started = next(line for line in demo.splitlines() if line.startswith("conn-reconcile emulator"))
    assert "--port" not in shlex.split(started), started  # the demo relies on the default
    assert f'CO_API_URL="http://127.0.0.1:{defaults.EMULATOR_PORT}"' in demo
