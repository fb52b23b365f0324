"""An environment's ``overrides`` keyed by a name no connector has in that environment is an error
at its key in conn-reconcile.yaml (with a did-you-mean), for every command that reads the files:
the CLI against the emulator, as a user runs it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

CONFIG = """\
dir: connectors
environments:
  staging:
    vars: {{suffix: stg}}
    overrides:
      {key}: {{description: Staging copy}}
"""


def _config(project, key: str) -> None:
    (project.root / "conn-reconcile.yaml").write_text(CONFIG.format(key=key), encoding="utf-8")


def test_an_override_of_a_misspelled_connector_is_an_error_at_its_key(project):
    project.write("docs.yaml", project.service("docs", description="Docs"))
    _config(project, "dcos")
    expected = (
        "conn-reconcile.yaml:6:7: environments.staging.overrides.dcos: no connector is named 'dcos' "
        "in environment 'staging' (did you mean 'docs'?)"
    )
    for args in (("--env", "staging", "plan"), ("--env", "staging", "apply", "--auto-approve"), ("validate",)):
        run = project.run(*args)
        assert run.code == 1, run.both
        assert expected in run.err, run.err
    assert project.emulator.connectors == []

    _config(project, "docs")  # fixed: the override applies
    plan = project.run("--env", "staging", "plan")
    assert plan.code == 0, plan.both
    assert re.search(r'\+ description += "Staging copy"', plan.out), plan.out
    assert expected in README  # the README's example is this error


#: the README as one line (its prose wraps anywhere)
README = " ".join((Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8").split())


def test_overrides_are_keyed_by_the_name_after_vars_substitution(project):
    project.write("docs.yaml", project.service("docs-${vars.suffix}"))
    _config(project, "docs")  # the name as the file writes it, not as it is in staging
    run = project.run("--env", "staging", "plan")
    assert run.code == 1, run.both
    assert "environments.staging.overrides.docs: no connector is named 'docs' in environment 'staging'" in run.err
    assert "(did you mean 'docs-stg'?)" in run.err
    assert "overrides are keyed by the connector's name in that environment, after ${vars.NAME}" in run.err

    _config(project, "docs-stg")
    plan = project.run("--env", "staging", "plan")
    assert plan.code == 0, plan.both
    assert re.search(r'\+ description += "Staging copy"', plan.out), plan.out
