"""``import --update``: the org's current values written into the EXISTING files (drift accepted
into git), comments, key order, quoting and ${VAR} references kept; a no-op writes nothing."""

from __future__ import annotations

import re

import pytest
from e2e import remote_by_name

from conn_reconcile.workflows.reimport import rewrite

pytestmark = pytest.mark.e2e

FILE = """\
# The engineering handbook search. Owned by #docs-team.
url: {url}    # moved in Q3
name: "docs"
excludes: [raw_html, author_email]
service_auth:
  type: bearer          # the endpoint checks it
  token: ${{CONN_TOKEN}}
"""
AUTH = "service_auth:\n  type: bearer\n  token: ${CONN_TOKEN}\n"


def _squeezed(text: str) -> str:
    return re.sub(r" +#", " #", text)


def test_remote_changes_are_written_in_place_keeping_comments_order_and_refs(project):
    old_url = f"{project.endpoint_url}/docs/search"
    path = project.write("docs.yaml", FILE.format(url=old_url))
    project.write("other.yaml", "# untouched\n" + f"name: other\nurl: {project.endpoint_url}/other/search\n" + AUTH)
    assert project.run("apply", "--auto-approve").code == 0
    remote = remote_by_name(project)
    new_url = f"{project.endpoint_url}/docs/v2/search"
    project.remote_patch(remote["docs"]["id"], {"url": new_url, "excludes": ["raw_html"], "active": False})
    other_before = (project.connectors / "other.yaml").read_bytes()

    run = project.run("import", "--update", "--dir", "connectors")

    assert run.code == 0, run.both
    assert "updated connectors/docs.yaml: url, excludes, active" in run.out, run.out
    assert "Updated 1 file(s); 1 already match the org." in run.out
    expected = FILE.format(url=new_url).replace("[raw_html, author_email]", "[raw_html]")
    expected = expected.replace("excludes: [raw_html]\n", "excludes: [raw_html]\nactive: false\n")
    # ruamel keeps an end-of-line comment at its column: only the padding before it may change
    assert _squeezed(path.read_text(encoding="utf-8")) == _squeezed(expected)
    assert (project.connectors / "other.yaml").read_bytes() == other_before
    plan = project.run("plan", "--detailed-exitcode")
    assert plan.code == 0, plan.both  # git now says what the org says

    again = project.run("import", "--update", "--dir", "connectors")
    assert again.code == 0 and "Updated 0 file(s); 2 already match the org." in again.out, again.both
    assert _squeezed(path.read_text(encoding="utf-8")) == _squeezed(expected)


def test_a_noop_leaves_the_files_byte_identical_and_secrets_alone(project):
    text = FILE.format(url=f"{project.endpoint_url}/docs/search")
    path = project.write("docs.yaml", text)
    assert project.run("apply", "--auto-approve").code == 0
    (project.root / ".conn-reconcile" / "state.json").unlink()  # matched by name alone
    stat = path.stat()

    run = project.run("import", "--update", "--dir", "connectors")

    assert run.code == 0, run.both
    assert "Updated 0 file(s); 1 already match the org." in run.out
    assert path.read_bytes() == text.encode() and path.stat().st_mtime_ns == stat.st_mtime_ns


def test_a_renamed_connector_is_found_by_its_pinned_id(project):
    project.write("docs.yaml", f"name: docs\nurl: {project.endpoint_url}/docs/search\n{AUTH}")
    assert project.run("apply", "--auto-approve").code == 0
    rid = remote_by_name(project)["docs"]["id"]
    (project.root / ".conn-reconcile" / "state.json").unlink()
    path = project.write("docs.yaml", f"id: {rid}\nname: docs\nurl: {project.endpoint_url}/docs/search\n{AUTH}")
    project.remote_patch(rid, {"name": "handbook"})
    project.write("unknown.yaml", f"name: gone\nurl: {project.endpoint_url}/gone\n")

    run = project.run("import", "--update", "--dir", "connectors")

    assert run.code == 0, run.both
    assert (
        path.read_text(encoding="utf-8")
        == f"id: {rid}\nname: handbook\nurl: {project.endpoint_url}/docs/search\n{AUTH}"
    )
    assert "no connector in the org for connectors/unknown.yaml (left unchanged)" in run.out


def test_rewrite_adds_a_missing_key_in_place_and_removes_a_default() -> None:
    text = (
        "name: a  # keep\nurl: https://a.example.com\ndescription: old\n"
        "oauth:\n  client_id: x  # id\n  client_secret: ${S}\n"
    )
    out = rewrite(
        text, {"description": None, "continue_on_failure": True, "oauth.scope": "read", "oauth.client_id": "y"}
    )
    assert out == (
        "name: a  # keep\nurl: https://a.example.com\ncontinue_on_failure: true\noauth:\n"
        "  client_id: y  # id\n  client_secret: ${S}\n  scope: read\n"
    )


def test_hostile_remote_values_are_quoted_not_injected() -> None:
    out = rewrite("name: a\nurl: https://a.example.com\n", {"name": "x\nservice_auth: {token: leak}\n# c"})
    from ruamel.yaml import YAML

    assert YAML(typ="safe").load(out) == {"name": "x\nservice_auth: {token: leak}\n# c", "url": "https://a.example.com"}


ENV_CONFIG = """\
dir: connectors
environments:
  staging:
    api_url: {api_url}
    state: .conn-reconcile/staging.json
    vars: {{docs_host: "{host}"}}
    overrides:
      wiki: {{description: Staging wiki, excludes: [draft]}}
  prod:
    api_url: https://prod.invalid
    state: .conn-reconcile/prod.json
    vars: {{docs_host: docs.example.com}}
"""
DOCS = """\
# The handbook, per environment.
name: docs
description: Handbook
url: {scheme}://${{vars.docs_host}}/docs/search   # the host differs per environment
excludes: [raw_html]
service_auth:
  type: bearer
  token: ${{CONN_TOKEN}}
"""


@pytest.mark.parametrize("select", ["flag", "variable"])
def test_update_in_an_environment_keeps_vars_references_and_notes_what_they_hide(project, select):
    scheme, host = project.endpoint_url.split("://", 1)
    (project.root / "conn-reconcile.yaml").write_text(ENV_CONFIG.format(api_url=project.api_url, host=host))
    docs = project.write("docs.yaml", DOCS.format(scheme=scheme))
    wiki = project.write("wiki.yaml", f"name: wiki\ndescription: Wiki\nurl: {project.endpoint_url}/wiki/search\n{AUTH}")
    assert project.run("validate").code == 0
    applied = project.run("--env", "staging", "apply", "--auto-approve")
    assert applied.code == 0, applied.both
    remote = remote_by_name(project)
    assert remote["docs"]["url"] == f"{project.endpoint_url}/docs/search"
    assert remote["wiki"]["description"] == "Staging wiki"
    moved = f"{project.endpoint_url}/docs/v2/search"
    project.remote_patch(remote["docs"]["id"], {"url": moved, "excludes": ["raw_html", "author_email"]})
    project.remote_patch(remote["wiki"]["id"], {"active": False, "excludes": ["draft", "old"]})
    wiki_before = wiki.read_text(encoding="utf-8")

    args, env = (["import", "--update", "--env", "staging"], None)
    if select == "variable":
        args, env = (["import", "--update"], {"CONN_RECONCILE_ENV": "staging"})
    run = project.run(*args, env=env)

    assert run.code == 0, run.both
    assert "updated connectors/docs.yaml: excludes" in run.out, run.out
    assert "updated connectors/wiki.yaml: active" in run.out, run.out
    expected = DOCS.format(scheme=scheme).replace("[raw_html]", "[raw_html, author_email]")
    assert _squeezed(docs.read_text(encoding="utf-8")) == _squeezed(expected)  # the ${vars...} url kept
    assert wiki.read_text(encoding="utf-8") == wiki_before.replace("/search\n", "/search\nactive: false\n", 1)
    assert (
        f"note: connectors/docs.yaml: url is written with ${{vars.docs_host}} (in staging: "
        f"'{project.endpoint_url}/docs/search'); the org has '{moved}': left as written" in run.out
    ), run.out
    assert (
        "note: connectors/wiki.yaml: excludes is set by the overrides of environment staging (['draft']); "
        "the org has ['draft', 'old']: left as written" in run.out
    ), run.out
    assert "Updated 2 file(s); 0 already match the org; 2 field(s) left as written (see the notes)." in run.out
    assert project.run("validate").code == 0  # still valid in both environments

    # the org's values put back where the file points: nothing left to note
    project.remote_patch(remote["docs"]["id"], {"url": f"{project.endpoint_url}/docs/search"})
    project.remote_patch(remote["wiki"]["id"], {"excludes": ["draft"]})
    again = project.run(*args, env=env)
    assert again.code == 0 and "Updated 0 file(s); 2 already match the org." in again.out, again.both
    assert "note:" not in again.out
