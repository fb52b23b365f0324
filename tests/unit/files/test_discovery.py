"""Finding connector files without trusting the file system: recursive sorted walks, only regular
files opened, symlinks followed only inside the directory scanned (loops reported), size bounds,
unreadable files, names differing only in case, and a file replaced after it was found."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import pytest
from connfiles import GOOD, HEAD, errors, put

from conn_reconcile.files import discovery as discovery
from conn_reconcile.files.loader import discover, load


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> dict[str, set[str]]:
    """Records every os.open; opening a path in ``forbid`` fails the test, in ``deny`` is EACCES."""
    rec: dict[str, set[str]] = {"all": set(), "forbid": set(), "deny": set()}
    real_open = os.open

    def fake(path, flags, *args, **kwargs):
        name = str(Path(path).resolve())
        rec["all"].add(name)
        if name in rec["forbid"]:
            raise AssertionError(f"opened {name}")
        if name in rec["deny"]:
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", fake)
    return rec


def test_discover_is_recursive_sorted_skips_hidden_and_takes_files_as_given(cwd: Path) -> None:
    for rel in ["c/b.yaml", "c/a.yml", "c/sub/z.yaml", "c/sub/deeper/m.YAML", "c/.hidden.yaml", "c/.git/x.yaml"]:
        put(rel, GOOD.format(n=Path(rel).stem.lower()))
    put("c/README.md", "not yaml")
    put("one.yaml", GOOD.format(n="one"))
    got = discover(["c", "./one.yaml"])
    assert [p.as_posix() for p in got] == ["c/a.yml", "c/b.yaml", "c/sub/deeper/m.YAML", "c/sub/z.yaml", "one.yaml"]
    assert [d.file for d in load(["c/", "one.yaml"])] == [p.as_posix() for p in got]


def test_non_yaml_file_named_explicitly_is_an_error(cwd: Path) -> None:
    put("notes.txt", HEAD)
    assert errors("notes.txt") == ["notes.txt: not a YAML file (expected a .yaml or .yml name)"]


def test_file_names_differing_only_in_case_are_reported(cwd: Path) -> None:
    put("c/A.yaml", GOOD.format(n="upper"))
    put("c/a.yaml", GOOD.format(n="lower"))
    if len(os.listdir("c")) != 2:
        pytest.skip("case-insensitive file system")
    assert errors("c") == [
        "c/a.yaml: name differs only in case from c/A.yaml; they collide on case-insensitive file systems"
    ]


def test_file_over_one_mib_is_refused_without_opening_it(cwd: Path, opened: dict[str, set[str]]) -> None:
    big = put("c/big.yaml", HEAD + "#" * (discovery.MAX_FILE_BYTES + 1))
    opened["forbid"].add(str(big.resolve()))
    size = big.stat().st_size
    assert errors("c") == [
        f"c/big.yaml: file is larger than 1 MiB ({size} bytes); connector files are small, refusing to read it"
    ]


def test_file_of_exactly_one_mib_loads(cwd: Path) -> None:
    put("c.yaml", HEAD + "#" * (discovery.MAX_FILE_BYTES - len(HEAD) - 1) + "\n")
    assert Path("c.yaml").stat().st_size == discovery.MAX_FILE_BYTES
    assert [d.spec.name for d in load(["c.yaml"])] == ["a"]


def test_unreadable_file_is_an_error(cwd: Path, opened: dict[str, set[str]]) -> None:
    put("c/a.yaml", GOOD.format(n="a"))
    opened["deny"].add(str(Path("c/a.yaml").resolve()))
    assert errors("c") == ["c/a.yaml: permission denied: cannot read the file"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_unreadable_file_by_mode_is_an_error(cwd: Path) -> None:
    put("c/a.yaml", GOOD.format(n="a")).chmod(0)
    assert errors("c") == ["c/a.yaml: permission denied: cannot read the file"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_is_refused_and_never_opened(cwd: Path, opened: dict[str, set[str]]) -> None:
    Path("c").mkdir()
    os.mkfifo("c/pipe.yaml")
    opened["forbid"].add(str(Path("c/pipe.yaml").resolve()))
    assert errors("c") == ["c/pipe.yaml: is a FIFO, not a regular file; refusing to open it"]
    assert errors("c/pipe.yaml") == ["c/pipe.yaml: is a FIFO, not a regular file; refusing to open it"]


@pytest.mark.skipif(os.name != "posix" or not hasattr(socket, "AF_UNIX"), reason="no unix sockets here")
def test_socket_and_device_are_refused(opened: dict[str, set[str]]) -> None:
    with tempfile.TemporaryDirectory(dir="/tmp") as short, socket.socket(socket.AF_UNIX) as sock:
        sock.bind(f"{short}/s.yaml")
        opened["forbid"].add(str(Path(short, "s.yaml").resolve()))
        assert errors(short) == [f"{short}/s.yaml: is a socket, not a regular file; refusing to open it"]
    if os.path.exists("/dev/null"):
        opened["forbid"].add("/dev/null")
        assert errors("/dev/null") == ["/dev/null: is a device, not a regular file; refusing to open it"]


def test_symlink_outside_the_scanned_directory_is_refused_and_never_opened(
    cwd: Path, opened: dict[str, set[str]]
) -> None:
    outside = put("outside/secret.yaml", GOOD.format(n="outside"))
    opened["forbid"].add(str(outside.resolve()))
    Path("c").mkdir()
    os.symlink("../outside/secret.yaml", "c/link.yaml")
    os.symlink("../outside", "c/dirlink")
    assert errors("c") == [
        "c/dirlink: symlink points outside the scanned directory c; refusing to follow it",
        "c/link.yaml: symlink points outside the scanned directory c; refusing to follow it",
    ]
    os.symlink(outside.resolve(), "top.yaml")
    os.chdir("c")
    assert errors("../top.yaml") == ["../top.yaml: symlink points outside the working directory; refusing to follow it"]


def test_symlinks_inside_the_scanned_directory_are_followed(cwd: Path) -> None:
    put("c/.store/x.yaml", GOOD.format(n="x"))
    os.symlink(".store", "c/live")
    put("c/real.yaml", GOOD.format(n="real"))
    os.symlink("real.yaml", "c/other.yaml")
    assert errors("c") == ["c/real.yaml: same file as c/other.yaml (a symlink or hard link); each file is loaded once"]
    os.remove("c/other.yaml")
    assert [(d.file, d.spec.name) for d in load(["c"])] == [("c/live/x.yaml", "x"), ("c/real.yaml", "real")]


def test_symlink_loops_are_reported(cwd: Path) -> None:
    put("c/sub/a.yaml", GOOD.format(n="a"))
    os.symlink("..", "c/sub/up")
    os.symlink("b.yaml", "c/a.yaml")
    os.symlink("a.yaml", "c/b.yaml")
    os.symlink("nowhere.yaml", "c/broken.yaml")
    assert errors("c") == [
        "c/a.yaml: symlink loop; refusing to follow it",
        "c/b.yaml: symlink loop; refusing to follow it",
        "c/broken.yaml: broken symlink: its target does not exist",
        "c/sub/up: symlink loop: it points to a directory that contains it",
    ]


def test_the_same_path_through_two_arguments_is_loaded_once(cwd: Path) -> None:
    put("c/a.yaml", GOOD.format(n="a"))
    assert [d.file for d in load(["c", "c/a.yaml"])] == ["c/a.yaml"]
    os.link("c/a.yaml", "hard.yaml")
    assert errors("c", "hard.yaml") == [
        "hard.yaml: same file as c/a.yaml (a symlink or hard link); each file is loaded once"
    ]


def test_a_file_replaced_after_discovery_is_not_read(cwd: Path) -> None:
    put("c/a.yaml", GOOD.format(n="a"))
    (found,), problems, _ = discovery.scan(["c"])
    os.replace(put("c/new.yaml", GOOD.format(n="b")), "c/a.yaml")
    assert not problems
    problem = discovery.read_bytes(found)
    assert not isinstance(problem, bytes) and problem.format() == "c/a.yaml: file was replaced while loading; run again"
