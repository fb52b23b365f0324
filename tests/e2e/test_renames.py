"""Renaming a connector together with its file, as a user does it (``git mv`` and a new ``name:``),
end to end against the emulator with real git: a rename in place (the same id, so users' OAuth
grants are kept), found by git's rename detection or by an explicit ``renamed_from:`` line; where the
tool cannot tell, a refusal naming the line to add; never a silent create plus an orphan."""

from __future__ import annotations

import json

import pytest
from e2e import count, remote_by_name
from gitfixtures import BRANCH, STATE, git, git_env, make_clone, origin_repo  # noqa: F401

pytestmark = pytest.mark.e2e


def _repo(project, env: dict) -> None:
    """The project directory as a git repository with its connector files committed."""
    project.env.update(env)
    git(project.root, "init", "-q")
    (project.root / ".gitignore").write_text(".conn-reconcile/\n")
    git(project.root, "add", "-A")
    git(project.root, "commit", "-q", "-m", "connectors")


def _renamed(project, *, keep: dict | None = None) -> None:
    """``git mv connectors/handbook.yaml connectors/eng-handbook.yaml`` and the new name in it
    (the rest of the file as it was)."""
    git(project.root, "mv", "connectors/handbook.yaml", "connectors/eng-handbook.yaml")
    url = project.service("handbook")["url"]
    project.write("eng-handbook.yaml", project.service("eng-handbook", url=url, **(keep or {})))


def _one_connector(project) -> dict:
    (only,) = project.emulator.connectors
    return only


def test_git_mv_with_a_new_name_is_a_rename_in_place(project, git_env):  # noqa: F811
    project.write("handbook.yaml", project.service("handbook", description="The handbook"))
    _repo(project, git_env)
    assert project.run("apply", "--auto-approve").code == 0
    before = _one_connector(project)

    _renamed(project, keep={"description": "The handbook"})
    plan = project.run("plan", "--prune")
    assert plan.code == 0, plan.both
    assert f"~ update eng-handbook ({before['id']})  connectors/eng-handbook.yaml" in plan.out
    assert '~ name = "handbook" -> "eng-handbook"' in plan.out
    assert "create" not in plan.out.replace("0 to create", "")
    assert "removed from git" not in plan.out
    assert "Plan: 0 to create, 1 to update, 0 to replace, 0 to delete, 0 unchanged." in plan.out

    applied = project.run("apply", "--prune", "--auto-approve")
    assert applied.code == 0, applied.both
    after = _one_connector(project)
    assert (after["id"], after["name"]) == (before["id"], "eng-handbook")
    assert count(project, "POST") == 1 and count(project, "DELETE", f"/v1/connectors/{before['id']}") == 0
    (record,) = project.state()["connectors"].values()
    assert (record["name"], record["file"]) == ("eng-handbook", "connectors/eng-handbook.yaml")
    git(project.root, "commit", "-q", "-am", "renamed")
    again = project.run("plan", "--prune", "--detailed-exitcode")
    assert again.code == 0 and "No changes." in again.out, again.both


def test_a_committed_rename_is_found_from_the_commit_last_applied(project, origin_repo, git_env):  # noqa: F811
    """The example repository's setup: the state on a branch, which records the commit applied."""
    project.root.rmdir()
    make_clone(origin_repo, project.root)
    project.env.update(git_env)
    project.write("handbook.yaml", project.service("handbook"))
    git(project.root, "add", "-A")
    git(project.root, "commit", "-q", "-m", "handbook")
    assert project.run("--state", STATE, "apply", "--auto-approve").code == 0
    before = _one_connector(project)

    _renamed(project)
    git(project.root, "commit", "-q", "-am", "handbook is eng-handbook")  # committed: no longer in the index
    plan = project.run("--state", STATE, "plan", "--prune")
    assert plan.code == 0, plan.both
    assert f"~ update eng-handbook ({before['id']})" in plan.out and "0 to create" in plan.out
    applied = project.run("--state", STATE, "apply", "--prune", "--auto-approve")
    assert applied.code == 0, applied.both
    assert (_one_connector(project)["id"], _one_connector(project)["name"]) == (before["id"], "eng-handbook")
    shown = json.loads(project.run("--state", STATE, "snapshot", "--show", "--format", "json").out)
    assert shown["applied_commit"] == git(project.root, "rev-parse", "HEAD").strip()
    assert BRANCH in git(project.root, "ls-remote", "origin")


def test_a_rename_the_tool_cannot_see_is_refused_with_the_line_to_add(project):
    """No git history to go by (here no git at all): the plan names the file and the exact line."""
    project.write("handbook.yaml", project.service("handbook"))
    assert project.run("apply", "--auto-approve").code == 0
    before = _one_connector(project)

    (project.connectors / "handbook.yaml").rename(project.connectors / "eng-handbook.yaml")
    project.write("eng-handbook.yaml", project.service("eng-handbook"))
    for command in (("plan",), ("plan", "--prune"), ("apply", "--prune", "--auto-approve")):
        refused = project.run(*command)
        assert refused.code == 1, refused.both
        assert "connectors/eng-handbook.yaml" in refused.err
        assert "renamed_from: handbook" in refused.err
        assert "+ create" not in refused.out
    assert count(project, "POST") == 1 and count(project, "PATCH", f"/v1/connectors/{before['id']}") == 0

    project.write("eng-handbook.yaml", {**project.service("eng-handbook"), "renamed_from": "handbook"})
    assert project.run("validate").code == 0
    plan = project.run("plan", "--prune")
    assert plan.code == 0, plan.both
    assert f"~ update eng-handbook ({before['id']})" in plan.out
    assert '~ name = "handbook" -> "eng-handbook"' in plan.out and "0 to create" in plan.out
    applied = project.run("apply", "--prune", "--auto-approve")
    assert applied.code == 0, applied.both
    assert (_one_connector(project)["id"], _one_connector(project)["name"]) == (before["id"], "eng-handbook")
    assert "renamed_from" not in _one_connector(project)  # a local key: never sent to the API

    # the line left in place is harmless (a note says it can go); without it, nothing changes either
    leftover = project.run("plan", "--prune", "--detailed-exitcode")
    assert leftover.code == 0 and "No changes." in leftover.out, leftover.both
    assert "renamed_from: handbook" in leftover.out and "can be removed" in leftover.out
    project.write("eng-handbook.yaml", project.service("eng-handbook"))
    clean = project.run("plan", "--prune", "--detailed-exitcode")
    assert clean.code == 0 and "renamed_from" not in clean.out, clean.both


def test_renamed_from_an_unmanaged_name_is_an_error_with_did_you_mean(project):
    project.write("handbook.yaml", project.service("handbook"))
    assert project.run("apply", "--auto-approve").code == 0
    (project.connectors / "handbook.yaml").unlink()
    project.write("eng-handbook.yaml", {**project.service("eng-handbook"), "renamed_from": "handbok"})
    refused = project.run("plan")
    assert refused.code == 1, refused.both
    assert "connectors/eng-handbook.yaml:" in refused.err and "renamed_from:" in refused.err
    assert "'handbok' is not a connector managed by conn-reconcile" in refused.err
    assert "did you mean 'handbook'?" in refused.err
    assert [c["name"] for c in project.emulator.connectors] == ["handbook"]


def test_a_new_connector_next_to_a_removed_one_can_be_planned_on_its_own(project):
    """Not a rename: the refusal's other way out, a targeted plan of the new connector."""
    project.write("handbook.yaml", project.service("handbook"))
    assert project.run("apply", "--auto-approve").code == 0
    (project.connectors / "handbook.yaml").unlink()
    project.write("tickets.yaml", project.service("tickets"))
    refused = project.run("plan")
    assert refused.code == 1 and "--target tickets" in refused.err, refused.both
    created = project.run("apply", "--target", "tickets", "--auto-approve")
    assert created.code == 0, created.both
    assert set(remote_by_name(project)) == {"handbook", "tickets"}
    pruned = project.run("apply", "--prune", "--auto-approve")
    assert pruned.code == 0, pruned.both
    assert set(remote_by_name(project)) == {"tickets"}
