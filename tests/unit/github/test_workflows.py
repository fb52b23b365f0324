"""The GitHub Actions workflows: linted by actionlint, and checked for the properties we rely on.

actionlint comes from the ``test`` extra (a wheel that ships the binary); it checks the
workflow syntax, expressions, action inputs, the shell scripts' use of ``${{ }}`` with
untrusted input, and deprecated action runtimes.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from ruamel.yaml import YAML

from conn_reconcile.cli.main import COMMANDS, parse

ROOT = Path(__file__).resolve().parents[3]
WORKFLOWS = ROOT / ".github" / "workflows"
EXPECTED = ("ci.yml", "plan.yml", "apply.yml")


def _tool(name: str) -> str:
    """A linter the test extra installs (this interpreter's bin directory first, then PATH)."""
    venv_bin = str(Path(sys.executable).parent)
    found = shutil.which(name, path=os.pathsep.join([venv_bin, os.environ.get("PATH", "")]))
    if found is None:
        pytest.fail(f"{name} not found: install the test extra (pip install -e '.[test]')")
    return found


def _actionlint() -> str:
    return _tool("actionlint")


def _run_actionlint(*files: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_actionlint(), "-no-color", *map(str, files)], cwd=cwd, capture_output=True, text=True, timeout=120
    )


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


def test_actionlint_passes_on_every_workflow(workflow_files: list[Path]) -> None:
    proc = _run_actionlint(*(p.relative_to(ROOT) for p in workflow_files), cwd=ROOT)
    assert proc.returncode == 0, f"actionlint found problems:\n{proc.stdout}{proc.stderr}"


def test_actionlint_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        "on: pull_request\n"
        "jobs:\n"
        "  greet:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n'
        "  after:\n"
        "    needs: nonexistent\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - run: true\n",
        encoding="utf-8",
    )
    proc = _run_actionlint(broken.relative_to(tmp_path), cwd=tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output
    assert "broken.yml:6:" in output and "potentially untrusted" in output, output
    assert "nonexistent" in output, output


#: the commits behind the release tags we pin, read from the actions' own repositories
PINS = {
    "actions/checkout": ("fbc6f3992d24b796d5a048ff273f7fcc4a7b6c09", "v5.1.0"),
    "actions/setup-python": ("ece7cb06caefa5fff74198d8649806c4678c61a1", "v6.3.0"),
    "actions/upload-artifact": ("b7c566a772e6b6bfb58ed0dc250532a479d7789f", "v6.0.0"),
}
EXAMPLE = ROOT / "examples" / "connectors-repo"
ACTION = ROOT / "action.yml"
ALL_YAML = [*(WORKFLOWS / n for n in EXPECTED), ACTION, *sorted((EXAMPLE / ".github" / "workflows").glob("*.yml"))]
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


def test_zizmor_and_actionlint_are_clean_on_the_action_the_workflows_and_the_example_together() -> None:
    example = EXAMPLE / ".github" / "workflows"
    proc = _zizmor("--config", ".github/zizmor.yml", ".github/workflows", "action.yml", str(example), cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for path in [*ALL_YAML, EXAMPLE / ".pre-commit-config.yaml"]:
        for line in path.read_text(encoding="utf-8").splitlines():
            ignored = re.findall(r"zizmor: ignore\[([^\]]+)\]", line)
            assert all(rule == "artipacked" for rule in ignored), f"{path.name}: {line.strip()}"
    lint = _run_actionlint(*(p.relative_to(EXAMPLE) for p in sorted(example.glob("*.yml"))), cwd=EXAMPLE)
    assert lint.returncode == 0, lint.stdout + lint.stderr


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


def test_actionlint_checks_the_inputs_of_the_local_action(tmp_path: Path) -> None:
    """actionlint reads action.yml for `uses: ./`: an unknown input or a missing required one fails."""
    shutil.copy(ACTION, tmp_path / "action.yml")
    (tmp_path / ".git").mkdir()  # actionlint finds the project (and ./) by its .git
    wf = tmp_path / ".github" / "workflows" / "use.yml"
    wf.parent.mkdir(parents=True)
    wf.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: ./\n        with:\n          comand: plan\n",
        encoding="utf-8",
    )
    proc = _run_actionlint(wf.relative_to(tmp_path), cwd=tmp_path)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "comand" in output and '"command"' in output, output


def _shellcheck() -> str:
    return _tool("shellcheck")


def test_shellcheck_passes_on_the_actions_shell_steps(tmp_path: Path) -> None:
    steps = YAML(typ="safe").load(ACTION.read_text(encoding="utf-8"))["runs"]["steps"]
    scripts = [s["run"] for s in steps if "run" in s]
    assert scripts and all("${{" not in s for s in scripts)
    for i, script in enumerate([*scripts, "echo $UNQUOTED_PATH\n"]):
        path = tmp_path / f"step{i}.sh"
        path.write_text(script, encoding="utf-8")
        proc = subprocess.run([_shellcheck(), "-s", "bash", str(path)], capture_output=True, text=True, timeout=60)
        if i < len(scripts):
            assert proc.returncode == 0, proc.stdout
        else:  # the check is not vacuous
            assert proc.returncode == 1 and "SC2086" in proc.stdout


def _zizmor(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_tool("zizmor"), "--offline", "--no-progress", "--format", "plain", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_zizmor_finds_nothing_in_the_workflows_and_the_action() -> None:
    proc = _zizmor("--config", ".github/zizmor.yml", ".github/workflows", "action.yml", cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = _zizmor(".github/workflows", cwd=EXAMPLE)  # with zizmor's default policies
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_zizmor_rejects_an_injectable_unpinned_workflow(tmp_path: Path) -> None:
    bad = tmp_path / ".github" / "workflows" / "bad.yml"
    bad.parent.mkdir(parents=True)
    bad.write_text(
        "on: pull_request_target\npermissions: write-all\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v5\n        with:\n          ref: ${{ github.event.pull_request.head.sha }}\n"
        '      - run: echo "${{ github.event.pull_request.title }}"\n',
        encoding="utf-8",
    )
    proc = _zizmor(".github/workflows", cwd=tmp_path)
    assert proc.returncode != 0
    for audit in ("template-injection", "unpinned-uses", "dangerous-triggers"):
        assert audit in proc.stdout, proc.stdout


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


def test_every_test_the_threat_model_names_exists() -> None:
    """docs/SECURITY.md proves each row with a test: each one it names is a test of this suite."""
    text = (ROOT / "docs" / "SECURITY.md").read_text(encoding="utf-8")
    named = re.findall(r"`(?:tests/(?:[\w/]+/)?)?(test_\w+\.py)(?:::(test_\w+))?`", text)
    assert len(named) >= 15
    for module, test in named:
        (path,) = (ROOT / "tests").rglob(module)
        if test:
            assert f"def {test}(" in path.read_text(encoding="utf-8"), f"{module}::{test}"
