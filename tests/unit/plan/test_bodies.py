"""A create's request body: the spec dumped without its local-only fields, read only when asked
for (a text plan never asks), equal to that dict, and the same in a plan file."""

from __future__ import annotations

import json

from helpers import desired

from conn_reconcile.plan.bodies import CreateBody, create_body
from conn_reconcile.plan.model import Plan, ResourceChange, plain
from conn_reconcile.plan.planner import build_plan

SPEC = {
    "name": "docs",
    "description": "the handbook",
    "excludes": ["b", "a"],
    "service_auth": {"type": "bearer", "token": "${DOCS_TOKEN}"},
    "lifecycle": {"prevent_destroy": True},
}


def test_a_create_body_is_its_spec_dumped_without_local_fields() -> None:
    d = desired(**SPEC)
    body = CreateBody(d.spec)
    assert body._dumped is None  # nothing dumped yet
    expected = {
        "name": "docs",
        "description": "the handbook",
        "url": "https://docs.example.com/search",
        "excludes": ["b", "a"],
        "service_auth": {"type": "bearer", "token": "${DOCS_TOKEN}"},
    }
    assert body == expected and expected == body and dict(body) == expected == create_body(d.spec)
    assert "lifecycle" not in body and len(body) == 5 and body["name"] == "docs"
    assert plain(body) == expected and json.loads(json.dumps(plain(body))) == expected
    assert repr(body) == repr(expected)


def test_a_plan_of_creates_dumps_no_body_until_one_is_read() -> None:
    plan = build_plan([desired(**SPEC), desired(name="wiki")], [])
    assert [type(c.payload) for c in plan.changes] == [CreateBody, CreateBody]
    assert all(c.payload._dumped is None for c in plan.changes)  # type: ignore[union-attr]
    assert plan.summary()["create"] == 2 and plan.changes[0].secret_paths == ("service_auth.token",)


def test_a_create_body_is_the_same_in_a_plan_file() -> None:
    plan = build_plan([desired(**SPEC)], [])
    again = Plan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert again == plan and again.changes[0].payload == create_body(desired(**SPEC).spec)
    assert ResourceChange.from_dict(plan.changes[0].to_dict()) == plan.changes[0]
