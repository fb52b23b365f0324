"""Where the state lives, from ``--state`` (pure: parsing and validation only): ``PATH`` is a local
file, ``git:BRANCH:PATH`` the file ``PATH`` of branch ``BRANCH`` of a git remote; branch, path and
remote name are checked strictly, since they end up in git command lines and ref names."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from conn_reconcile.errors import ConfigError

PREFIX = "git:"
REMOTE_VAR = "CONN_RECONCILE_STATE_REMOTE"
DEFAULT_REMOTE = "origin"

_COMPONENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
_REMOTE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
_MAX = 200


@dataclass(frozen=True)
class GitStateSpec:
    """The state in file ``path`` of branch ``branch`` of the git remote ``remote``."""

    remote: str
    branch: str
    path: str

    @property
    def branch_ref(self) -> str:
        return f"refs/heads/{self.branch}"

    @property
    def lock_ref(self) -> str:
        return f"refs/conn-reconcile/lock/{self.branch}"

    def __str__(self) -> str:
        return f"{PREFIX}{self.branch}:{self.path}"

    def describe(self) -> str:
        return f"{self.path} on branch {self.branch} of remote {self.remote}"

    def local_name(self) -> PurePosixPath:
        """Where, relative to the scratch directory, the local copy of this state lives."""
        return PurePosixPath("state", self.remote, self.branch.replace("/", "%2F"), self.path)


def _components(value: str, what: str) -> str:
    parts = value.split("/")
    if not value or len(value) > _MAX or any(not _COMPONENT.fullmatch(p) for p in parts):
        raise ConfigError(
            f"--state git:BRANCH:PATH: {what} must be /-separated names of letters, digits, '.', '_' and '-' "
            f"(not starting with '.' or '-', at most {_MAX} characters)"
        )
    if any(p.endswith((".lock", ".")) for p in parts):
        raise ConfigError(f"--state git:BRANCH:PATH: no part of the {what} may end with '.lock' or '.'")
    return value


def check_remote(name: str) -> str:
    if not _REMOTE.fullmatch(name) or len(name) > _MAX or ".." in name:
        raise ConfigError(f"{REMOTE_VAR} must be a git remote name (letters, digits, '.', '_', '-'), not a URL")
    return name


def parse(value: str, remote: str | None = None) -> GitStateSpec | None:
    """The git state named by ``value`` (``git:BRANCH:PATH``, on the git remote ``remote``: what
    ``$CONN_RECONCILE_STATE_REMOTE`` names, default ``origin``), or None when ``value`` is a local path. Branch,
    path and remote are a strict subset of what git allows: no option-like value, no ``..``, no
    control characters."""
    if not value.startswith(PREFIX):
        return None
    rest = value[len(PREFIX) :]
    branch, sep, path = rest.partition(":")
    if not sep:
        raise ConfigError(
            f"--state {PREFIX}BRANCH:PATH: missing ':PATH' (e.g. {PREFIX}conn-reconcile-state:state.json)"
        )
    if ".." in branch or "@{" in branch:
        raise ConfigError("--state git:BRANCH:PATH: the branch may not contain '..' or '@{'")
    return GitStateSpec(
        remote=check_remote(remote or DEFAULT_REMOTE),
        branch=_components(branch, "branch"),
        path=_components(path, "path"),
    )
