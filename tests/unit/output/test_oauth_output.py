"""The OAuth connectors' lines: ``auth_status`` mapped as the spec says (``valid``, ``expired``,
omitted: not authorized; anything else shown as remote data, escaped), in text and markdown, and
the OAuth connectors an apply created, each with its command."""

from __future__ import annotations

from helpers import desired, remote

from conn_reconcile.apply.results import ApplyReport, Outcome, Status
from conn_reconcile.model.secrets import Redactor
from conn_reconcile.output import oauth
from conn_reconcile.plan.model import Action
from conn_reconcile.plan.planner import build_plan

OAUTH = {"authorize_url": "https://idp.example.com/a", "token_url": "https://idp.example.com/t"}


def command(*words: str) -> str:
    return "conn-reconcile --env prod " + " ".join(words)


def _plan():
    names = ("ok", "old", "never", "odd", "new")
    files = [desired(name=n, oauth=OAUTH) for n in names] + [desired(name="docs")]
    listed = [
        remote("ok-1", "ok", oauth=OAUTH, auth_type="oauth", auth_status="valid"),
        remote("old-1", "old", oauth=OAUTH, auth_type="oauth", auth_status="expired"),
        remote("never-1", "never", oauth=OAUTH, auth_type="oauth"),
        remote("odd-1", "odd", oauth=OAUTH, auth_type="oauth", auth_status="revoked\x1b[31m"),
        remote("docs-1", "docs"),
    ]
    return build_plan(files, listed)


def test_each_status_in_the_specs_words_with_what_to_run() -> None:
    head, *lines = oauth.text_lines(_plan(), command)
    assert head == "OAuth connectors, authorization of the API key's user:"
    assert sorted(lines) == [
        "  never (never-1): not authorized - run: conn-reconcile --env prod authorize never",
        "  new: created by this plan, not authorized yet - after apply, run: conn-reconcile --env prod authorize new",
        "  odd (odd-1): unknown status 'revoked\\x1b[31m' - run: conn-reconcile --env prod authorize odd",
        "  ok (ok-1): valid",
        "  old (old-1): expired - run: conn-reconcile --env prod authorize old",
    ]
    md = oauth.markdown(_plan(), command, Redactor())
    assert "| odd | unknown status `revoked\\x1b[31m` - run `conn-reconcile --env prod authorize odd` |" in md
    assert "| ok | valid |" in md and "docs" not in md


def test_no_oauth_connector_prints_nothing_and_a_saved_plans_statuses_are_not_guessed() -> None:
    plan = build_plan([desired(name="docs")], [remote("docs-1", "docs")])
    assert oauth.text_lines(plan, command) == [] and oauth.markdown(plan, command, Redactor()) == ""
    from conn_reconcile.plan.model import Plan

    saved = Plan.from_dict(_plan().to_dict())  # read from a file: no listing, no status
    assert [s.name for s in oauth.statuses(saved)] == ["new"]


def test_the_oauth_connectors_an_apply_created_each_with_its_command() -> None:
    plan = _plan()
    report = ApplyReport(
        [
            Outcome("new", Action.CREATE, Status.CREATED, "new-1"),
            Outcome("docs", Action.UPDATE, Status.UPDATED, "docs-1"),
        ]
    )
    found = oauth.created(plan, report)
    assert found == [("new", "new-1")]
    assert (
        oauth.created_text(found, command).splitlines()[1]
        == "  new (new-1) - run: conn-reconcile --env prod authorize new"
    )
    replaced = build_plan([desired(name="r", oauth=OAUTH, description="new")], [remote("r-1", "r", oauth=OAUTH)])
    assert replaced.changes[0].action is Action.REPLACE  # a new connector: its users authorize it again
    done = ApplyReport([Outcome("r", Action.REPLACE, Status.REPLACED, "r-2")])
    assert oauth.created(replaced, done) == [("r", "r-2")]
    failed = ApplyReport([Outcome("new", Action.CREATE, Status.FAILED)])
    assert oauth.created(plan, failed) == [] and oauth.created_text([], command) == ""
    many = [(f"c{i}", f"c{i}-1") for i in range(oauth.MARKDOWN_ROWS + 5)]
    md = oauth.created_markdown(many, command, Redactor())
    assert md.count("| `conn-reconcile") == oauth.MARKDOWN_ROWS and "5 more not shown" in md
