"""conn-reconcile.yaml end to end: discovery, environments against two emulator orgs,
targeting with prune, strict secrets, the `secrets` and `config` commands, global options
after the command. The CLI runs as a subprocess against the emulator on loopback."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from e2e import API_KEY, TOKEN, remote_by_name

from conn_reconcile.emulator import Emulator

pytestmark = pytest.mark.e2e

STAGING_KEY = "CANARY-staging-key-8e21"
PROD_KEY = "CANARY-prod-key-3c90"


def write_config(project, text: str, where: Path | None = None) -> Path:
    path = (where or project.root) / "conn-reconcile.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def two_orgs(project):
    """Two emulator orgs with different keys in different variables, one config file."""
    with Emulator(api_key=STAGING_KEY) as staging, Emulator(api_key=PROD_KEY) as prod:
        write_config(
            project,
            f"""\
dir: connectors
environments:
  staging:
    api_url: {staging.url}
    api_key_env: STAGING_KEY
    state: .state/staging.json
    vars: {{host: staging.example.com}}
    overrides:
      docs: {{description: Staging docs}}
  prod:
    api_url: {prod.url}
    api_key_env: PROD_KEY
    state: .state/prod.json
    vars: {{host: prod.example.com}}
""",
        )
        # the harness sets CO_API_URL/CO_API_KEY for the default org: clear them
        project.env.update({"CO_API_URL": "", "CO_API_KEY": "", "STAGING_KEY": STAGING_KEY, "PROD_KEY": PROD_KEY})
        yield staging, prod
        for text in project.outputs:
            assert STAGING_KEY not in text and PROD_KEY not in text


def test_two_environments_two_orgs_from_one_directory(project, two_orgs):
    staging, prod = two_orgs
    project.write("docs.yaml", project.service("docs", excludes=["${vars.host}"], description="Docs"))
    project.write("preview.yaml", {**project.service("preview"), "environments": ["staging"]})

    v = project.run("validate")
    assert v.code == 0, v.both
    assert "2 connector file(s) valid in 2 environment(s) (prod, staging)." in v.err

    refused = project.run("plan")
    assert refused.code == 1
    assert "defines environments (prod, staging): choose one with --env NAME" in refused.err

    for env in ("staging", "prod"):
        applied = project.run("--env", env, "apply", "--auto-approve")
        assert applied.code == 0, applied.both
    s = {c["name"]: c for c in staging.connectors}
    p = {c["name"]: c for c in prod.connectors}
    assert set(s) == {"docs", "preview"} and set(p) == {"docs"}
    assert s["docs"]["excludes"] == ["staging.example.com"] and s["docs"]["description"] == "Staging docs"
    assert p["docs"]["excludes"] == ["prod.example.com"] and p["docs"]["description"] == "Docs"
    assert project.emulator.connectors == []  # the harness's default org was never touched
    # separate state files, each recording only its org
    staging_state = json.loads((project.root / ".state/staging.json").read_text())
    prod_state = json.loads((project.root / ".state/prod.json").read_text())
    assert {r["name"] for r in staging_state["connectors"].values()} == {"docs", "preview"}
    assert {r["name"] for r in prod_state["connectors"].values()} == {"docs"}
    for env in ("staging", "prod"):
        again = project.run("plan", "--env", env, "--detailed-exitcode")
        assert again.code == 0, again.both


def test_unknown_var_is_a_validate_error_at_the_field(project, two_orgs):
    project.write("docs.yaml", "name: docs\nurl: https://${vars.host}/s\ndescription: ${vars.nope}\n")
    v = project.run("validate")
    assert v.code == 1
    assert "connectors/docs.yaml:3:1: description: unknown variable ${vars.nope} in environment 'prod'" in v.err
    assert "in environment 'staging'" in v.err
    secret = project.write(
        "docs.yaml", project.connector("docs", service_auth={"type": "bearer", "token": "${vars.host}"})
    )
    v = project.run("validate", str(secret.relative_to(project.root)))
    assert v.code == 1 and "service_auth.token: ${vars.NAME} is not allowed in a secret field" in v.err


def test_plan_file_records_its_environment_and_another_is_refused(project, two_orgs):
    staging, prod = two_orgs
    project.write("docs.yaml", project.service("docs"))
    saved = project.run("plan", "--env", "staging", "--out", "plan.json")
    assert saved.code == 0, saved.both
    assert json.loads((project.root / "plan.json").read_text())["meta"]["environment"] == "staging"
    # same URL, another environment: pointing prod at the staging org still refuses
    refused = project.run(
        "--env", "prod", "--api-url", staging.url, "apply", "plan.json", env={"PROD_KEY": STAGING_KEY}
    )
    assert refused.code == 1
    assert "the plan was made for environment staging, not prod" in refused.err
    assert staging.connectors == [] and prod.connectors == []
    ok = project.run("apply", "--env", "staging", "plan.json")
    assert ok.code == 0, ok.both
    assert [c["name"] for c in staging.connectors] == ["docs"]


def test_config_discovery_from_a_subdirectory_up_to_the_git_root(project, tmp_path):
    subprocess.run(["git", "init", "-q", str(project.root)], check=True)
    write_config(project, "dir: connectors\nstate: .state/main.json\nprotect: [keep-*]\n")
    project.write("docs.yaml", project.service("docs"))
    sub = project.root / "deep" / "er"
    sub.mkdir(parents=True)
    shown = project.run("config", "--format", "json", cwd=sub)
    assert shown.code == 0, shown.both
    settings = json.loads(shown.out)["settings"]
    assert settings["config"]["value"] == "../../conn-reconcile.yaml"
    assert settings["dir"] == {"value": "../../connectors", "source": "../../conn-reconcile.yaml:1"}
    assert settings["state"]["value"] == "../../.state/main.json"
    applied = project.run("apply", "--auto-approve", cwd=sub)
    assert applied.code == 0, applied.both
    assert (project.root / ".state/main.json").is_file()
    # a config above the git root is not used
    outer = tmp_path / "outer"
    (outer / "repo").mkdir(parents=True)
    write_config(project, "dir: nowhere\n", where=outer)
    subprocess.run(["git", "init", "-q", str(outer / "repo")], check=True)
    alone = project.run("config", "--format", "json", cwd=outer / "repo")
    assert json.loads(alone.out)["settings"]["config"] == {"value": None, "source": "none found"}


def test_unknown_config_key_and_wrong_type_are_file_line_errors(project):
    project.write("docs.yaml", project.service("docs"))
    write_config(project, "dir: connectors\nprnue: true\nmax_deletes: many\nenvironments:\n  s: {api_urll: x}\n")
    for command in ("validate", "plan", "config"):
        run = project.run(command)
        assert run.code == 1, run.both
        assert "conn-reconcile.yaml:2:1: prnue: unknown field" in run.err
        assert "conn-reconcile.yaml:3:1: max_deletes: Input should be a valid integer" in run.err
        assert "conn-reconcile.yaml:5:7: environments.s.api_urll: unknown field" in run.err
    assert project.emulator.requests.count("GET", "/v1/connectors") == 0


def test_flags_override_the_config_and_config_shows_the_sources(project):
    write_config(project, "max_deletes: 2\nparallelism: 8\nprune: true\n")
    shown = project.run("--state", "other.json", "config", env={"CONN_RECONCILE_TIMEOUT": "7"})
    assert shown.code == 0, shown.both
    lines = {line.split()[0]: line for line in shown.out.splitlines()[1:] if line.strip()}
    assert lines["state"].split()[1:] == ["other.json", "flag", "--state"]
    assert lines["max_deletes"].split()[1:] == ["2", "conn-reconcile.yaml:1"]
    assert lines["prune"].split()[1:] == ["true", "conn-reconcile.yaml:3"]
    assert lines["api_url"].split()[1:] == [project.api_url, "environment", "variable", "CO_API_URL"]
    assert lines["api_key"].split()[1:] == ["(set)", "environment", "variable", "CO_API_KEY"]
    assert lines["timeout"].split()[1:] == ["7.0", "environment", "variable", "CONN_RECONCILE_TIMEOUT"]
    assert API_KEY not in shown.out
    # the flag wins over the file: prune is on from the file, --no-prune turns it off
    project.write("docs.yaml", project.service("docs"))
    project.write("other.yaml", project.service("other"))
    assert project.run("apply", "--auto-approve").code == 0
    (project.connectors / "docs.yaml").unlink()
    pruning = project.run("plan")
    assert "- delete docs" in pruning.out and "1 to delete" in pruning.out
    kept = project.run("plan", "--no-prune")
    assert kept.code == 0 and "- delete docs" not in kept.out


def test_targeting_plans_and_prunes_only_the_targets(project):
    for name in ("alpha", "beta", "gamma"):
        project.write(f"{name}.yaml", project.service(name))
    assert project.run("apply", "--auto-approve").code == 0
    for name in ("alpha", "beta"):
        (project.connectors / f"{name}.yaml").unlink()
    project.write("gamma.yaml", project.service("gamma", active=False))
    plan = project.run("plan", "--prune", "--target", "alpha", "--file", "connectors/gamma.yaml", "--out", "p.json")
    assert plan.code == 0, plan.both
    assert "- delete alpha" in plan.out and "delete beta" not in plan.out
    assert "~ update gamma" in plan.out
    assert "targeted: 1 of 1 connectors" in plan.out
    doc = json.loads((project.root / "p.json").read_text())
    assert doc["meta"]["targets"] == {"names": ["alpha"], "files": ["connectors/gamma.yaml"], "planned": 1, "total": 1}
    shown = project.run("show", "p.json")
    assert "targeted: 1 of 1 connectors" in shown.out
    applied = project.run("apply", "--prune", "p.json")
    assert applied.code == 0, applied.both
    remote = remote_by_name(project)
    assert set(remote) == {"beta", "gamma"} and remote["gamma"]["active"] is False
    refused = project.run("apply", "--target", "beta", "p.json")
    assert refused.code == 1 and "a saved plan applies exactly its changes" in refused.err


def test_strict_secrets_fail_the_plan_unless_allowed(project):
    project.write("docs.yaml", project.service("docs"))
    project.write("wiki.yaml", project.connector("wiki", service_auth={"type": "basic", "token": "${WIKI_TOKEN}"}))
    strict = project.run("plan")
    assert strict.code == 1
    assert (
        "connectors/wiki.yaml:5: service_auth.token: ${WIKI_TOKEN} is not set; the create of wiki sends it"
        in strict.err
    )
    assert "--allow-unbound" in strict.err and "CONN_TOKEN" not in strict.err
    allowed = project.run("plan", "--allow-unbound")
    assert allowed.code == 0, allowed.both
    assert "unbound: ${WIKI_TOKEN}" in allowed.out


def test_secrets_command_in_each_format(project, two_orgs):
    project.write("docs.yaml", project.service("docs"))
    project.write(
        "preview.yaml",
        {
            **project.connector("preview", service_auth={"type": "bearer", "token": "${PREVIEW_TOKEN}"}),
            "environments": ["staging"],
        },
    )
    text = project.run("secrets")
    assert text.code == 0, text.both
    assert "environment prod: API key in PROD_KEY (set)" in text.out
    assert "environment staging: API key in STAGING_KEY (set)" in text.out
    rows = [line.split() for line in text.out.splitlines() if line.startswith("  ")]
    assert rows == [
        ["CONN_TOKEN", "set", "connectors/docs.yaml:5", "service_auth.token"],  # prod
        ["CONN_TOKEN", "set", "connectors/docs.yaml:5", "service_auth.token"],  # staging
        ["PREVIEW_TOKEN", "unset", "connectors/preview.yaml:5", "service_auth.token"],
    ]
    js = json.loads(project.run("secrets", "--env", "prod", "--format", "json").out)
    (prod,) = js["environments"]
    assert prod["environment"] == "prod" and prod["api_key_env"] == "PROD_KEY" and prod["api_key_set"]
    assert prod["variables"] == [
        {
            "name": "CONN_TOKEN",
            "set": True,
            "uses": [{"file": "connectors/docs.yaml", "line": 5, "field": "service_auth.token"}],
        }
    ]
    gh = project.run("secrets", "--format", "github-env")
    assert gh.out.splitlines() == [
        "CONN_TOKEN: ${{ secrets.CONN_TOKEN }}",
        "PREVIEW_TOKEN: ${{ secrets.PREVIEW_TOKEN }}",
        "PROD_KEY: ${{ secrets.PROD_KEY }}",
        "STAGING_KEY: ${{ secrets.STAGING_KEY }}",
    ]
    assert TOKEN not in text.out + gh.out


def test_global_options_after_the_command(project):
    project.write("docs.yaml", project.service("docs"))
    project.write("OWNERS.yml", "owners: [a]\n")
    write_config(project, "exclude: [OWNERS.yml]\n")
    assert project.run("validate", "-q").err == ""
    bad = project.run("plan", "--api-url", "http://127.0.0.1:9/", "--timeout", "2")
    assert bad.code == 1  # the URL given after the command is used: nothing listens there
    applied = project.run("apply", "--auto-approve", "--state", "elsewhere.json", "-q", "--api-url", project.api_url)
    assert applied.code == 0, applied.both
    assert (project.root / "elsewhere.json").is_file() and not (project.root / ".conn-reconcile").exists()
    assert "+ name" not in applied.out and "Plan: 1 to create" in applied.out  # -q after the command
    shown = project.run("config", "--env", "x")
    assert shown.code == 1 and "unknown environment 'x' (flag --env)" in shown.err
