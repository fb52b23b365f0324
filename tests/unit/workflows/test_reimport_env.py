"""``import --update`` in an environment: which fields the environment sets (``${vars.NAME}`` in
the file, its overrides, the override key of a renamed connector) and so are noted, not written."""

from __future__ import annotations

from pathlib import Path

from conn_reconcile.config.model import ConnectorOverride
from conn_reconcile.config.sources import EnvContext
from conn_reconcile.files.loader import load_bytes
from conn_reconcile.model.connector import RemoteConnector
from conn_reconcile.workflows.reimport import plan_updates, render_update_report

TEXT = "name: docs\nurl: https://${vars.host}/search\nexcludes: [a]\ndescription: Docs\n"
CTX = EnvContext(
    "staging",
    {"host": "docs.staging.example.com"},
    {"docs": ConnectorOverride(description="Staging docs")},
    ("prod", "staging"),
)


def test_fields_the_environment_sets_are_noted_and_the_others_written(tmp_path: Path) -> None:
    path = tmp_path / "docs.yaml"
    path.write_text(TEXT, encoding="utf-8")
    desired, problems = load_bytes(TEXT.encode(), str(path), CTX)
    assert desired is not None and not problems
    assert desired.spec.url == "https://docs.staging.example.com/search"
    remote = RemoteConnector.model_validate(
        {
            "id": "docs-1",
            "name": "handbook",
            "description": "Changed",
            "url": "https://moved.example.com/search",
            "excludes": ["a", "b"],
        }
    )

    report = plan_updates([desired], {str(path): remote}, CTX)

    assert [(u.file, u.fields) for u in report.updated] == [(str(path), ("excludes",))]
    assert {(h.field, h.source) for h in report.held} == {
        ("name", "the key of its overrides in environment staging"),
        ("description", "set by the overrides of environment staging"),
        ("url", "written with ${vars.host}"),
    }
    text = render_update_report(report)
    assert (
        f"note: {path}: url is written with ${{vars.host}} (in staging: 'https://docs.staging.example.com/search'); "
        "the org has 'https://moved.example.com/search': left as written"
    ) in text
    assert f"note: {path}: name is the key of its overrides in environment staging ('docs')" in text
    assert text.endswith("Updated 1 file(s); 0 already match the org; 3 field(s) left as written (see the notes).\n")


def test_without_an_environment_nothing_is_held(tmp_path: Path) -> None:
    path = tmp_path / "docs.yaml"
    plain = "name: docs\nurl: https://docs.example.com/search\n"
    path.write_text(plain, encoding="utf-8")
    desired, _ = load_bytes(plain.encode(), str(path))
    assert desired is not None
    remote = RemoteConnector.model_validate({"id": "docs-1", "name": "docs", "url": "https://x.example.com/s"})
    report = plan_updates([desired], {str(path): remote})
    assert [u.fields for u in report.updated] == [("url",)] and report.held == []
