"""``lifecycle:`` in the plan: ``prevent_destroy`` refuses deletes and replacements of a protected
connector (the file's flag, or the state's after the file is gone), ``ignore_changes`` keeps fields
as the org has them (payloads, applied views and saved-plan checks agreeing), and both are
recorded, compared and verified where a plan goes."""

from __future__ import annotations

import datetime as _dt

import pytest
from helpers import desired, remote

from conn_reconcile.apply.planfile import verify
from conn_reconcile.apply.recorder import StateRecorder
from conn_reconcile.errors import RefusedError
from conn_reconcile.model.connector import parse_spec
from conn_reconcile.model.secrets import fingerprint
from conn_reconcile.model.state import Intent, ManagedRecord, State
from conn_reconcile.plan.bodies import create_body
from conn_reconcile.plan.compare import compare
from conn_reconcile.plan.diff import normalize_remote
from conn_reconcile.plan.model import Action, Plan, PlanOptions, ResourceChange
from conn_reconcile.plan.planner import build_plan
from conn_reconcile.plan.schema import payload_disagreement, remote_disagreement

NOW = _dt.datetime(2026, 3, 1, 12, 0, tzinfo=_dt.UTC)
STAMP = "2026-03-01T11:59:00Z"
PRUNE = PlanOptions(prune=True)
OAUTH = {
    "client_id": "cid",
    "client_secret": "${SECRET}",
    "authorize_url": "https://a.example.com/auth",
    "token_url": "https://a.example.com/token",
    "scope": "read",
}


def _state(*records: ManagedRecord, intents: tuple[Intent, ...] = ()) -> State:
    return State(connectors={r.id: r for r in records}, intents={i.id: i for i in intents})


def _protected(rid: str = "docs-1", name: str = "docs", flag: bool = True) -> ManagedRecord:
    return ManagedRecord(id=rid, name=name, file=f"connectors/{name}.yaml", prevent_destroy=flag)


def _refused(*args, **kwargs) -> str:
    with pytest.raises(RefusedError) as caught:
        build_plan(*args, now=NOW, **kwargs)
    return str(caught.value)


def test_a_replace_is_refused_when_the_file_or_the_state_protects_the_connector():
    old = [remote("docs-1", "docs", description="old")]
    in_file = desired(name="docs", description="new", lifecycle={"prevent_destroy": True})
    message = _refused([in_file], old)
    assert "connectors/docs.yaml: docs (docs-1): the plan would replace it (description cannot be updated" in message
    assert "set prevent_destroy: false in it, apply that, then make this change" in message

    off = desired(name="docs", description="new", lifecycle={"prevent_destroy": False})
    message = _refused([off], old, state=_state(_protected()))
    assert "the state still records prevent_destroy: true from the last apply" in message
    plan = build_plan([off], old, state=_state(_protected(flag=False)), now=NOW)
    assert [c.action for c in plan.changes] == [Action.REPLACE]


def test_a_prune_of_a_connector_the_state_protects_is_refused_and_without_prune_it_is_listed_as_kept():
    org = [remote("docs-1", "docs"), remote("wiki-1", "wiki")]
    state = _state(_protected(), ManagedRecord(id="wiki-1", name="wiki", file="connectors/wiki.yaml"))
    message = _refused([desired(name="wiki")], org, state=state, options=PRUNE)
    assert "connectors/docs.yaml: docs (docs-1): the plan would delete it" in message
    assert "restore connectors/docs.yaml with prevent_destroy: false, apply that, then remove the file" in message
    plan = build_plan([desired(name="wiki")], org, state=state, now=NOW)
    (kept,) = plan.unmanaged
    assert kept.id == "docs-1" and "protected by lifecycle.prevent_destroy" in kept.reason
    protect = PlanOptions(prune=True, protect=("docs",))  # --protect leaves it alone: nothing to refuse
    assert not build_plan([desired(name="wiki")], org, state=state, options=protect, now=NOW).has_changes


def test_the_twins_of_a_protected_connector_are_not_cleaned_up():
    intent = Intent(id="abcdef0123456789", op="create", name="docs", file="connectors/docs.yaml", started_at=STAMP)
    org = [
        remote("docs-1", "docs"),
        remote("docs-2", "docs", created_at=STAMP),
        remote("docs-3", "docs", created_at=STAMP),
    ]
    state = _state(_protected(), intents=(intent,))
    message = _refused([desired(name="docs")], org, state=state, options=PRUNE)
    assert "docs (docs-3): the plan would delete this twin of a protected connector" in message
    unprotected = _state(_protected(flag=False), intents=(intent,))
    plan = build_plan([desired(name="docs")], org, state=unprotected, options=PRUNE, now=NOW)
    assert [(c.remote_id, c.cause) for c in plan.changes if c.action is Action.DELETE] == [
        ("docs-2", "twin"),
        ("docs-3", "twin"),
    ]


def test_the_delete_that_finishes_an_allowed_replacement_is_not_refused():
    intent = Intent(
        id="abcdef0123456789", op="replace", name="docs", remote_id="docs-old", new_id="docs-new", started_at=STAMP
    )
    state = _state(_protected("docs-old"), _protected("docs-new", flag=False), intents=(intent,))
    org = [remote("docs-old", "docs"), remote("docs-new", "docs")]
    plan = build_plan([desired(name="docs")], org, state=state, now=NOW)
    assert [(c.remote_id, c.cause) for c in plan.changes if c.action is Action.DELETE] == [("docs-old", "replace")]


def test_ignored_fields_make_no_change_are_noted_once_and_a_create_still_sends_them():
    lifecycle = {"ignore_changes": ["description", "excludes", "url"]}
    d = desired(name="docs", description="git", excludes=["a"], lifecycle=lifecycle)
    org = [remote("docs-1", "docs", description="org", excludes=["b"], url="https://elsewhere.example.com")]
    plan = build_plan([d], org, now=NOW)
    (change,) = plan.changes
    assert change.action is Action.NOOP and change.applied["description"] == "org"
    assert "docs: lifecycle.ignore_changes left description, excludes, url as they are in the org" in plan.notes
    (create,) = build_plan([d], [], now=NOW).changes
    assert create.payload["description"] == "git" and create.payload["excludes"] == ["a"]
    assert "lifecycle" not in create.payload and "lifecycle" not in create_body(d.spec)


def test_an_auth_object_sent_whole_carries_the_orgs_value_of_an_ignored_field():
    d = desired(name="docs", oauth={**OAUTH, "scope": "git"}, lifecycle={"ignore_changes": ["oauth.scope"]})
    r = remote("docs-1", "docs", oauth={k: v for k, v in OAUTH.items() if k != "client_secret"} | {"scope": "org"})
    state = _state(ManagedRecord(id="docs-1", name="docs", fingerprints={"oauth.client_secret": fingerprint("k", "a")}))
    fps = {d.file: {"oauth.client_secret": fingerprint("k", "b")}}  # rotated: the oauth object is sent whole
    (change,) = build_plan([d], [r], state=state, fingerprints=fps, now=NOW).changes
    assert change.action is Action.UPDATE and change.payload["oauth"]["scope"] == "org"
    assert [c.path for c in change.changes] == ["oauth.client_secret"]
    assert payload_disagreement(change) is None and remote_disagreement(change, normalize_remote(r)) is None


def test_a_replacement_keeps_the_orgs_values_of_ignored_fields():
    d = desired(name="docs", url="https://git.example.com", lifecycle={"ignore_changes": ["url"]})
    r = remote("docs-1", "docs", url="https://org.example.com", auth_type="service_auth")  # auth removed
    (change,) = build_plan([d], [r], now=NOW).changes
    assert change.action is Action.REPLACE and change.payload["url"] == "https://org.example.com"
    assert payload_disagreement(change) is None and remote_disagreement(change, normalize_remote(r)) is None


def test_the_flag_is_on_the_change_noted_when_the_state_differs_and_recorded_by_apply():
    d = desired(name="docs", lifecycle={"prevent_destroy": False})
    org = [remote("docs-1", "docs")]
    plan = build_plan([d], org, state=_state(_protected()), now=NOW)
    assert "docs: lifecycle.prevent_destroy is off in git; the state protects it until this is applied" in plan.notes
    on = build_plan([desired(name="docs", lifecycle={"prevent_destroy": True})], org, state=_state(), now=NOW)
    assert on.changes[0].prevent_destroy is True and on.changes[0].to_dict()["prevent_destroy"] is True
    assert ResourceChange.from_dict(on.changes[0].to_dict()).prevent_destroy is True

    state = _state(_protected())
    StateRecorder(state).adopt_unchanged(plan)
    assert state.connectors["docs-1"].prevent_destroy is False
    recorder = StateRecorder(state := _state())
    recorder.written(on.changes[0], org[0], {}, "i")
    assert state.connectors["docs-1"].prevent_destroy is True


def test_compare_skips_notes_on_ignored_fields_but_not_the_flag():
    base = ResourceChange(Action.NOOP, "docs", "connectors/docs.yaml", "docs-1")
    reviewed = Plan(changes=(base,))
    drifted = Plan(changes=(base,), notes=("docs: lifecycle.ignore_changes left active as they are in the org",))
    assert compare(reviewed, drifted) == []
    flipped = Plan(
        changes=(ResourceChange(Action.NOOP, "docs", "connectors/docs.yaml", "docs-1", prevent_destroy=True),)
    )
    assert [d.what for d in compare(reviewed, flipped)] == ["prevent_destroy"]


def test_a_plan_file_cannot_replace_or_prune_a_connector_the_state_protects():
    state = _state(_protected())
    payload = create_body(desired(name="docs").spec)
    replace = ResourceChange(Action.REPLACE, "docs", "connectors/docs.yaml", "docs-1", payload=payload)
    prune = ResourceChange(Action.DELETE, "docs", "connectors/docs.yaml", "docs-1", cause="prune")
    for change in (replace, prune):
        with pytest.raises(RefusedError, match=r"docs \(docs-1\): lifecycle.prevent_destroy protects it"):
            verify(Plan(changes=(change,)), state, PRUNE)
    verify(Plan(changes=(prune,)), _state(_protected(flag=False)), PRUNE)


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("service_auth.token", "service_auth.token cannot be ignored: a secret is write-only"),
        ("oauth.client_secret", "oauth.client_secret cannot be ignored: a secret is write-only"),
        ("name", "name cannot be ignored: it is how the connector is matched"),
        ("lifecycle", "lifecycle cannot be ignored: it is local-only"),
        ("oauth", "oauth cannot be ignored: it holds a secret"),
        ("urll", "'urll' is not a field that can be ignored (did you mean 'url'?)"),
    ],
)
def test_what_cannot_be_ignored_is_a_validation_error_at_the_item(field, message):
    spec, errors = parse_spec({"name": "d", "url": "https://d.example.com", "lifecycle": {"ignore_changes": [field]}})
    assert spec is None and errors[0][0] == "lifecycle.ignore_changes.0" and errors[0][1].startswith(message)
