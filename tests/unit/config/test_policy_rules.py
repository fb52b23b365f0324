"""The policy rules (config.policy, pure): the rules in effect per environment (lists add up, the
other rules are replaced) and what each rule refuses, of a connector file and of a saved plan's
applied view alike."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

import pytest

from conn_reconcile.config.model import parse_config
from conn_reconcile.config.policy import applied_view, effective, spec_view, violations
from conn_reconcile.config.sources import LoadedConfig
from conn_reconcile.model.connector import ConnectorSpec
from conn_reconcile.plan.diff import normalize_desired
from conn_reconcile.plan.model import plain


def loaded(data: dict[str, Any]) -> LoadedConfig:
    model, errors = parse_config(data)
    assert model is not None, errors
    locations = {"policy.url_hosts": (2, 3), "environments.prod.policy.url_hosts": (9, 7)}
    return LoadedConfig(model, "conn-reconcile.yaml", PurePath("/p"), locations)


def spec(**fields: Any) -> ConnectorSpec:
    return ConnectorSpec.model_validate({"name": "docs", "url": "https://docs.corp.example.com/s", **fields})


def broken(rules: dict[str, Any], **fields: Any) -> list[str]:
    """The rules the connector ``fields`` break, read from its file and from its applied view."""
    policy = effective(loaded({"policy": rules}), None)
    assert policy is not None
    of_file = [rule for _, rule, _ in violations(policy, spec_view(spec(**fields)))]
    of_plan = [rule for _, rule, _ in violations(policy, applied_view(plain(normalize_desired(spec(**fields)))))]
    assert of_file == of_plan
    return of_file


def test_an_environment_adds_to_lists_and_replaces_the_other_rules() -> None:
    config = loaded(
        {
            "policy": {"url_hosts": ["*.corp.example.com"], "require_https": True, "forbid": ["oauth"]},
            "environments": {
                "prod": {"policy": {"url_hosts": ["search.example.org", "*.corp.example.com"], "require_https": False}},
                "staging": {},
            },
        }
    )
    prod = effective(config, "prod")
    assert prod is not None
    assert prod.value("url_hosts") == ("*.corp.example.com", "search.example.org")  # once each, in order
    assert prod.source("url_hosts") == "conn-reconcile.yaml:2 + conn-reconcile.yaml:9"
    assert prod.value("require_https") is False and prod.value("forbid") == ("oauth",)
    assert prod.own == {"url_hosts", "require_https"}
    staging = effective(config, "staging")
    assert staging is not None and staging.rules == effective(config, None).rules  # type: ignore[union-attr]
    assert staging.value("name_pattern") is None and staging.source("name_pattern") == "not set"
    assert effective(loaded({"environments": {"prod": {}}}), "prod") is None


@pytest.mark.parametrize(
    ("rules", "fields", "expected"),
    [
        ({"url_hosts": ["*.corp.example.com"]}, {}, []),
        ({"url_hosts": ["*.CORP.example.com"]}, {"url": "https://Docs.Corp.Example.com:8443/s"}, []),
        ({"url_hosts": ["*.corp.example.com"]}, {"url": "https://corp.example.com/s"}, ["url_hosts"]),
        ({"url_hosts": ["*.corp.example.com"]}, {"url": "https://corp.example.com.evil.net/s"}, ["url_hosts"]),
        ({"url_hosts": ["*.corp.example.com"]}, {"url": "https://docs.corp.example.com@evil.net/s"}, ["url_hosts"]),
        ({"require_https": True}, {"url": "HTTPS://docs.example.com/s"}, []),
        ({"require_https": False}, {"url": "http://docs.example.com/s"}, []),
        ({"name_pattern": "[a-z]+"}, {"name": "docs2"}, ["name_pattern"]),  # the whole name
        ({"require_description": True}, {"description": ""}, ["require_description"]),
        ({"require_description": True}, {"description": "Docs"}, []),
        ({"forbid": ["continue_on_failure"]}, {"continue_on_failure": False}, []),
        ({"forbid": ["continue_on_failure"]}, {"continue_on_failure": True}, ["forbid"]),
        ({"forbid": ["excludes"]}, {"excludes": []}, []),  # an empty list sets nothing
        ({"forbid": ["excludes"]}, {"excludes": ["raw"]}, ["forbid"]),
        ({"forbid": ["service_auth"]}, {"service_auth": {"type": "bearer", "token": "${T}"}}, ["forbid"]),
    ],
)
def test_what_each_rule_refuses(rules: dict[str, Any], fields: dict[str, Any], expected: list[str]) -> None:
    assert broken(rules, **fields) == expected


def test_require_https_checks_the_oauth_urls_too_and_never_prints_a_url() -> None:
    oauth = {"authorize_url": "http://u:pw@idp.example.com/a", "token_url": "https://idp.example.com/t"}
    policy = effective(loaded({"policy": {"require_https": True}}), None)
    assert policy is not None
    found = violations(policy, spec_view(spec(oauth=oauth)))
    assert [(path, rule) for path, rule, _ in found] == [("oauth.authorize_url", "require_https")]
    assert "pw" not in found[0][2] and "idp.example.com" not in found[0][2]
