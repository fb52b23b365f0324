"""What a run of the action may trust (the action's threat model, docs/SECURITY.md): a run a
pull request triggered holds no secret; a run that holds secrets applies only the default
branch's commit it was started for, from a checkout that carries none of the tool's own
scratch files.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from conn_reconcile.apply.planfile import git_commit

#: events whose run carries a pull request's code or files (a branch or a fork chose them)
PULL_REQUEST_EVENTS = frozenset(
    {
        "pull_request",
        "pull_request_target",
        "pull_request_review",
        "pull_request_review_comment",
        "merge_group",
    }
)
#: secrets that no pull request's run may hold, whatever the connector files say
ALWAYS_SECRET = ("CO_API_KEY", "CONN_RECONCILE_FINGERPRINT_KEY")
#: the tool's scratch directory: local state, journal, the git state's scratch repository
SCRATCH = ".conn-reconcile"


class TrustError(Exception):
    """The run is refused before it does anything (exit 1)."""


def from_pull_request(env: Mapping[str, str]) -> bool:
    return env.get("GITHUB_EVENT_NAME", "") in PULL_REQUEST_EVENTS


def secrets_held(env: Mapping[str, str], named: Iterable[str]) -> list[str]:
    """The names of the secrets the run holds: the ``secrets`` input, the API key, the
    fingerprint key, and every variable in ``named`` (the connector files' ``${VAR}``s and
    the environments' key variables) that is set."""
    held = ["the secrets input"] if env.get("INPUT_SECRETS", "").strip() else []
    names = sorted(set(ALWAYS_SECRET) | set(named))
    return held + [name for name in names if env.get(name)]


def refuse_secrets_on_pull_request(env: Mapping[str, str], named: Callable[[], Iterable[str]]) -> None:
    """A pull request's run must hold no secret: a branch may point the config's ``api_url``
    or a connector's ``url`` anywhere and reference any secret's name."""
    if not from_pull_request(env):
        return
    held = secrets_held(env, named())
    if held:
        raise TrustError(
            f"refusing to run on a {env.get('GITHUB_EVENT_NAME')} event with secrets ({', '.join(held)}): a pull "
            "request's plan needs none (it plans against the org snapshot kept with the state); remove them from "
            "the step's env, its secrets input and the job's environment"
        )


def default_branch(event: Mapping[str, Any]) -> str | None:
    repo = event.get("repository")
    name = repo.get("default_branch") if isinstance(repo, dict) else None
    return name if isinstance(name, str) and re.fullmatch(r"[\w./-]{1,200}", name) else None


def require_trusted_checkout(env: Mapping[str, str], event: Mapping[str, Any], command: str) -> str:
    """A run that holds secrets (apply, drift) works on the default branch only, on the very
    commit the run was started for: the checkout's files, ``conn-reconcile.yaml`` among them,
    were reviewed and merged. Returns that commit."""
    if from_pull_request(env):
        raise TrustError(f"{command} never runs for a pull request: it holds the API key and writes to the org")
    branch = default_branch(event)
    ref = env.get("GITHUB_REF", "")
    if branch is None or ref != f"refs/heads/{branch}":
        raise TrustError(
            f"{command} runs only on the default branch ({branch or 'unknown: no repository in the event'}), "
            f"not {ref or 'an unknown ref'}: its secrets must only meet reviewed files"
        )
    sha = env.get("GITHUB_SHA", "")
    head = git_commit()
    if not re.fullmatch(r"[0-9a-f]{40}", sha) or head != sha:
        raise TrustError(
            f"the checkout is at {head or 'no commit'}, not the commit this run was started for "
            f"({sha or 'GITHUB_SHA unset'}): check out that commit"
        )
    return sha


def refuse_planted_scratch(root: Path | None = None) -> None:
    """The tool's scratch directory is never part of a checkout: one that arrives with the
    files (a state, a journal, a git config with commands in it) is refused."""
    try:
        proc = subprocess.run(
            ["git", "ls-files", "-z", "--", SCRATCH, f"{SCRATCH}/*"],
            cwd=root,
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return  # no git: no checkout to carry it
    if proc.returncode == 0 and proc.stdout.strip(b"\0"):
        raise TrustError(
            f"the checkout carries {SCRATCH}/, the tool's scratch directory (local state, git scratch "
            "repository): it is never committed; remove it from the repository (and add it to .gitignore)"
        )


def event_payload(env: Mapping[str, str]) -> dict[str, Any]:
    path = env.get("GITHUB_EVENT_PATH")
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        raise TrustError("cannot read the event payload (GITHUB_EVENT_PATH)") from None
    return data if isinstance(data, dict) else {}
