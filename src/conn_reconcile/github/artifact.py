"""A pull request's plan artifact, handled as hostile data: its ZIP downloaded into memory up to a
bound, the one file taken from it refused when the archive is malformed or hostile, and that file
written out never through a symlink nor over another file."""

from __future__ import annotations

import io
import os
import re
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import httpx

from conn_reconcile.api.deadline import verifying_ssl_context
from conn_reconcile.github.rest import GitHubError

#: The largest file taken from an artifact (declared and decompressed), and the largest ZIP downloaded.
MAX_ARTIFACT_BYTES = 64 * 1024 * 1024
#: The most members an artifact's ZIP may have.
MAX_ARTIFACT_MEMBERS = 1000


def get_bounded(
    url: str | httpx.URL, path: str, timeout: float, headers: dict[str, str] | None = None
) -> tuple[httpx.Response, bytes]:
    """One GET (for API ``path``), not following a redirect: the response and, when it is a
    200, its body (GitHubError past MAX_ARTIFACT_BYTES, read no further)."""
    with httpx.stream(
        "GET", url, headers=headers, timeout=timeout, follow_redirects=False, verify=verifying_ssl_context()
    ) as resp:
        data = bytearray()
        if resp.status_code == 200:
            for chunk in resp.iter_bytes():
                data += chunk
                if len(data) > MAX_ARTIFACT_BYTES:
                    raise GitHubError(f"GitHub API GET {path}: the ZIP is too large")
        return resp, bytes(data)


def fresh_directory(env: Mapping[str, str], what: str) -> Path:
    """A new, empty directory of this run's own, outside the checkout (in ``$RUNNER_TEMP`` on a runner)."""
    return Path(tempfile.mkdtemp(prefix=f"conn-reconcile-{what}-", dir=env.get("RUNNER_TEMP") or None))


def write_safely(directory: Path, name: str, data: bytes) -> Path:
    """Create the file ``name`` (a plain file name) in ``directory`` holding ``data``, mode 0600:
    never through a symlink, never over an existing file (``FileExistsError``). Returns its path."""
    if not isinstance(name, str) or not name or "/" in name or "\0" in name or name in (".", ".."):
        raise ValueError(f"not a plain file name: {name!r}")
    path = Path(directory) / name
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
    except BaseException:
        path.unlink(missing_ok=True)  # ours: created just now (O_EXCL)
        raise
    return path


def _only_member(archive: zipfile.ZipFile, name: str, what: str) -> zipfile.ZipInfo:
    """The one entry ``name`` of ``archive``, after checking every member's name: not too many
    members, none absolute or holding ``..``, ``name`` present exactly once."""
    infos = archive.infolist()
    if len(infos) > MAX_ARTIFACT_MEMBERS:
        raise GitHubError(f"{what}: more than {MAX_ARTIFACT_MEMBERS} members")
    for info in infos:
        member = info.filename
        if member.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", member) or ".." in member:
            raise GitHubError(f"{what}: a member's name is absolute or holds '..'")
    matching = [i for i in infos if i.filename == name]
    if not matching:
        raise GitHubError(f"{what} holds no {name}")
    if len(matching) > 1:
        raise GitHubError(f"{what} holds {name} more than once")
    return matching[0]


def _read_regular(archive: zipfile.ZipFile, info: zipfile.ZipInfo, what: str) -> bytes:
    """The content of ``info``, a regular file no larger than :data:`MAX_ARTIFACT_BYTES`,
    declared or decompressed, and exactly the size it declares."""
    name = info.filename
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    # no file type at all (zipfile.writestr, archives made off Unix): a file unless a directory
    regular = kind == stat.S_IFREG or (kind == 0 and not info.is_dir() and not info.external_attr & 0x10)
    if not regular:
        shown = "a symlink" if stat.S_ISLNK(mode) else "not a regular file"
        raise GitHubError(f"{what}: {name} is {shown}")
    if info.file_size > MAX_ARTIFACT_BYTES:
        raise GitHubError(f"{what}: {name} is too large")
    with archive.open(info) as member_file:
        data = member_file.read(MAX_ARTIFACT_BYTES + 1)
    if len(data) > MAX_ARTIFACT_BYTES or len(data) != info.file_size:
        raise GitHubError(f"{what}: {name} is not the size it declares")
    return data


def zip_member(archive_bytes: bytes, name: str, what: str) -> bytes:
    """The regular file ``name`` of a ZIP held in memory; GitHubError when the archive is
    malformed or hostile (too many members, an absolute or ``..`` member name, a duplicate of
    ``name``, ``name`` missing, not a regular file or too large, declared or decompressed)."""
    try:
        with zipfile.ZipFile(io.BytesIO(archive_bytes)) as archive:
            return _read_regular(archive, _only_member(archive, name, what), what)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        EOFError,
        RuntimeError,
        NotImplementedError,
        ValueError,
    ):
        # BadZipFile also for a bad CRC: a member that decompresses to more than it declares
        raise GitHubError(f"{what}: not a readable ZIP archive") from None
