"""The GitHub Actions workflows, the action and the example repository's workflows, checked for the
properties we rely on: actions pinned to commits, no secret in a pull request's run, secrets and
credentials only where needed, and every command they run known to the real CLI."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import click
import pytest
from repofiles import ACTION, ALL_YAML, EXAMPLE, EXPECTED, ROOT, WORKFLOWS
from ruamel.yaml import YAML

from conn_reconcile.cli.main import COMMANDS, parse


def _load(name: str) -> dict[str, Any]:
    return YAML(typ="safe").load((WORKFLOWS / name).read_text(encoding="utf-8"))


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def _scripts(workflow: dict[str, Any]) -> list[str]:
    """Every piece of code a step runs: shell ``run:`` and github-script ``script:``."""
    out = []
    for step in _steps(workflow):
        if "run" in step:
            out.append(step["run"])
        if str(step.get("uses", "")).startswith("actions/github-script@"):
            out.append(step["with"]["script"])
    return out


def _commands(workflow: dict[str, Any]) -> list[list[str]]:
    """The argument lists of the ``conn-reconcile`` invocations in ``run:`` scripts."""
    commands = []
    for step in _steps(workflow):
        for line in step.get("run", "").replace("\\\n", " ").splitlines():
            lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            tokens = list(lexer)
            while "conn-reconcile" in tokens:
                tokens = tokens[tokens.index("conn-reconcile") + 1 :]
                end = next((i for i, t in enumerate(tokens) if set(t) <= set("|&;<>()")), len(tokens))
                commands.append(tokens[:end])
    return commands


@pytest.fixture(scope="module")
def workflow_files() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.yml"))


def test_the_three_workflows_exist(workflow_files: list[Path]) -> None:
    assert {p.name for p in workflow_files} >= set(EXPECTED)


#: the commits behind the release tags we pin, read from the actions' own repositories
PINS = {
    "actions/checkout": ("fbc6f3992d24b796d5a048ff273f7fcc4a7b6c09", "v5.1.0"),
    "actions/setup-python": ("ece7cb06caefa5fff74198d8649806c4678c61a1", "v6.3.0"),
    "actions/upload-artifact": ("b7c566a772e6b6bfb58ed0dc250532a479d7789f", "v6.0.0"),
}
USES_RE = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$")


@pytest.mark.parametrize("path", ALL_YAML, ids=lambda p: str(p.relative_to(ROOT)))
def test_third_party_actions_are_pinned_to_a_commit_with_the_version(path: Path) -> None:
    uses = [m.groups() for line in path.read_text(encoding="utf-8").splitlines() if (m := USES_RE.match(line))]
    assert uses, path
    for ref, rest in uses:
        if ref == "./":
            continue  # this repository's own action
        if ref.startswith("your-org/conn-reconcile@"):
            _assert_own_commit(ref.partition("@")[2], rest, f"{path.name}: {ref}")
            continue
        action, _, sha = ref.partition("@")
        assert action in PINS, f"{path.name}: {ref}: not a known pin"
        assert (sha, rest.split()[1] if len(rest.split()) > 1 else "") == PINS[action], f"{path.name}: {ref}{rest}"
        assert rest.strip().startswith("# v"), f"{path.name}: {ref}: the version comment is missing"


def _assert_own_commit(sha: str, comment: str, where: str) -> None:
    """A pin of this project: a full commit SHA that exists in its history, with a version comment."""
    assert re.fullmatch(r"[0-9a-f]{40}", sha), f"{where}: not a full commit SHA"
    assert re.match(r"\s*# (frozen: )?v\d", comment), f"{where}: the version comment is missing"
    shallow = subprocess.run(["git", "rev-parse", "--is-shallow-repository"], cwd=ROOT, capture_output=True, text=True)
    if shallow.stdout.strip() == "true":
        pytest.skip("a shallow clone holds only part of the history")
    found = subprocess.run(["git", "cat-file", "-e", f"{sha}^{{commit}}"], cwd=ROOT, capture_output=True)
    assert found.returncode == 0, f"{where}: {sha} is no commit of this repository"


def test_the_example_pins_the_action_and_the_hook_to_commits_and_no_missing_tag() -> None:
    texts = [p.read_text(encoding="utf-8") for p in (EXAMPLE / ".github" / "workflows").glob("*.yml")]
    pre_commit = (EXAMPLE / ".pre-commit-config.yaml").read_text(encoding="utf-8")
    config = (EXAMPLE / "conn-reconcile.yaml").read_text(encoding="utf-8")
    for text in [*texts, pre_commit, config]:
        for line in text.splitlines():
            code = line.split(" #")[0]
            assert not re.search(r"(@|rev:\s*|/)v?\d+\.\d+\.\d+\b", code), f"a tag, not a commit: {line}"
    (rev,) = re.findall(r"^\s*rev:\s*(\S+)(.*)$", pre_commit, re.M)
    _assert_own_commit(rev[0], rev[1], ".pre-commit-config.yaml rev")
    (schema,) = re.findall(r"conn-reconcile/([0-9a-f]{40})/docs/config.schema.json", config)
    _assert_own_commit(schema, " # v0", "conn-reconcile.yaml $schema")
    assert not (EXAMPLE / ".github" / "zizmor.yml").exists()  # no policy that lets a ref pin pass


PLAN_WORKFLOWS = [WORKFLOWS / "plan.yml", EXAMPLE / ".github" / "workflows" / "plan.yml"]
TRUSTED_WORKFLOWS = [
    WORKFLOWS / "apply.yml",
    EXAMPLE / ".github" / "workflows" / "apply.yml",
    EXAMPLE / ".github" / "workflows" / "drift.yml",
]


@pytest.mark.parametrize("path", PLAN_WORKFLOWS, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_pull_request_plan_holds_no_secret_and_reports_on_every_pull_request(path: Path) -> None:
    wf = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    assert set(wf["on"]) == {"pull_request"} and not wf["on"]["pull_request"], "no path or branch filter"
    text = "\n".join(line.split("#")[0] for line in path.read_text(encoding="utf-8").splitlines())
    assert "secrets" not in text and "environment" not in text
    for job in wf["jobs"].values():
        assert "environment" not in job and "env" not in job
        assert all("env" not in step and "secrets" not in (step.get("with") or {}) for step in job["steps"])


@pytest.mark.parametrize("path", TRUSTED_WORKFLOWS, ids=lambda p: str(p.relative_to(ROOT)))
def test_jobs_with_secrets_run_in_their_environment_on_the_default_branch_only(path: Path) -> None:
    wf = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    assert not set(wf["on"]) & {"pull_request", "pull_request_target", "workflow_run"}
    (job,) = wf["jobs"].values()
    assert job["environment"] == "production" and job["if"] == "github.ref == 'refs/heads/main'"
    (step,) = [s for s in job["steps"] if (s.get("with") or {}).get("command") in ("apply", "drift")]
    names = {"CO_API_KEY", "CONN_RECONCILE_FINGERPRINT_KEY"}
    assert names <= set(step["env"]) and all(v == f"${{{{ secrets.{k} }}}}" for k, v in step["env"].items())
    assert "secrets" not in step["with"]  # one env line per secret, never toJSON(secrets)


def _jobs(path: Path) -> dict[str, Any]:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8"))["jobs"]


@pytest.mark.parametrize("path", [p for p in ALL_YAML if p != ACTION], ids=lambda p: str(p.relative_to(ROOT)))
def test_credentials_persist_only_where_the_state_branch_is_used(path: Path) -> None:
    wf = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    assert wf["permissions"] in ({}, {"contents": "read"}), path.name
    for name, job in wf["jobs"].items():
        steps = job["steps"]
        uses_state = any(
            (s.get("with") or {}).get("state", "").startswith("git:")
            or (str(s.get("uses", "")).startswith("your-org/") and (s.get("with") or {}).get("command") != "validate")
            for s in steps
        )
        for step in steps:
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                persists = (step.get("with") or {}).get("persist-credentials", True) is not False
                assert persists == uses_state, f"{path.name}:{name}: persist-credentials"
        if not uses_state:  # nothing to push or comment on: read-only
            assert set(job.get("permissions", {}).values()) <= {"read"}, f"{path.name}:{name}: permissions"


def test_the_example_config_and_connectors_are_valid() -> None:
    from click.testing import CliRunner

    from conn_reconcile.cli.main import cli

    args = ["--config", str(EXAMPLE / "conn-reconcile.yaml"), "validate", str(EXAMPLE / "connectors")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    readme = (EXAMPLE / "README.md").read_text(encoding="utf-8")
    assert len(re.findall(r"^\d+\. ", readme, re.M)) <= 10


@pytest.mark.parametrize("name", EXPECTED)
def test_no_expression_is_expanded_inside_a_script(name: str) -> None:
    for script in _scripts(_load(name)):
        assert "${{" not in script, f"{name}: pass values to scripts through env:, not ${{{{ }}}}:\n{script}"


@pytest.mark.parametrize("name", EXPECTED)
def test_conn_reconcile_commands_parse_with_the_real_cli(name: str) -> None:
    """Every ``conn-reconcile ...`` line is accepted by the CLI's own parser (click's, not
    resilient: a usage error fails the test)."""
    commands = _commands(_load(name))
    for args in commands:
        try:
            ctx = parse(args)
        except click.UsageError as exc:
            pytest.fail(f"{name}: conn-reconcile {shlex.join(args)}: {exc.format_message()}")
        assert ctx.command.name in COMMANDS, f"{name}: no known command in conn-reconcile {shlex.join(args)}"


def _action_steps(wf: dict[str, Any], job: str) -> list[dict[str, Any]]:
    return [s for s in wf["jobs"][job]["steps"] if s.get("uses") == "./"]


def test_the_local_action_steps_use_known_commands() -> None:
    from conn_reconcile.github.action import COMMANDS

    action = YAML(typ="safe").load(ACTION.read_text(encoding="utf-8"))
    assert set(action["inputs"]) >= {"command", "env", "config", "working-directory", "python-version"}
    for name in ("plan.yml", "apply.yml"):
        steps = [s for job in _load(name)["jobs"] for s in _action_steps(_load(name), job)]
        assert steps and all(s["with"]["command"] in COMMANDS for s in steps), name
        assert all(set(s["with"]) <= set(action["inputs"]) for s in steps), name


def test_plan_workflow() -> None:
    wf = _load("plan.yml")
    assert "pull_request_target" not in wf["on"]
    assert wf["permissions"] == {}
    jobs = wf["jobs"]
    assert jobs["validate"]["permissions"] == {"contents": "read"}
    assert jobs["plan"]["permissions"] == {"contents": "read", "pull-requests": "write"}
    (validate,) = _action_steps(wf, "validate")
    assert validate["with"] == {"command": "validate", "paths": "connectors"}
    (plan,) = _action_steps(wf, "plan")
    assert plan["with"]["command"] == "plan" and plan["with"]["state"] == "git:conn-reconcile-state:state.json"
    assert "secrets" not in plan["with"] and "env" not in plan and "environment" not in jobs["plan"]


def test_apply_workflow() -> None:
    wf = _load("apply.yml")
    assert wf["on"]["push"]["branches"] == ["main"]
    assert "connectors/**" in wf["on"]["push"]["paths"]
    assert wf["concurrency"] == {"group": "conn-reconcile-apply", "cancel-in-progress": False}
    assert wf["permissions"] == {}
    (job,) = wf["jobs"].values()
    assert job["environment"] == "production"
    assert job["permissions"] == {"contents": "write", "pull-requests": "write", "actions": "read"}
    (apply,) = _action_steps(wf, "apply")
    assert apply["with"] == {
        "command": "apply",
        "state": "git:conn-reconcile-state:state.json",
        "confirm": "${{ inputs.confirm }}",
    }
    # a manual run applies a fresh plan only with the typed confirmation (checked by the action)
    assert wf["on"]["workflow_dispatch"]["inputs"]["confirm"]["required"] is True


def test_ci_workflow() -> None:
    wf = _load("ci.yml")
    assert {"push", "pull_request"} <= set(wf["on"])
    (job,) = wf["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    assert job["strategy"]["matrix"]["python-version"] == ["3.11", "3.12"]
    assert any(s.get("run") == "bash .ci/run" for s in job["steps"])


def test_the_example_pre_commit_config_uses_the_published_hook() -> None:
    hooks = YAML(typ="safe").load((ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    config = YAML(typ="safe").load((EXAMPLE / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    (repo,) = config["repos"]
    assert {h["id"] for h in repo["hooks"]} <= {h["id"] for h in hooks}


def test_every_piece_of_code_the_threat_model_names_exists() -> None:
    """docs/SECURITY.md says what enforces each row: each module, function or class it names is there."""
    import importlib

    text = (ROOT / "docs" / "SECURITY.md").read_text(encoding="utf-8")
    packages = "github|workflows|state|plan|apply|output|model|api|files|config"
    named = sorted(set(re.findall(rf"`((?:{packages})\.[\w.]+)`", text)) - {"plan.yml", "apply.yml"})
    assert len(named) >= 15
    for ref in named:
        parts = ref.split(".")
        for i in range(len(parts), 0, -1):  # the longest importable prefix, then attributes
            try:
                obj = importlib.import_module("conn_reconcile." + ".".join(parts[:i]))
            except ImportError:
                continue
            for attr in parts[i:]:
                assert hasattr(obj, attr), ref
                obj = getattr(obj, attr)
            break
        else:
            pytest.fail(f"{ref}: no such module")


def test_every_test_the_threat_model_names_exists() -> None:
    """docs/SECURITY.md proves each row with a test: each one it names is a test of this suite."""
    text = (ROOT / "docs" / "SECURITY.md").read_text(encoding="utf-8")
    named = re.findall(r"`(?:tests/(?:[\w/]+/)?)?(test_\w+\.py)(?:::(test_\w+))?`", text)
    assert len(named) >= 15
    for module, test in named:
        (path,) = (ROOT / "tests").rglob(module)
        if test:
            assert f"def {test}(" in path.read_text(encoding="utf-8"), f"{module}::{test}"
