"""A private scratch git repository that talks to the project's remote (an edge: runs git), so that
``origin`` means what it means in the user's checkout while no object or ref of this tool lands in
it. git runs with argument lists (never a shell), and every ref and path it is given is validated."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from conn_reconcile.errors import ConfigError, ConnReconcileError

_OID = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)[^/@\s]*@", re.IGNORECASE)
#: variables that would point git at another repository, index or object store
_REPO_VARS = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_COMMON_DIR",
    "GIT_CEILING_DIRECTORIES",
    "GIT_PREFIX",
)
IDENTITY = {
    "GIT_AUTHOR_NAME": "conn-reconcile",
    "GIT_AUTHOR_EMAIL": "conn-reconcile@localhost",
    "GIT_COMMITTER_NAME": "conn-reconcile",
    "GIT_COMMITTER_EMAIL": "conn-reconcile@localhost",
}
#: the remote's words (git's receive-pack, checking the old value under its ref lock) for a
#: ref another push created, moved or was updating after this push's lease was checked
_RACE = ("reference already exists", "but expected", "incorrect old value", ".lock': file exists")
NETWORK_TIMEOUT = 300.0
LOCAL_TIMEOUT = 60.0
MAX_BLOB = 64 * 1024 * 1024


class GitError(ConnReconcileError):
    """git failed (not found, no repository, network, refused by the remote)."""


def oid(text: str) -> str:
    value = text.strip()
    if not _OID.fullmatch(value):
        raise GitError("git answered something that is not an object id")
    return value


def clean(text: str) -> str:
    """git's message, without credentials in URLs, on a few lines."""
    lines = [_USERINFO.sub(r"\1***@", line) for line in text.strip().splitlines() if line.strip()]
    return "\n  ".join(lines[-6:])


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _REPO_VARS}
    env.update(GIT_TERMINAL_PROMPT="0", LC_ALL="C", LANGUAGE="C", **IDENTITY)
    env.update(extra or {})
    return env


def _run(
    args: list[str],
    *,
    cwd: Path | None = None,
    stdin: bytes | None = None,
    timeout: float = LOCAL_TIMEOUT,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", *args], cwd=cwd, input=stdin, capture_output=True, env=_env(env), timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise ConfigError("--state git:...: git is not installed (or not on PATH)") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} did not finish within {timeout:g}s") from None


def project_config() -> Path:
    """The config file of the git repository of the current directory."""
    proc = _run(["rev-parse", "--path-format=absolute", "--git-common-dir"])
    if proc.returncode != 0:
        why = clean(proc.stderr.decode(errors="replace"))
        raise ConfigError(f"--state git:...: the current directory is not in a git repository: {why}")
    return Path(proc.stdout.decode().strip()) / "config"


@dataclass(frozen=True)
class PushResult:
    """What one push did: ``ok``; refused because another writer had the ref (``stale``):
    it was not at the expected value when the lease was checked, or was created or moved
    by another push between that check and the update; git's ``message``."""

    ok: bool
    #: the remote refused because the ref was not at the expected value (another writer)
    stale: bool
    message: str


class ScratchRepo:
    """The bare scratch repository at ``path`` (under ``.conn-reconcile/git/``), made on first use.
    Its config includes the config of the repository of the current directory, so that the remote
    (its URL, ``insteadOf`` rewrites, credential helpers, the auth header a CI checkout leaves) is
    the same as in that checkout. git runs with ``GIT_TERMINAL_PROMPT=0`` and the C locale; every
    ref and path it is given was validated by :mod:`conn_reconcile.state.spec` or is a hex object
    id read back from git and checked."""

    def __init__(self, path: Path, remote: str):
        self.path = path
        self.remote = remote

    def ensure(self) -> ScratchRepo:
        if not (self.path / "HEAD").exists():
            config = project_config()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{uuid.uuid4().hex[:8]}")
            self._check(_run(["init", "--quiet", "--bare", str(tmp)]), "init")
            (tmp / "no-hooks").mkdir()
            hooks = self.path.parent.resolve() / self.path.name / "no-hooks"
            with (tmp / "config").open("a", encoding="utf-8") as fh:  # later values win over the included ones
                fh.write(
                    f'[include]\n\tpath = "{_quote(config)}"\n[core]\n\tbare = true\n'
                    f'\thooksPath = "{_quote(hooks)}"\n'
                    "[gc]\n\tauto = 0\n"
                )
            try:
                tmp.rename(self.path)  # another process may have made it meanwhile: use theirs
            except OSError:
                import shutil

                shutil.rmtree(tmp, ignore_errors=True)
        return self

    def git(
        self, *args: str, stdin: bytes | None = None, timeout: float = LOCAL_TIMEOUT, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        return _run(["--git-dir", str(self.path), *args], stdin=stdin, timeout=timeout, env=env)

    def out(self, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None) -> str:
        proc = self.git(*args, stdin=stdin, env=env)
        self._check(proc, args[0])
        return proc.stdout.decode()

    @staticmethod
    def _check(proc: subprocess.CompletedProcess[bytes], what: str) -> None:
        if proc.returncode != 0:
            raise GitError(f"git {what} failed: {clean(proc.stderr.decode(errors='replace'))}")

    def fetch(self, ref: str) -> str | None:
        """The commit ``ref`` of the remote points at (fetched here), or None if it does not exist."""
        local = f"refs/conn-reconcile/fetch/{uuid.uuid4().hex}"
        proc = self.git(
            "fetch",
            "--quiet",
            "--no-write-fetch-head",
            "--no-tags",
            "--no-recurse-submodules",
            "--refmap=",
            self.remote,
            f"+{ref}:{local}",
            timeout=NETWORK_TIMEOUT,
        )
        if proc.returncode != 0:
            err = proc.stderr.decode(errors="replace")
            if "couldn't find remote ref" in err:
                return None
            raise GitError(f"cannot fetch {ref} from remote {self.remote}: {clean(err)}")
        try:
            commit = oid(self.out("rev-parse", "--verify", "--quiet", f"{local}^{{commit}}"))
        finally:
            self.git("update-ref", "-d", local)
        return commit

    def has(self, commit: str) -> bool:
        """Whether ``commit`` is in this repository."""
        return self.git("cat-file", "-e", f"{oid(commit)}^{{commit}}").returncode == 0

    def read(self, commit: str, path: str, limit: int = MAX_BLOB) -> bytes | None:
        """The content of file ``path`` in ``commit``, or None when there is no such file."""
        spec = f"{oid(commit)}:{path}"
        kind = self.git("cat-file", "-t", spec)
        if kind.returncode != 0:
            return None
        if kind.stdout.strip() != b"blob":
            raise GitError(f"{path} in commit {commit[:12]} is not a file")
        size = int(self.out("cat-file", "-s", spec).strip() or "0")
        if size > limit:
            raise GitError(f"{path} in commit {commit[:12]} is {size} bytes, more than {limit}")
        proc = self.git("cat-file", "blob", spec)
        self._check(proc, "cat-file")
        return proc.stdout

    def commit_file(self, parent: str | None, path: str, content: bytes, message: str) -> str:
        """A new commit: ``parent``'s tree (or an empty one) with ``path`` set to ``content``."""
        blob = oid(self.out("hash-object", "-w", "--stdin", stdin=content))
        index = self.path / f"index-{uuid.uuid4().hex}"
        env = {"GIT_INDEX_FILE": str(index)}
        try:
            if parent is not None:
                self.out("read-tree", oid(parent), env=env)
            else:
                self.out("read-tree", "--empty", env=env)
            self.out("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
            tree = oid(self.out("write-tree", env=env))
        finally:
            index.unlink(missing_ok=True)
        args = ["commit-tree", tree, "-F", "-"] + (["-p", oid(parent)] if parent is not None else [])
        return oid(self.out(*args, stdin=message.encode()))

    def push(self, ref: str, new: str | None, expected: str | None) -> PushResult:
        """Set the remote's ``ref`` to commit ``new`` (None: delete it) only if it is at
        ``expected`` now (None: only if it does not exist): compare-and-swap on the remote."""
        lease = f"--force-with-lease={ref}:{oid(expected) if expected else ''}"
        spec = f"{oid(new)}:{ref}" if new is not None else f":{ref}"
        proc = self.git("push", "--porcelain", "--no-verify", self.remote, lease, spec, timeout=NETWORK_TIMEOUT)
        text = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
        if proc.returncode == 0:
            return PushResult(True, False, "")
        return PushResult(False, self._stale(text, ref, expected), clean(text))

    def _stale(self, text: str, ref: str, expected: str | None) -> bool:
        """Whether a refused push was refused because another writer had the ref: git's own
        lease check (``stale info``), or the remote's (``[remote rejected]``) when it says so
        or the ref is no longer at ``expected``."""
        refused = [line for line in text.splitlines() if line.startswith("!")]
        if any("stale info" in line for line in refused):
            return True
        if not any("[remote rejected]" in line for line in refused):
            return False
        if any(words in text.lower() for words in _RACE):
            return True
        try:
            return self.remote_ref(ref) != expected
        except GitError:
            return False

    def remote_ref(self, ref: str) -> str | None:
        """The commit the remote's ``ref`` points at now, or None when there is no such ref."""
        proc = self.git("ls-remote", self.remote, ref, timeout=NETWORK_TIMEOUT)
        if proc.returncode != 0:
            raise GitError(f"cannot list {ref} on remote {self.remote}: {clean(proc.stderr.decode(errors='replace'))}")
        for line in proc.stdout.decode(errors="replace").splitlines():
            value, _, name = line.partition("\t")
            if name == ref:
                return oid(value)
        return None


def _quote(path: Path) -> str:
    return str(path).replace("\\", "\\\\").replace('"', '\\"')
