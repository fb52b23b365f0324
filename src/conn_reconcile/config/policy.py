"""The policy rules of ``conn-reconcile.yaml`` (pure core): the rules in effect in one environment
(:func:`effective`: its lists add to the top level's, its other rules replace them, each with where it
is set) and the connectors that break them (:func:`check_files`, :func:`check_planned`), each
violation a :class:`Diagnostic` ``policy RULE: what and why``."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from conn_reconcile.config.sources import LoadedConfig, Sourced
from conn_reconcile.errors import Diagnostic
from conn_reconcile.model.connector import ConnectorSpec, Desired

#: the rules, in the order they are shown
RULES = ("url_hosts", "require_https", "name_pattern", "require_description", "forbid")
#: the rules whose values are lists: an environment's add to the top level's
LISTS = ("url_hosts", "forbid")
#: the URLs ``require_https`` checks (the connector's, and the OAuth ones its secret goes to)
URL_PATHS = ("url", "oauth.authorize_url", "oauth.token_url")
NOT_SET = "not set"


class Policy(NamedTuple):
    """The rules in effect (only those set), each with its value and where it is set, and the
    rules of them that ``environment`` sets itself."""

    rules: Mapping[str, Sourced] = MappingProxyType({})
    environment: str | None = None
    own: frozenset[str] = frozenset()

    def value(self, rule: str) -> Any:
        found = self.rules.get(rule)
        return None if found is None else found.value

    def source(self, rule: str) -> str:
        found = self.rules.get(rule)
        return NOT_SET if found is None else found.source

    def why(self, rule: str) -> str:
        """Where ``rule`` is set, as a violation's message ends: with the environment that sets it."""
        return f"set at {self.source(rule)}" + (f", in environment {self.environment}" if rule in self.own else "")


def effective(config: LoadedConfig, environment: str | None) -> Policy | None:
    """The rules of ``environment`` (None: the top level's): a list rule of the environment adds
    to the top level's (``url_hosts``: more hosts allowed; ``forbid``: more fields forbidden), any
    other rule it sets replaces the top level's. None when no rule is set anywhere."""
    top = config.model.policy
    mine = config.environments[environment].policy if environment is not None else None
    if top is None and mine is None:
        return None
    rules: dict[str, Sourced] = {}
    for rule in RULES:
        base = getattr(top, rule) if top is not None else None
        over = getattr(mine, rule) if mine is not None else None
        at_top = config.where(f"policy.{rule}")
        at_env = config.where(f"environments.{environment}.policy.{rule}")
        if over is None:
            if base is not None:
                rules[rule] = Sourced(tuple(base) if rule in LISTS else base, at_top)
        elif rule in LISTS and base is not None:
            rules[rule] = Sourced(tuple(dict.fromkeys([*base, *over])), f"{at_top} + {at_env}")
        else:
            rules[rule] = Sourced(tuple(over) if rule in LISTS else over, at_env)
    own = frozenset(r for r in RULES if mine is not None and getattr(mine, r) is not None)
    return Policy(rules, environment, own)


def spec_view(spec: ConnectorSpec) -> dict[str, Any]:
    """What the rules read of a connector file (as it is in its environment)."""
    oauth = spec.oauth
    return {
        "name": spec.name,
        "description": spec.description,
        "url": spec.url,
        "oauth.authorize_url": oauth.authorize_url if oauth is not None else None,
        "oauth.token_url": oauth.token_url if oauth is not None else None,
        "continue_on_failure": spec.continue_on_failure,
        "excludes": spec.excludes or None,
        "oauth": oauth,
        "service_auth": spec.service_auth,
    }


def applied_view(applied: Mapping[str, Any]) -> dict[str, Any]:
    """What the rules read of a planned connector: its applied view in a saved plan."""
    auth = applied.get("auth_type")
    view = {key: applied.get(key) for key in ("name", "url", "oauth.authorize_url", "oauth.token_url")}
    view["description"] = applied.get("description") or None
    view["continue_on_failure"] = applied.get("continue_on_failure")
    view["excludes"] = applied.get("excludes") or None
    view["oauth"] = True if auth == "oauth" else None
    view["service_auth"] = True if auth == "service_auth" else None
    return view


def violations(policy: Policy, view: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(field path, rule, what and why) of each rule the connector ``view`` breaks. URLs are
    named by their host or scheme only: a URL may hold credentials."""
    found: list[tuple[str, str, str]] = []

    def add(path: str, rule: str, what: str) -> None:
        found.append((path, rule, f"{what} ({policy.why(rule)})"))

    name, url = str(view.get("name")), view.get("url")
    hosts = policy.value("url_hosts")
    if hosts and isinstance(url, str):
        host = urlsplit(url).hostname or ""
        if not any(fnmatch.fnmatchcase(host, pattern.lower()) for pattern in hosts):
            add("url", "url_hosts", f"url points at host {host!r}, which matches none of {', '.join(hosts)}")
    if policy.value("require_https"):
        for path in URL_PATHS:
            value = view.get(path)
            if isinstance(value, str) and urlsplit(value).scheme.lower() != "https":
                scheme = urlsplit(value).scheme.lower()
                add(path, "require_https", f"{path} is {scheme}://; only https:// URLs are allowed")
    pattern = policy.value("name_pattern")
    if pattern is not None and re.fullmatch(pattern, name) is None:
        add("name", "name_pattern", f"name {name!r} does not match {pattern}")
    if policy.value("require_description") and not str(view.get("description") or "").strip():
        what = "has no description; every connector must say what it searches"
        add("description", "require_description", f"connector {name!r} {what}")
    for field in policy.value("forbid") or ():
        value = view.get(field)
        if value is True:
            add(field, "forbid", f"{field} is true; it is forbidden")
        elif value is not None and value is not False:
            add(field, "forbid", f"{field} is set; it is forbidden")
    return found


def check_files(policy: Policy | None, desired: Iterable[Desired]) -> list[Diagnostic]:
    """Every violation of every connector file, at the line of the field (the file's first
    line for a field that is missing)."""
    if policy is None:
        return []
    problems = []
    for d in desired:
        for path, rule, message in violations(policy, spec_view(d.spec)):
            line, col = d.where(path)
            problems.append(Diagnostic(d.file, line, col, None, f"policy {rule}: {message}"))
    return problems


def check_planned(
    policy: Policy | None, planned: Iterable[tuple[str, str, str, Mapping[str, Any]]]
) -> list[Diagnostic]:
    """Every violation of the connectors a saved plan writes or keeps, given as (file, action,
    name, applied view): at the file (a plan holds no line), naming the plan's change."""
    if policy is None:
        return []
    problems = []
    for file, action, name, applied in planned:
        for _, rule, message in violations(policy, applied_view(applied)):
            change = f"{'no change to' if action == 'noop' else action} {name}"
            problems.append(
                Diagnostic(
                    file,
                    None,
                    None,
                    None,
                    f"policy {rule}: {message}; in the saved plan: {change}; nothing was applied",
                )
            )
    return problems
