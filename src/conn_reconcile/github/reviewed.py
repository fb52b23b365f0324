"""Which reviewed plans an apply on the default branch is checked against: one per pull
request merged since the commit the state last applied (GitHub drops queued runs, so one
apply may cover several merges), each from a verified artifact of that pull request's final
head, written into a fresh directory outside the checkout. They are evidence, never executed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from conn_reconcile.escape import escape
from conn_reconcile.github.api import GitHub
from conn_reconcile.github.artifact import fresh_directory, write_safely

_SHA = re.compile(r"[0-9a-f]{40}")
DEFAULT_WORKFLOW = ".github/workflows/plan.yml"


class ReviewError(Exception):
    """No reviewed plan can back this apply (exit 1, nothing applied)."""


def _input(env: Mapping[str, str], name: str, default: str) -> str:
    return env.get(f"INPUT_{name}", "").strip() or default


def merged_since(github: GitHub, base: str | None, commit: str) -> list[str] | None:
    """The default branch's commits to cover, oldest first: those after ``base`` (the commit
    the state last applied) up to ``commit``; None when ``commit`` is already applied."""
    if base is None or not _SHA.fullmatch(base):
        return [commit]
    if base == commit:
        return None
    status, commits = github.commits_between(base, commit)
    if status in ("behind", "identical"):
        return None
    if status != "ahead":  # history rewritten: only what this push brought can be traced
        print(f"The last applied commit {base[:12]} is not an ancestor of {commit[:12]} ({status}).")
        return [commit]
    return [c for c in commits if _SHA.fullmatch(c)] or [commit]


def reviewed_plans(
    env: Mapping[str, str], commit: str, github: GitHub | None, state_info: Mapping[str, Any]
) -> tuple[list[str], list[int]] | None:
    """(the reviewed plan files, the pull requests they come from, in merge order), or None
    when ``commit`` is already applied (a later run covered it)."""
    if github is None:
        raise ReviewError("no reviewed plan: give the reviewed-plan input, or run on a push with a token")
    base = state_info.get("applied_commit")
    commits = merged_since(github, base if isinstance(base, str) else None, commit)
    if commits is None:
        print(f"Commit {commit[:12]} is already applied (the state's last applied commit contains it): nothing to do.")
        return None
    numbers = [n for n in (github.merged_pull_request_of(sha) for sha in commits) if n is not None]
    if not numbers:
        raise ReviewError(f"no pull request was merged as {commit}: there is no reviewed plan to apply")
    prefix = _input(env, "ARTIFACT_PREFIX", "conn-reconcile-plan-pr")
    name = Path(_input(env, "PLAN_PATH", "conn-reconcile-plan.json")).name
    workflow = _input(env, "PLAN_WORKFLOW", DEFAULT_WORKFLOW)
    directory = fresh_directory(env, "reviewed")
    files = []
    for number in dict.fromkeys(numbers):
        found = github.verified_plan(
            number, f"{prefix}{number}", name, workflow, log=lambda why: print(f"Skipped: {escape(why)}")
        )
        if found is None:
            raise ReviewError(
                f"pull request #{number} has no plan artifact {prefix}{number} from a pull_request run of "
                f"{workflow} on its final head commit: its changes cannot be traced to a reviewed plan; "
                "nothing was applied (a manual run with the confirmation applies a fresh plan)"
            )
        data, run_id = found
        files.append(str(write_safely(directory, f"reviewed-pr{number}.json", data)))
        print(f"Reviewed plan of pull request #{number}: artifact {prefix}{number} of run {run_id}.")
    return files, list(dict.fromkeys(numbers))
