"""Finding connector files and reading them, without trusting the file system: only regular files
are opened, symlinks are followed only inside the directory scanned, no file over
:data:`MAX_FILE_BYTES` is read, and every problem found is reported with its path."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from conn_reconcile.errors import Diagnostic, InputError

MAX_FILE_BYTES = 1024 * 1024
YAML_SUFFIXES = (".yaml", ".yml")
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


class Found(NamedTuple):
    """A connector file to load: how to show it, what to open, and what it must still be."""

    display: str  # the path joined as given, with forward slashes
    path: str  # what to open: symlinks already resolved
    dev: int
    ino: int
    size: int


def is_yaml_name(name: str) -> bool:
    return name.lower().endswith(YAML_SUFFIXES)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _not_regular(mode: int) -> str:
    return f"is {_kind(mode)}, not a regular file; refusing to open it"


def _name(entry: os.DirEntry[str]) -> str:
    return entry.name


def _too_large(size: int) -> str:
    return f"file is larger than 1 MiB ({size} bytes); connector files are small, refusing to read it"


class _Scanner:
    def __init__(self) -> None:
        self.found: list[Found] = []
        self.problems: list[Diagnostic] = []
        self.by_display: set[str] = set()
        self.by_inode: dict[tuple[int, int], str] = {}
        self.linked_dirs: dict[Path, str] = {}
        self.dir_args: list[str] = []

    def problem(self, display: str, message: str) -> None:
        self.problems.append(Diagnostic(display, None, None, None, message))

    def add(self, display: str, path: str | Path, st: os.stat_result) -> None:
        if display in self.by_display:  # the same path reached through two arguments
            return
        self.by_display.add(display)
        first = self.by_inode.setdefault((st.st_dev, st.st_ino), display)
        if first != display:
            self.problem(display, f"same file as {first} (a symlink or hard link); each file is loaded once")
            return
        self.found.append(Found(display, os.fspath(path), st.st_dev, st.st_ino, st.st_size))

    def follow(self, link: Path, display: str, base: Path, base_name: str) -> tuple[Path, os.stat_result] | None:
        """Resolve a symlink that must stay inside ``base``; report and return None otherwise."""
        try:
            real = link.resolve(strict=True)
            st = os.lstat(real)
        except FileNotFoundError:
            self.problem(display, "broken symlink: its target does not exist")
            return None
        except RuntimeError:  # Python 3.11 reports loops this way
            self.problem(display, "symlink loop; refusing to follow it")
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # Python 3.13+
                self.problem(display, "symlink loop; refusing to follow it")
            else:
                self.problem(display, f"cannot follow symlink: {exc.strerror or 'error'}")
            return None
        if not real.is_relative_to(base):
            self.problem(display, f"symlink points outside {base_name}; refusing to follow it")
            return None
        return real, st

    def argument(self, raw: str | Path) -> None:
        given = Path(raw)
        display = given.as_posix()
        try:
            st = os.lstat(given)
        except FileNotFoundError:
            self.problem(display, "no such file or directory")
            return
        except OSError as exc:
            self.problem(display, f"cannot read: {exc.strerror or 'error'}")
            return
        path = given
        if stat.S_ISLNK(st.st_mode):
            followed = self.follow(given, display, Path.cwd().resolve(), "the working directory")
            if followed is None:
                return
            path, st = followed
        if stat.S_ISDIR(st.st_mode):
            self.dir_args.append(display)
            real = path.resolve()
            self.walk(real, display, real, (real,))
        elif not stat.S_ISREG(st.st_mode):
            self.problem(display, _not_regular(st.st_mode))
        elif not is_yaml_name(given.name):
            self.problem(display, "not a YAML file (expected a .yaml or .yml name)")
        else:
            self.add(display, path, st)

    def walk(self, real: Path, display: str, root: Path, stack: tuple[Path, ...]) -> None:
        try:
            with os.scandir(real) as listing:
                entries = sorted((e for e in listing if not e.name.startswith(".")), key=_name)
        except OSError as exc:
            self.problem(display, f"cannot list directory: {exc.strerror or 'error'}")
            return
        seen_case: dict[str, str] = {}
        prefix = "" if display == "." else display.rstrip("/") + "/"
        for entry in entries:
            name, shown = entry.name, prefix + entry.name
            try:  # the entry's type comes with the listing; only a relevant entry is stat'ed
                if not (is_yaml_name(name) or entry.is_dir(follow_symlinks=False) or entry.is_symlink()):
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError as exc:
                self.problem(shown, f"cannot read: {exc.strerror or 'error'}")
                continue
            first = seen_case.setdefault(name.casefold(), shown)
            if first != shown:
                self.problem(
                    shown, f"name differs only in case from {first}; they collide on case-insensitive file systems"
                )
            if stat.S_ISLNK(st.st_mode):
                self.link(real / name, shown, root, stack)
            elif stat.S_ISDIR(st.st_mode):
                child = real / name
                self.walk(child, shown, root, (*stack, child))
            elif stat.S_ISREG(st.st_mode):
                self.add(shown, entry.path, st)
            else:
                self.problem(shown, _not_regular(st.st_mode))

    def link(self, child: Path, shown: str, root: Path, stack: tuple[Path, ...]) -> None:
        if not is_yaml_name(child.name):
            # Only a link to a directory matters here; stat() follows it without opening anything.
            try:
                if not stat.S_ISDIR(os.stat(child).st_mode):
                    return
            except (OSError, RuntimeError):
                return
        followed = self.follow(child, shown, root, f"the scanned directory {self.dir_args[-1]}")
        if followed is None:
            return
        target, st = followed
        if stat.S_ISDIR(st.st_mode):
            if target in stack:
                self.problem(shown, "symlink loop: it points to a directory that contains it")
            elif target in self.linked_dirs:
                self.problem(shown, f"symlink to a directory already scanned as {self.linked_dirs[target]}")
            else:
                self.linked_dirs[target] = shown
                self.walk(target, shown, root, (*stack, target))
        elif not is_yaml_name(child.name):
            return
        elif stat.S_ISREG(st.st_mode):
            self.add(shown, target, st)
        else:
            self.problem(shown, _not_regular(st.st_mode))


def scan(paths: Sequence[str | Path]) -> tuple[list[Found], list[Diagnostic], list[str]]:
    """The files to load, the problems found, and the directory arguments (as displayed).

    * Directories are walked recursively in sorted order; hidden entries (``.name``) are skipped.
    * FIFOs, sockets and devices are refused after ``lstat``.
    * A symlink is followed only when its target resolves inside the directory being scanned
      (for a path named on the command line: inside the working directory); loops are reported.
    * Files over :data:`MAX_FILE_BYTES` are refused from their ``stat`` size.
    * Names in one directory that differ only in case are reported (they collide on macOS/Windows).
    """
    scanner = _Scanner()
    for raw in paths:
        scanner.argument(raw)
    return scanner.found, scanner.problems, scanner.dir_args


def discover(paths: Sequence[str | Path]) -> list[Path]:
    """The connector files under ``paths`` (directories recursively, sorted; files as given).

    Raises :class:`InputError` listing every problem (missing paths, refused symlinks...).
    """
    found, problems, _ = scan(paths)
    if problems:
        raise InputError(problems)
    return [Path(f.display) for f in found]


def read_bytes(found: Found) -> bytes | Diagnostic:
    """The file's bytes, or a Diagnostic. Opens only the regular file that was discovered: with
    ``O_NOFOLLOW | O_NONBLOCK``, checked again with ``fstat``, never read past :data:`MAX_FILE_BYTES`."""

    def problem(message: str) -> Diagnostic:
        return Diagnostic(found.display, None, None, None, message)

    if found.size > MAX_FILE_BYTES:
        return problem(_too_large(found.size))
    try:
        fd = os.open(found.path, _OPEN_FLAGS)
    except PermissionError:
        return problem("permission denied: cannot read the file")
    except OSError as exc:
        return problem(f"cannot open: {exc.strerror or 'error'}")
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return problem(_not_regular(st.st_mode))
        if (st.st_dev, st.st_ino) != (found.dev, found.ino):
            return problem("file was replaced while loading; run again")
        if st.st_size > MAX_FILE_BYTES:
            return problem(_too_large(st.st_size))
        chunks: list[bytes] = []
        remaining = MAX_FILE_BYTES + 1
        while remaining > 0:
            # the size fstat gave, and one more byte: one read (and a buffer of the file's size) for
            # a file that did not grow, and that read short, so no extra read() to see the end
            want = min(remaining, st.st_size + 1 if not chunks else 65536)
            chunk = os.read(fd, want)
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
            if len(chunk) < want:  # a regular file reads short only at its end: no extra read() to see EOF
                break
        data = b"".join(chunks)
        if len(data) > MAX_FILE_BYTES:
            return problem(_too_large(len(data)))
        return data
    except OSError as exc:
        return problem(f"cannot read: {exc.strerror or 'error'}")
    finally:
        os.close(fd)
