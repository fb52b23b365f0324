"""A change's field lines: values as JSON, escaped; a create's secrets by reference; an unusual
create (from a plan file: a field with an old value or a replacement note) written in full."""

from __future__ import annotations

import json

from conn_reconcile.output.fieldlines import field_lines
from conn_reconcile.plan.diff import FieldChange
from conn_reconcile.plan.model import Action, ResourceChange


def _create(*changes: FieldChange) -> ResourceChange:
    return ResourceChange(Action.CREATE, "a", "a.yaml", changes=changes)


def test_a_create_lists_each_field_as_json_and_its_secret_by_reference() -> None:
    excludes = ("x", 'q"uote', "\u202eevil", "caf\u00e9")
    lines = field_lines(
        _create(
            FieldChange("active", None, True),
            FieldChange("excludes", None, excludes),
            FieldChange("name", None, "a\nb"),
            FieldChange("service_auth.token", sensitive=True, ref="TOK"),
            FieldChange("oauth.client_secret", sensitive=True),
        )
    )
    assert lines == [
        "      + active              = true",
        '      + excludes            = ["x", "q\\"uote", "\\u202eevil", "café"]',
        '      + name                = "a\\nb"',
        "      + service_auth.token  = (sensitive, from ${TOK})",
        "      + oauth.client_secret = (sensitive)",
    ]
    assert json.loads(lines[1].split("= ", 1)[1].replace("\\u202e", "\u202e")) == list(excludes)


def test_an_unusual_create_is_written_in_full() -> None:
    lines = field_lines(
        _create(FieldChange("description", None, "d", forces_replacement=True), FieldChange("url", "u", "v"))
    )
    assert lines == [
        '      + description = "d"   # forces replacement',
        '      ~ url         = "u" -> "v"',
    ]


def test_a_list_that_is_not_all_text_and_an_unknown_path_are_written_as_json_escaped() -> None:
    lines = field_lines(
        _create(FieldChange("excludes", None, ("a", 1, None, True)), FieldChange("x\x1b[2J", None, "v"))
    )
    assert lines == [
        '      + excludes = ["a", 1, null, true]',
        '      + x\\x1b[2J = "v"',
    ]
