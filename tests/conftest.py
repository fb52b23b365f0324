"""The shared fixtures: real loopback servers on ephemeral ports, stopped after each test (the
emulator, connector endpoints), the end-to-end ``project``, and the pre-commit hook's test
session. The tests' own modules, in tests/support/, are put on ``sys.path`` here."""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

# the tests' own modules (e2e, helpers, fakegithub, ghrunner, connfiles, repofiles, gitfixtures,
# mock_api) live in tests/support/
sys.path.insert(0, str(Path(__file__).resolve().parent / "support"))

import pytest
from helpers import HookBuild, git, init_repo

if TYPE_CHECKING:  # imported by the fixtures: pytest's xdist controller loads this file and runs no test
    from conn_reconcile.emulator import Emulator
    from conn_reconcile.emulator.endpoint import ConnectorEndpoint

#: The wheels of this project's dependencies and of its build backend, which ``make install``
#: downloads into the virtualenv: pip builds the hook's environment from them, without an index.
WHEELHOUSE = Path(sys.prefix) / "wheelhouse"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tmp_path`` as the working directory, with none of the tool's variables set (the API
    key, conn-reconcile's own, GitHub's, NO_COLOR): for the CLI run in this process."""
    monkeypatch.chdir(tmp_path)
    for var in list(os.environ):
        if var.startswith(("CO_", "CONN_RECONCILE_", "GITHUB_")) or var == "NO_COLOR":
            monkeypatch.delenv(var)
    return tmp_path


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A started emulator accepting ANY non-empty bearer API key (``api_key`` is None), no data file."""
    from conn_reconcile.emulator import Emulator

    emu = Emulator().start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def make_endpoint() -> Iterator[Callable[..., ConnectorEndpoint]]:
    """A factory, ``make_endpoint(auth_type="bearer", token=t, ...)``, for endpoints that check a
    token; every endpoint it made is stopped after the test."""
    started: list[ConnectorEndpoint] = []

    def make(**kwargs: Any) -> ConnectorEndpoint:
        from conn_reconcile.emulator.endpoint import ConnectorEndpoint

        ep = ConnectorEndpoint(**kwargs).start()
        started.append(ep)
        return ep

    try:
        yield make
    finally:
        for ep in started:
            ep.stop()


@pytest.fixture
def endpoint(make_endpoint: Callable[..., ConnectorEndpoint]) -> ConnectorEndpoint:
    """A started connector endpoint without auth: it answers every well-formed query, whatever
    Authorization is sent."""
    return make_endpoint()


@pytest.fixture
def project(tmp_path, request):
    """A project directory, the emulator (checking the API key) and a connector endpoint
    (checking the service token) for end-to-end tests; afterwards, no canary secret may
    appear in anything the CLI printed or in any file under the project.

    ``project.run`` runs the CLI to completion in process, except in tests marked
    ``cli_subprocess``, where every run is a process of its own (``python -m conn_reconcile``). A
    run that is signalled, killed or raced against another process for the state lock is started
    as a process with ``project.start``; the runs around it (setting up, checking) need none."""
    from e2e import API_KEY, TOKEN, Project

    from conn_reconcile.emulator import Emulator
    from conn_reconcile.emulator.endpoint import ConnectorEndpoint

    with ConnectorEndpoint(auth_type="bearer", token=TOKEN) as endpoint, Emulator(api_key=API_KEY) as emu:
        root = tmp_path / "repo"
        root.mkdir()
        in_process = request.node.get_closest_marker("cli_subprocess") is None
        p = Project(root, emu.url, endpoint.url, in_process=in_process)
        p.emulator = emu
        p.endpoint = endpoint
        p.env["CONN_RECONCILE_BACKOFF_BASE"] = "0.01"  # retries in fault tests without long waits
        yield p
        p.assert_no_canary()


# ---- the pre-commit hook's session -------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def precommit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of this test session, common to all pytest-xdist workers of it."""
    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # pytest-N/popen-gwK -> pytest-N: this session's, shared by its workers
    path = base / "pre-commit-shared"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def precommit_env(precommit_dir: Path) -> dict[str, str]:
    """An environment isolated from the developer's git config and API credentials, with one
    ``PRE_COMMIT_HOME`` for the whole session (pre-commit locks its store), so the hook's
    environment is built once."""
    gitconfig = precommit_dir / "gitconfig"
    # written whole, then renamed: another xdist worker's git may be reading it
    partial = precommit_dir / f"gitconfig.{os.getpid()}"
    partial.write_text("[init]\n\tdefaultBranch = main\n")
    partial.replace(gitconfig)
    out = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    # Prove the hook is offline: no API key, no API URL, no secret values.
    for name in ("CO_API_KEY", "CO_API_URL", "CONN_RECONCILE_FINGERPRINT_KEY", "DOCS_TOKEN", "DRIVE_SECRET"):
        out.pop(name, None)
    out.update(
        PRE_COMMIT_HOME=str(precommit_dir / "pre-commit-home"),
        GIT_CONFIG_GLOBAL=str(gitconfig),
        GIT_CONFIG_NOSYSTEM="1",
        NO_COLOR="1",
        # pip installs the hook's environment without byte-compiling every installed module
        # (much of the build's CPU); the hook's runs compile what they import.
        PIP_COMPILE="0",
    )
    if WHEELHOUSE.is_dir():  # offline, from local wheels: no index to ask, nothing downloaded
        out.update(PIP_NO_INDEX="1", PIP_FIND_LINKS=str(WHEELHOUSE))
    return out


def _snapshot(dest: Path, env: dict[str, str]) -> None:
    listed = git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard", env=env)
    assert ".pre-commit-hooks.yaml" in listed.split("\0"), "the hook manifest is missing from the checkout"
    for rel in filter(None, listed.split("\0")):
        src = ROOT / rel
        if src.is_file():  # a tracked file may have been deleted in the working tree
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    init_repo(dest, env)
    git(dest, "add", "-A", env=env)
    git(dest, "commit", "-q", "-m", "snapshot of the working tree", env=env)


@pytest.fixture(scope="session")
def hook_repo(precommit_dir: Path, precommit_env: dict[str, str]) -> Path:
    """A one-commit git repository holding this checkout's working tree (tracked files plus
    untracked, non-ignored ones), made once per session, under a file lock shared by the xdist
    workers. The checkout itself would only show the hook its committed and *tracked* modified
    files: a hook manifest or module not committed yet would be tested at its HEAD version."""
    if shutil.which("git") is None:
        pytest.fail("git is required to test the pre-commit hook")
    dest = precommit_dir / "hook-repo"
    done = precommit_dir / "hook-repo.done"
    with (precommit_dir / "hook-repo.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another xdist worker may be making it
        if not done.exists():
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir()
            _snapshot(dest, precommit_env)
            done.touch()
    return dest


@pytest.fixture(scope="session")
def hook_rev(hook_repo: Path, precommit_env: dict[str, str]) -> str:
    return git(hook_repo, "rev-parse", "HEAD", env=precommit_env).strip()


@pytest.fixture(scope="session")
def hook_build(
    tmp_path_factory: pytest.TempPathFactory, hook_repo: Path, hook_rev: str, precommit_env: dict[str, str]
) -> Iterator[HookBuild]:
    build = HookBuild(tmp_path_factory.mktemp("hook-build") / "scratch", hook_repo, hook_rev, precommit_env)
    try:
        yield build
    finally:
        build.stop()


@pytest.fixture(scope="session", autouse=True)
def _start_the_hook_build_early(request: pytest.FixtureRequest) -> None:
    """Building the hook's environment takes a while (mostly pip): start it before the first
    test, in the background, when any selected test will need it. Under pytest-xdist every
    worker sees every selected test, and all share one ``PRE_COMMIT_HOME``: only the first
    worker starts the build early; another worker that runs a hook test starts its own
    ``pre-commit install-hooks`` then, which waits for pre-commit's lock on that home and
    finds the environment built (pre-commit checks again under its lock)."""
    if os.environ.get("PYTEST_XDIST_WORKER", "gw0") != "gw0":
        return
    if any("hook_installed" in getattr(item, "fixturenames", ()) for item in request.session.items):
        request.getfixturevalue("hook_build")
