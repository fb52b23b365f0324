"""``validate --against DIR FILE...`` and ``--exclude GLOB`` (what the pre-commit hook runs):
the given files are checked in full, the rest of the directory only for cross-file clashes,
which are reported on the given file, never on the untouched one."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from conn_reconcile.cli.main import cli
from conn_reconcile.errors import InputError
from conn_reconcile.files.loader import load

GOOD = "name: {n}\nurl: https://example.com/{n}\n"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "connectors").mkdir()
    return tmp_path


def _write(rel: str, text: str) -> None:
    path = Path(rel)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _validate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["validate", *args])
    return result.exit_code, result.output


def test_a_clash_is_reported_on_the_given_file_even_when_it_sorts_first(repo: Path) -> None:
    _write("connectors/zz-existing.yaml", GOOD.format(n="search"))
    _write("connectors/aa-new.yaml", "# new\n" + GOOD.format(n="Search"))

    code, out = _validate("--against", "connectors", "connectors/aa-new.yaml")

    assert code == 1, out
    assert "connectors/aa-new.yaml:2:1: name: duplicate connector name 'Search'" in out, out
    assert "also defined in connectors/zz-existing.yaml" in out
    assert "connectors/zz-existing.yaml:" not in out


def test_other_files_are_loaded_only_for_the_cross_file_checks(repo: Path) -> None:
    _write("connectors/broken.yaml", "name: broken\nurll: x\n")  # not given: its problems are not ours
    _write("connectors/ok.yaml", GOOD.format(n="ok"))

    code, out = _validate("--against", "connectors", "connectors/ok.yaml")
    assert code == 0, out

    code, out = _validate("connectors")  # the whole directory: the broken file is reported
    assert code == 1 and "connectors/broken.yaml:2:1: urll: unknown field" in out, out


def test_a_given_file_is_not_compared_with_itself(repo: Path) -> None:
    _write("connectors/a.yaml", GOOD.format(n="a") + "id: a-123\n")
    _write("connectors/b.yaml", GOOD.format(n="b"))

    assert [d.file for d in load(["connectors/a.yaml"], against=["connectors"])] == ["connectors/a.yaml"]


def test_a_duplicate_pinned_id_is_reported_on_the_given_file(repo: Path) -> None:
    _write("connectors/a.yaml", GOOD.format(n="a") + "id: a-123\n")
    _write("connectors/b.yaml", GOOD.format(n="b") + "id: a-123\n")

    with pytest.raises(InputError) as caught:
        load(["connectors/a.yaml"], against=["connectors"])
    (problem,) = caught.value.diagnostics
    assert (problem.file, problem.field) == ("connectors/a.yaml", "id"), problem
    assert "also pinned in connectors/b.yaml" in problem.message


def test_exclude_skips_given_and_directory_files(repo: Path) -> None:
    _write("connectors/drafts/wip.yaml", "name: wip\nurll: x\n")
    _write("connectors/drafts/dup.yaml", GOOD.format(n="ok"))
    _write("connectors/ok.yaml", GOOD.format(n="ok"))

    code, out = _validate("--exclude", "connectors/drafts/*", "connectors")
    assert code == 0, out
    code, out = _validate(
        "--exclude", "drafts/*", "--against", "connectors", "connectors/ok.yaml", "connectors/drafts/wip.yaml"
    )
    assert code == 0, out  # the excluded draft neither fails nor clashes
    code, out = _validate("--against", "connectors", "connectors/ok.yaml")  # without the exclude: a clash
    assert code == 1 and "connectors/ok.yaml:1:1: name: duplicate" in out and "drafts/dup.yaml:" not in out, out
    code, out = _validate("connectors")
    assert code == 1 and "wip.yaml" in out and "duplicate connector name 'ok'" in out, out
