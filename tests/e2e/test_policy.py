"""Policy rules in conn-reconcile.yaml (``policy:``, top level and per environment), end to end:
each rule refuses a connector in ``validate``, ``plan`` and ``apply`` (exit 1, one located line,
nothing asked of or written to the emulator) and lets a compliant one through; an environment's
rules add to (lists) or replace (the others) the top level's; ``conn-reconcile policy`` shows the
rules in effect; a bad rule is a config error at its line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from e2e import CLIENT_SECRET, Project

pytestmark = pytest.mark.e2e

#: an OAuth connector (Cohere runs no registration test for one): any https URL can be created
OAUTH = {
    "client_id": "demo",
    "client_secret": "${DRIVE_SECRET}",
    "authorize_url": "https://accounts.example.com/auth",
    "token_url": "https://accounts.example.com/token",
}


def write_config(project: Project, text: str) -> Path:
    path = project.root / "conn-reconcile.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def refused_everywhere(project: Project, expected: str, *env: str) -> None:
    """``validate``, ``plan`` and ``apply`` each exit 1 with the ``expected`` line; the emulator
    got no request at all (the refusal comes before any remote call) and holds nothing."""
    for args in (("validate",), ("plan",), ("apply", "--auto-approve")):
        run = project.run(*env, *args)
        assert run.code == 1, (args, run.both)
        assert expected in run.err.splitlines(), (args, run.err)
        assert "Traceback" not in run.both
    assert len(project.emulator.requests) == 0, list(project.emulator.requests)
    assert project.emulator.connectors == []
    assert not (project.root / ".conn-reconcile" / "state.json").exists()


def applied(project: Project, *args: str) -> None:
    run = project.run(*args, "apply", "--auto-approve", env={"DRIVE_SECRET": CLIENT_SECRET})
    assert run.code == 0, run.both


# ---- each rule: the refusal, then the pass case ------------------------------------------------


def test_url_hosts_refuses_a_host_that_matches_no_pattern(project):
    write_config(project, 'policy:\n  url_hosts: ["*.corp.example.com", "127.0.0.1"]\n')
    project.write("docs.yaml", project.connector("docs", url="https://search.evil.example.net/docs"))
    refused_everywhere(
        project,
        "connectors/docs.yaml:2:1: policy url_hosts: url points at host 'search.evil.example.net', which matches "
        "none of *.corp.example.com, 127.0.0.1 (set at conn-reconcile.yaml:2)",
    )
    project.write("docs.yaml", project.service("docs"))  # the endpoint, on 127.0.0.1
    project.write("wiki.yaml", project.connector("wiki", url="https://Wiki.Corp.Example.com:8443/s", oauth=OAUTH))
    applied(project)
    assert sorted(c["name"] for c in project.emulator.connectors) == ["docs", "wiki"]


def test_require_https_refuses_http_in_the_url_and_the_oauth_urls(project):
    write_config(project, "policy:\n  require_https: true\n")
    project.write("docs.yaml", project.service("docs"))  # the endpoint: http://127.0.0.1:PORT
    oauth = {**OAUTH, "token_url": "http://accounts.example.com/token"}
    project.write("wiki.yaml", project.connector("wiki", url="https://wiki.example.com/s", oauth=oauth))
    refused_everywhere(
        project,
        "connectors/docs.yaml:2:1: policy require_https: url is http://; only https:// URLs are allowed "
        "(set at conn-reconcile.yaml:2)",
    )
    run = project.run("validate")
    assert (
        "connectors/wiki.yaml:7:3: policy require_https: oauth.token_url is http://; only https:// URLs are "
        "allowed (set at conn-reconcile.yaml:2)"
    ) in run.err.splitlines(), run.err
    (project.root / "connectors" / "docs.yaml").unlink()
    project.write("wiki.yaml", project.connector("wiki", url="https://wiki.example.com/s", oauth=OAUTH))
    applied(project)
    assert [c["name"] for c in project.emulator.connectors] == ["wiki"]


def test_name_pattern_refuses_a_name_that_does_not_match(project):
    write_config(project, 'policy:\n  name_pattern: "^[a-z][a-z0-9-]{2,62}$"\n')
    project.write("docs.yaml", project.service("Docs_1"))
    refused_everywhere(
        project,
        "connectors/docs.yaml:1:1: policy name_pattern: name 'Docs_1' does not match ^[a-z][a-z0-9-]{2,62}$ "
        "(set at conn-reconcile.yaml:2)",
    )
    project.write("docs.yaml", project.service("docs-1"))
    applied(project)
    assert [c["name"] for c in project.emulator.connectors] == ["docs-1"]


def test_name_pattern_must_match_the_whole_name(project):
    write_config(project, "policy:\n  name_pattern: team-[a-z]+\n")
    project.write("docs.yaml", project.service("team-docs-v2"))
    run = project.run("validate")
    assert run.code == 1, run.both
    assert "policy name_pattern: name 'team-docs-v2' does not match team-[a-z]+" in run.err


def test_require_description_refuses_a_connector_without_one(project):
    write_config(project, "policy:\n  require_description: true\n")
    project.write("docs.yaml", project.service("docs"))
    project.write("wiki.yaml", project.service("wiki", description="  "))
    refused_everywhere(
        project,
        "connectors/docs.yaml:1:1: policy require_description: connector 'docs' has no description; every "
        "connector must say what it searches (set at conn-reconcile.yaml:2)",
    )
    run = project.run("validate")
    assert "connectors/wiki.yaml:6:1: policy require_description: connector 'wiki' has no description;" in run.err
    project.write("docs.yaml", project.service("docs", description="The engineering handbook."))
    project.write("wiki.yaml", project.service("wiki", description="The team wiki."))
    applied(project)
    assert sorted(c["name"] for c in project.emulator.connectors) == ["docs", "wiki"]


def test_forbid_refuses_a_forbidden_field_that_is_true_or_set(project):
    write_config(project, "policy:\n  forbid: [continue_on_failure, oauth]\n")
    project.write("docs.yaml", project.service("docs", continue_on_failure=True))
    project.write("wiki.yaml", project.connector("wiki", url="https://wiki.example.com/s", oauth=OAUTH))
    refused_everywhere(
        project,
        "connectors/docs.yaml:6:1: policy forbid: continue_on_failure is true; it is forbidden "
        "(set at conn-reconcile.yaml:2)",
    )
    run = project.run("validate")
    assert "connectors/wiki.yaml:3:1: policy forbid: oauth is set; it is forbidden (set at conn-reconcile.yaml:2)" in (
        run.err.splitlines()
    ), run.err
    (project.root / "connectors" / "wiki.yaml").unlink()
    project.write("docs.yaml", project.service("docs", continue_on_failure=False))  # false is allowed
    applied(project)
    assert [c["name"] for c in project.emulator.connectors] == ["docs"]


def test_every_violation_of_every_file_is_reported_at_once(project):
    write_config(
        project,
        'policy:\n  require_https: true\n  name_pattern: "[a-z-]+"\n  require_description: true\n',
    )
    project.write("docs.yaml", project.service("Docs"))
    run = project.run("validate")
    assert run.code == 1
    lines = [line for line in run.err.splitlines() if " policy " in line]
    assert [line.split(": policy ")[1].split(":")[0] for line in lines] == [
        "name_pattern",
        "require_description",
        "require_https",
    ], run.err  # sorted by file, line and column, as every error is


# ---- environments: lists add up, the other rules are replaced ------------------------------------

ENVIRONMENTS = """\
policy:
  url_hosts: ["*.corp.example.com"]
  require_https: true
  forbid: [continue_on_failure]
environments:
  staging:
    policy:
      url_hosts: ["127.0.0.1"]
      require_https: false
  prod:
    policy:
      forbid: [excludes]
      require_description: true
"""


def test_an_environments_rules_add_to_or_replace_the_top_level(project):
    write_config(project, ENVIRONMENTS)
    project.write("docs.yaml", project.service("docs"))  # http://127.0.0.1: staging only
    refused_everywhere(
        project,
        "connectors/docs.yaml:2:1: policy url_hosts: url points at host '127.0.0.1', which matches none of "
        "*.corp.example.com (set at conn-reconcile.yaml:2)",
        "--env",
        "prod",
    )
    run = project.run("validate")  # every environment: prod refuses, staging does not
    assert run.code == 1
    assert "policy require_description: connector 'docs' has no description;" in run.err
    assert "conn-reconcile.yaml:2 + conn-reconcile.yaml:8" not in run.err
    applied(project, "--env", "staging")
    assert [c["name"] for c in project.emulator.connectors] == ["docs"]

    # staging still forbids what the top level forbids
    project.write("docs.yaml", project.service("docs", continue_on_failure=True))
    plan = project.run("--env", "staging", "plan")
    assert plan.code == 1, plan.both
    assert "policy forbid: continue_on_failure is true; it is forbidden (set at conn-reconcile.yaml:4)" in plan.err
    # prod adds to the top level's forbid list
    project.write("docs.yaml", project.connector("docs", url="https://docs.corp.example.com/s", excludes=["x"]))
    prod = project.run("--env", "prod", "validate")
    assert prod.code == 1
    assert (
        "connectors/docs.yaml:3:1: policy forbid: excludes is set; it is forbidden "
        "(set at conn-reconcile.yaml:4 + conn-reconcile.yaml:12, in environment prod)"
    ) in prod.err.splitlines(), prod.err


def test_the_policy_command_shows_the_rules_in_effect(project):
    write_config(project, ENVIRONMENTS)
    run = project.run("policy", "--env", "staging")
    assert run.code == 0, run.both
    rows = {line.split()[0]: line for line in run.out.splitlines()[1:] if line.strip()}
    assert "Policy rules in environment staging" in run.out.splitlines()[0]
    assert rows["url_hosts"].split()[1:] == [
        "*.corp.example.com,",
        "127.0.0.1",
        "conn-reconcile.yaml:2",
        "+",
        "conn-reconcile.yaml:8",
    ]
    assert rows["require_https"].split()[1:] == ["false", "conn-reconcile.yaml:9"]
    assert rows["require_description"].split()[1:] == ["-", "not", "set"]

    doc = json.loads(project.run("policy", "--env", "prod", "--format", "json").out)
    assert doc["environment"] == "prod"
    assert doc["rules"]["forbid"] == {
        "value": ["continue_on_failure", "excludes"],
        "source": "conn-reconcile.yaml:4 + conn-reconcile.yaml:12",
    }
    assert doc["rules"]["require_https"] == {"value": True, "source": "conn-reconcile.yaml:3"}
    assert doc["rules"]["name_pattern"] == {"value": None, "source": "not set"}
    assert doc["environments"] == ["prod", "staging"]

    top = project.run("policy", "--format", "json")  # no environment selected: the top level
    assert top.code == 0, top.both
    assert json.loads(top.out)["environment"] is None
    assert json.loads(top.out)["rules"]["url_hosts"]["value"] == ["*.corp.example.com"]
    unknown = project.run("policy", "--env", "qa")
    assert unknown.code == 1 and "unknown environment 'qa'" in unknown.err


def test_the_policy_command_without_a_policy(project):
    run = project.run("policy")
    assert run.code == 0, run.both
    assert "No policy rules are set" in run.out


# ---- how a violation is shown and what it stops --------------------------------------------------


def test_github_format_annotates_each_violation_at_its_line(project):
    write_config(project, "policy:\n  require_https: true\n")
    project.write("docs.yaml", project.service("docs"))
    for args in (("validate", "--format", "github"), ("plan", "--format", "github")):
        run = project.run(*args)
        assert run.code == 1, run.both
        assert (
            "::error file=connectors/docs.yaml,line=2,col=1,title=conn-reconcile::policy require_https: url is "
            "http://; only https:// URLs are allowed (set at conn-reconcile.yaml:2)"
        ) in run.out.splitlines(), run.out
    assert len(project.emulator.requests) == 0


def test_json_validate_lists_the_violations(project):
    write_config(project, "policy:\n  require_https: true\n")
    project.write("docs.yaml", project.service("docs"))
    run = project.run("validate", "--format", "json")
    assert run.code == 1
    (error,) = json.loads(run.out)["errors"]
    assert error["file"] == "connectors/docs.yaml" and (error["line"], error["col"]) == (2, 1)
    assert error["message"].startswith("policy require_https: url is http://")


def test_the_pre_commit_form_checks_only_the_files_given(project):
    write_config(project, "policy:\n  require_description: true\n")
    project.write("old.yaml", project.service("old"))  # not being committed: not reported
    new = project.write("new.yaml", project.service("new"))
    run = project.run("validate", "--against", "connectors", str(new.relative_to(project.root)))
    assert run.code == 1
    assert "connectors/new.yaml:1:1: policy require_description:" in run.err
    assert "old.yaml" not in run.err


def test_a_saved_plan_that_breaks_the_policy_now_is_not_applied(project):
    project.write("docs.yaml", project.service("docs"))
    saved = project.run("plan", "--out", "plan.json")
    assert saved.code == 0, saved.both
    write_config(project, "policy:\n  require_https: true\n")  # the rules changed since the plan
    project.emulator.requests.clear()
    run = project.run("apply", "plan.json")
    assert run.code == 1, run.both
    assert (
        "connectors/docs.yaml: policy require_https: url is http://; only https:// URLs are allowed "
        "(set at conn-reconcile.yaml:2); in the saved plan: create docs; nothing was applied"
    ) in run.err, run.err
    assert len(project.emulator.requests) == 0 and project.emulator.connectors == []
    write_config(project, "policy:\n  url_hosts: ['127.0.0.1']\n")
    ok = project.run("apply", "plan.json")
    assert ok.code == 0, ok.both
    assert [c["name"] for c in project.emulator.connectors] == ["docs"]


def test_import_is_not_refused_by_the_policy_of_existing_files(project):
    write_config(project, "policy:\n  require_description: true\n")
    project.write("docs.yaml", project.service("docs"))
    project.emulator.seed({"name": "wiki", "url": "https://wiki.example.com/s"})
    run = project.run("import", "--missing")
    assert run.code == 0, run.both
    assert (project.root / "connectors" / "wiki.yaml").is_file()


# ---- a bad rule is a config error at its line ---------------------------------------------------


@pytest.mark.parametrize(
    "policy,expected",
    [
        (
            'policy:\n  name_pattern: "^[a-z"\n',
            "conn-reconcile.yaml:2:3: policy.name_pattern: not a valid regular expression: "
            "unterminated character set at position 1",
        ),
        (
            'policy:\n  url_hosts: ["*.corp.example.com", ""]\n',
            "conn-reconcile.yaml:2:37: policy.url_hosts.1: must be a host name pattern",
        ),
        (
            'policy:\n  url_hosts: ["https://corp.example.com/"]\n',
            "conn-reconcile.yaml:2:15: policy.url_hosts.0: must be a host name pattern",
        ),
        ("policy:\n  url_hosts: []\n", "conn-reconcile.yaml:2:3: policy.url_hosts: must list at least one host"),
        (
            "policy:\n  forbid: [name]\n",
            "conn-reconcile.yaml:2:12: policy.forbid.0: Input should be 'continue_on_failure', 'excludes', 'oauth' "
            "or 'service_auth'",
        ),
        ("policy:\n  require_https: yes\n", "conn-reconcile.yaml:2:3: policy.require_https: "),
        ("policy:\n  requires_https: true\n", "(did you mean 'require_https'?)"),
        (
            "environments:\n  prod:\n    policy:\n      name_pattern: '('\n",
            "conn-reconcile.yaml:4:7: environments.prod.policy.name_pattern: not a valid regular expression",
        ),
    ],
)
def test_a_bad_rule_is_a_config_error_at_its_line(project, policy, expected):
    write_config(project, policy)
    project.write("docs.yaml", project.service("docs"))
    for args in (("validate",), ("policy",), ("plan",)):
        run = project.run(*args)
        assert run.code == 1, (args, run.both)
        assert expected in run.err, (args, run.err)
    assert len(project.emulator.requests) == 0


def test_the_actions_apply_of_a_reviewed_plan_checks_the_policy_too(project):
    project.write("docs.yaml", project.service("docs"))
    reviewed = project.run("plan", "--out", "reviewed.json")  # reviewed before the rule was added
    assert reviewed.code == 0, reviewed.both
    write_config(project, "policy:\n  require_description: true\n")
    project.emulator.requests.clear()
    run = project.run("apply", "--auto-approve", "--reviewed-plan", "reviewed.json")
    assert run.code == 1, run.both
    assert "connectors/docs.yaml:1:1: policy require_description: connector 'docs' has no description;" in run.err
    assert len(project.emulator.requests) == 0 and project.emulator.connectors == []


def test_the_readmes_example_is_what_the_tool_does(project):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Policy rules\n") :]
    section = section[: section.index("\n## ")]
    blocks = section.split("```")
    config = next(b for b in blocks if b.startswith("yaml\n"))[len("yaml\n") :]
    validate, policy = (b[len("console\n") :].splitlines() for b in blocks if b.startswith("console\n"))
    write_config(project, config)
    project.write(
        "docs.yaml",
        "name: docs\ndescription: Search the engineering handbook.\nurl: https://docs.evil.example.net/search\n"
        "continue_on_failure: true\n",
    )
    run = project.run(*validate[0].removeprefix("$ conn-reconcile ").split())
    assert run.code == 1 and run.err.splitlines() == validate[1:], run.err
    run = project.run(*policy[0].removeprefix("$ conn-reconcile ").split())
    assert run.code == 0 and run.out.splitlines() == policy[1:], run.out
