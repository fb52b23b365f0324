"""A saved plan applied in another environment, end to end against two emulator orgs (each
environment its own API URL and key, as two Cohere orgs are): the refusal says which environment
the plan was made for, not "stale"; exit 1, nothing changed in either org."""

from __future__ import annotations

import pytest

from conn_reconcile.emulator import Emulator

pytestmark = pytest.mark.e2e

STAGING_KEY = "CANARY-env-staging-key-41d7"
PROD_KEY = "CANARY-env-prod-key-9b3e"


@pytest.fixture
def orgs(project):
    with Emulator(api_key=STAGING_KEY) as staging, Emulator(api_key=PROD_KEY) as prod:
        (project.root / "conn-reconcile.yaml").write_text(
            "dir: connectors\nenvironments:\n"
            f"  staging: {{api_url: {staging.url}, api_key_env: STAGING_KEY, state: .state/staging.json}}\n"
            f"  prod: {{api_url: {prod.url}, api_key_env: PROD_KEY, state: .state/prod.json}}\n",
            encoding="utf-8",
        )
        project.env.update({"CO_API_URL": "", "CO_API_KEY": "", "STAGING_KEY": STAGING_KEY, "PROD_KEY": PROD_KEY})
        yield staging, prod
        for text in project.outputs:
            assert STAGING_KEY not in text and PROD_KEY not in text


def test_a_plan_for_staging_applied_to_prod_names_both_environments(project, orgs):
    staging, prod = orgs
    project.write("docs.yaml", project.service("docs"))
    saved = project.run("plan", "--env", "staging", "--out", "plan.json")
    assert saved.code == 0, saved.both

    for args in (("--env", "prod", "apply", "plan.json"), ("apply", "plan.json", "--env", "prod")):
        refused = project.run(*args)
        assert refused.code == 1, refused.both
        assert "the plan was made for environment staging, not prod; nothing was applied" in refused.err
        assert "stale" not in refused.both
    assert staging.connectors == [] and prod.connectors == []
    assert [r for r in prod.requests if r.path.startswith("/v1")] == []

    ok = project.run("apply", "plan.json", "--env", "staging")
    assert ok.code == 0, ok.both
    assert [c["name"] for c in staging.connectors] == ["docs"] and prod.connectors == []
