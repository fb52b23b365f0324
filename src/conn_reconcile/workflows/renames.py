"""The renames git saw among the connector files since they were last applied (an edge: runs git
with argument lists, never a shell, and writes nothing): what lets a plan pair a file that was
renamed together with its connector's name with the connector its old file described."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence

from conn_reconcile.model.connector import Desired
from conn_reconcile.model.state import State

_OID = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
TIMEOUT = 60.0


def git_renames(desired: Sequence[Desired], state: State | None) -> dict[str, str]:
    """Old file (as the state records it) -> new file (as loaded), for the managed connectors
    whose file is gone and which git's rename detection (``git diff --find-renames``) finds
    renamed since the state's ``applied_commit`` or, without it, since ``HEAD`` (a ``git mv``
    not committed yet). Empty when no managed file is gone, or git cannot tell."""
    if state is None:
        return {}
    plain = {os.path.normpath(d.file) for d in desired}
    if all(not r.file or os.path.normpath(r.file) in plain for r in state.connectors.values()):
        return {}  # the common case, told from the names alone: no file system call, no git
    loaded = {_key(d.file): d.file for d in desired}
    gone = {_key(r.file): r.file for r in state.connectors.values() if r.file and _key(r.file) not in loaded}
    if not gone:
        return {}
    top = _git(["rev-parse", "--show-toplevel"], None)
    if top is None:
        return {}
    root = top.rstrip("\n")
    where = os.path.commonpath([os.path.dirname(p) for p in (*gone, *loaded)])
    inside = os.path.relpath(where, os.path.realpath(root))
    if inside.startswith(".."):
        return {}
    for base in (state.applied_commit, "HEAD"):
        if base is None or (base != "HEAD" and not _OID.fullmatch(base)):
            continue
        args = ["diff", "--find-renames", "--name-status", "-z", "--no-relative", "--no-ext-diff", base]
        out = _git([*args, "--", f":(top,literal){'' if inside == '.' else inside}"], root)
        if out is not None:
            pairs = _renamed(out, root)
            return {gone[old]: loaded[new] for old, new in pairs if old in gone and new in loaded}
    return {}


def _key(path: str) -> str:
    return os.path.realpath(path)


def _renamed(out: str, root: str) -> list[tuple[str, str]]:
    """The (old, new) paths of the renames in ``git diff --name-status -z`` output."""
    fields = out.split("\0")
    pairs = []
    i = 0
    while i < len(fields) and fields[i]:
        status = fields[i]
        if status[:1] in ("R", "C"):
            if status[0] == "R":
                pairs.append((_key(os.path.join(root, fields[i + 1])), _key(os.path.join(root, fields[i + 2]))))
            i += 3
        else:
            i += 2
    return pairs


def _git(args: list[str], cwd: str | None) -> str | None:
    """git's output, or None when it fails (no git, not a repository, an unknown commit)."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            encoding="utf-8",
            errors="surrogateescape",
            env=env,
            timeout=TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None
