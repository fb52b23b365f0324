"""A saved plan checked against the command's environment and API URL before anything else: another
environment is named as such (the environment first, since two environments are two orgs, often at
two URLs), never reported as a stale plan."""

import pytest

from conn_reconcile.apply.planfile import check_made_for
from conn_reconcile.errors import RefusedError
from conn_reconcile.plan.model import Plan

URL = "https://api.cohere.com"


def plan(environment, api_url=URL):
    return Plan(changes=(), meta={"api_url": api_url, "environment": environment})


def test_the_same_environment_and_url_pass():
    check_made_for(plan("prod"), URL + "/", "prod")
    check_made_for(plan(None), URL, None)


@pytest.mark.parametrize(
    ("made", "here", "message"),
    [
        (
            plan("staging", "https://staging.example.com"),
            "prod",
            "the plan was made for environment staging, not prod; nothing was applied (apply it with --env "
            "staging, or make a plan for this environment)",
        ),
        (plan(None), "prod", "the plan was made without an environment, not for prod; nothing was applied"),
        (plan("staging"), None, "the plan was made for environment staging, not (none); nothing was applied"),
        (
            plan("prod", "https://other.example.com"),
            "prod",
            "the plan was made against https://other.example.com, not https://api.cohere.com; nothing was applied",
        ),
    ],
)
def test_another_environment_or_url_is_refused_naming_both(made, here, message):
    with pytest.raises(RefusedError) as caught:
        check_made_for(made, URL, here)
    assert str(caught.value).startswith(message)
    assert "stale" not in str(caught.value)
