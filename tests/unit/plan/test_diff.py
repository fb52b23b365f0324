"""Field-level comparison of desired and remote connectors: defaults and server-owned fields, the
fields that force a replacement, secrets never in a view, and where a change comes from."""

from typing import Any

import pytest

from conn_reconcile.model.connector import ConnectorSpec, RemoteConnector
from conn_reconcile.plan.diff import FieldChange, diff_connector, normalize_desired, normalize_remote, with_origin


def spec(**kw):
    kw.setdefault("name", "docs")
    kw.setdefault("url", "https://docs.example.com/search")
    return ConnectorSpec.model_validate(kw)


def rem(**kw):
    kw.setdefault("id", "docs-abc123")
    kw.setdefault("name", "docs")
    kw.setdefault("url", "https://docs.example.com/search")
    return RemoteConnector.model_validate(kw)


def test_defaults_make_omitted_and_default_equal():
    assert diff_connector(spec(), rem(active=True, continue_on_failure=False, description="", excludes=[])) == []


def test_server_owned_fields_never_diff():
    r = rem(auth_status="expired", created_at="x", updated_at="y", organization_id="org")
    assert diff_connector(spec(), r) == []


def test_field_level_changes_sorted_with_old_and_new():
    changes = diff_connector(spec(url="https://new.example.com", active=False), rem(url="https://old.example.com"))
    assert [(c.path, c.old, c.new) for c in changes] == [
        ("active", True, False),
        ("url", "https://old.example.com", "https://new.example.com"),
    ]


def test_excludes_compared_as_a_set_and_reported_whole():
    assert diff_connector(spec(excludes=["b", "a"]), rem(excludes=["a", "b"])) == []
    (change,) = diff_connector(spec(excludes=["a", "c"]), rem(excludes=["a", "b"]))
    assert change == FieldChange("excludes", ("a", "b"), ("a", "c"))


def test_description_forces_replacement():
    (change,) = diff_connector(spec(description="new"), rem(description="old"))
    assert change.forces_replacement and change.path == "description"


def test_secrets_are_never_part_of_the_normalised_views():
    s = spec(service_auth={"type": "bearer", "token": "${TOKEN}"})
    view = normalize_desired(s)
    assert "service_auth.token" not in view and view["service_auth.type"] == "bearer"
    o = spec(oauth={"client_secret": "${S}", "authorize_url": "https://a", "token_url": "https://t"})
    assert "oauth.client_secret" not in normalize_desired(o)


def test_oauth_leaves_compare_individually_and_empty_means_unset():
    s = spec(oauth={"authorize_url": "https://a", "token_url": "https://t", "scope": "read"})
    r = rem(
        oauth={"authorize_url": "https://a", "token_url": "https://t2", "scope": "read", "client_id": ""},
        auth_type="oauth",
    )
    assert [c.path for c in diff_connector(s, r)] == ["oauth.token_url"]


def test_auth_type_switch_is_visible():
    s = spec(service_auth={"type": "bearer", "token": "${T}"})
    r = rem(oauth={"authorize_url": "https://a", "token_url": "https://t"}, auth_type="oauth")
    paths = [c.path for c in diff_connector(s, r)]
    assert "auth_type" in paths and "oauth.authorize_url" in paths


def test_with_origin_tells_git_from_remote_drift():
    last = normalize_desired(spec(url="https://a", active=True))
    remote_now = normalize_remote(rem(url="https://a", active=False))  # someone flipped it in the dashboard
    desired_now = spec(url="https://b", active=True)  # git changed the url
    changes = with_origin(diff_connector(desired_now, rem(url="https://a", active=False)), remote_now, last)
    origins = {c.path: c.origin for c in changes}
    assert origins == {"active": "remote", "url": "git"}


def test_equal_views_need_no_deepdiff_import() -> None:
    """A plan without changes (the usual one) does not pay for importing deepdiff."""
    import subprocess
    import sys

    probe = (
        "import sys; from conn_reconcile.plan.diff import diff_flat; "
        "assert diff_flat({'a': 1, 'b': ('x',)}, {'a': 1, 'b': ('x',)}) == []; "
        "print('deepdiff' in sys.modules); "
        "assert [c.path for c in diff_flat({'a': 1}, {'a': 2})] == ['a']; "
        "print('deepdiff' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]


def _generic_view(data: dict[str, Any]) -> dict[str, Any]:
    """The view by the generic rule the direct one must match: every leaf at its dotted path,
    null (and, inside oauth, empty) left out, lists as tuples; then the defaults, excludes sorted
    (diff's own step: what is compared here is which leaves, under which paths, in which order)."""
    from conn_reconcile.plan.diff import _defaulted

    flat: dict[str, Any] = {}

    def walk(prefix: str, mapping: dict[str, Any]) -> None:
        for key, value in mapping.items():
            path = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                walk(path, value)
            elif value is None or (value == "" and path.startswith("oauth.")):
                continue
            else:
                flat[path] = tuple(value) if isinstance(value, list) else value

    walk("", data)
    return _defaulted(flat)


VIEW_CASES = [
    {"name": "a", "url": "https://a.example.com/s"},
    {
        "name": "b",
        "url": "https://b.example.com/s",
        "description": "d",
        "excludes": ["z", "a"],
        "active": False,
        "continue_on_failure": True,
        "service_auth": {"type": "basic", "token": "${B_TOKEN}"},
    },
    {
        "name": "c",
        "url": "https://c.example.com/s",
        "excludes": [],
        "oauth": {
            "client_id": "",
            "client_secret": "${C_SECRET}",
            "authorize_url": "https://c.example.com/a",
            "token_url": "https://c.example.com/t",
        },
    },
    {"name": "d", "url": "https://d.example.com/s", "description": "", "active": True},
]


@pytest.mark.parametrize("fields", VIEW_CASES)
def test_the_desired_view_is_the_generic_view_of_the_specs_dump(fields: dict[str, Any]) -> None:
    """normalize_desired reads the spec's fields directly; its view (values and key order) is
    the generic one of the spec's dump, secrets left out."""
    from conn_reconcile.plan.diff import _auth_type

    s = spec(**fields)
    data = s.model_dump(exclude={"id", "oauth", "service_auth"})
    if s.oauth is not None:
        data["oauth"] = s.oauth.model_dump(exclude={"client_secret"})
    if s.service_auth is not None:
        data["service_auth"] = {"type": s.service_auth.type}
    data["auth_type"] = _auth_type(s.oauth, s.service_auth)
    assert list(normalize_desired(s).items()) == list(_generic_view(data).items())


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"description": "", "excludes": ["b", "a"], "active": None, "auth_type": "service_auth"},
        {"oauth": {"client_id": "", "authorize_url": "https://x/a", "token_url": None}, "updated_at": "t"},
        {"oauth": {}, "auth_type": "", "continue_on_failure": True, "auth_status": "valid"},
    ],
)
def test_the_remote_view_is_the_generic_view_of_its_fields(fields: dict[str, Any]) -> None:
    r = rem(**fields)
    data = r.model_dump(include={"name", "description", "url", "excludes", "active", "continue_on_failure"})
    if r.oauth is not None:
        data["oauth"] = r.oauth.model_dump()
    data["auth_type"] = r.auth_type or ("oauth" if r.oauth is not None else None)
    assert list(normalize_remote(r).items()) == list(_generic_view(data).items())


def test_a_field_change_is_an_immutable_value() -> None:
    made = FieldChange("excludes", None, ("a", "b"))
    assert made == FieldChange("excludes", new=("a", "b")) and hash(made) == hash(
        FieldChange("excludes", new=("a", "b"))
    )
    assert made.old is None and not made.sensitive and made.origin is None and made.ref is None
    assert made._replace(origin="git") == FieldChange("excludes", None, ("a", "b"), origin="git") != made
    with pytest.raises(AttributeError):
        made.new = 1  # type: ignore[misc]  # immutable


def test_added_fields_are_the_field_changes_a_create_shows() -> None:
    from conn_reconcile.plan.diff import added

    view = normalize_desired(spec(**VIEW_CASES[1]))
    made = added(view, sorted(view))
    assert made == [FieldChange(path, None, view[path]) for path in sorted(view)]
    assert all(type(c) is FieldChange and c.new == view[c.path] and not c.sensitive for c in made)
    assert made[0]._asdict() == FieldChange(made[0].path, None, made[0].new)._asdict()
