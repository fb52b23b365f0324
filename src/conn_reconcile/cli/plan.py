"""The click commands ``plan`` and ``show``, the options ``plan`` and ``apply`` share (prune
safeguards, ``--target``/``--file``, ``--format``) and the rendering of a plan: call one workflow
function, render, exit code. Heavy modules (httpx, deepdiff, the planner) are imported inside."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from conn_reconcile.cli.options import ANY_PATH, FILE_NAME, FILE_PATH, Invocation, SettingOption, command
from conn_reconcile.config import defaults as defaults

if TYPE_CHECKING:
    from conn_reconcile.output.console import Console
    from conn_reconcile.plan.model import Plan
    from conn_reconcile.plan.preflight import ProbeResult

F = TypeVar("F", bound=Callable[..., Any])
FORMATS = ("text", "json", "markdown", "github")


def format_option(choices: Sequence[str] = FORMATS, help: str = "Output format.") -> Callable[[F], F]:
    return click.option("--format", "fmt", type=click.Choice(choices), default="text", show_default=True, help=help)


AS_JSON = click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
_PLAN_OPTIONS = (
    click.option(
        "--dir",
        "directory",
        cls=SettingOption,
        setting="dir",
        type=ANY_PATH,
        default=defaults.DIR,
        show_default=True,
        metavar="DIR",
        help="Directory of connector files (or the config's dir).",
    ),
    click.option(
        "--prune/--no-prune",
        "prune",
        cls=SettingOption,
        setting="prune",
        default=False,
        help="Delete managed remote connectors that are no longer in git (or the config's prune).",
    ),
    click.option(
        "--manage-prefix",
        "manage_prefix",
        cls=SettingOption,
        setting="manage_prefix",
        metavar="PREFIX",
        help="With --prune: also treat connectors whose name starts with this as managed.",
    ),
    click.option(
        "--protect",
        "protect",
        cls=SettingOption,
        setting="protect",
        multiple=True,
        metavar="PATTERN",
        help="Never delete connectors whose name or id matches (glob, repeatable; added to the config's).",
    ),
    click.option(
        "--max-deletes",
        "max_deletes",
        cls=SettingOption,
        setting="max_deletes",
        type=click.IntRange(min=0),
        default=defaults.MAX_DELETES,
        show_default=True,
        metavar="N",
        help="Refuse to prune more than this.",
    ),
    click.option("--force", is_flag=True, help="Override the prune safeguards."),
    click.option("--rotate-secrets", is_flag=True, help="Send every referenced secret, whatever the state says."),
    click.option(
        "--target",
        "targets",
        multiple=True,
        metavar="NAME|GLOB",
        help="Plan only connectors with this name (glob, repeatable); prune only those names.",
    ),
    click.option(
        "--file",
        "files",
        multiple=True,
        type=FILE_NAME,
        metavar="PATH",
        help="Plan only the connector in this file (repeatable).",
    ),
)


def plan_options(f: F) -> F:
    """The options ``plan`` and ``apply`` share, in this order in their help: the settings
    (``--dir``, prune safeguards: read into the command's settings), then ``--force``,
    ``--rotate-secrets``, ``--target`` and ``--file``, handed to the command."""
    for option in reversed(_PLAN_OPTIONS):
        f = option(f)
    return f


def _render_plan(
    console: Console,
    plan: Plan,
    fmt: str,
    probes: Sequence[ProbeResult] | None = None,
    command: Callable[..., str] | None = None,
) -> None:
    """The plan in ``fmt``; with ``command`` (a plan made now: ``Session.command``), the OAuth
    connectors' authorization too, in text and markdown."""
    from conn_reconcile.output import oauth as oauth
    from conn_reconcile.output import render as render

    redactor = console.redactor
    if fmt == "json":
        console.out(render.render_json(plan, redactor=redactor, probes=probes), nl=False)
    elif fmt == "markdown":
        from conn_reconcile.output.progress import append_step_summary

        section = oauth.markdown(plan, command, redactor) if command is not None else ""
        limit = render.MARKDOWN_MAX_CHARS - len(section) - 1
        text = render.render_markdown(plan, redactor=redactor, probes=probes or (), max_chars=limit)
        text = f"{text.rstrip(chr(10))}\n\n{section}" if section else text
        console.out(text, nl=False)
        append_step_summary(text)
    elif fmt == "github":
        console.out(render.render_github(plan, redactor=redactor, probes=probes or ()), nl=False)
    else:
        console.out(
            render.render_text(
                plan, colour=console.use_colour(), redactor=redactor, quiet=console.quiet, probes=probes or ()
            ),
            nl=False,
        )
        lines = oauth.text_lines(plan, command) if command is not None and not console.quiet else []
        if lines:
            console.out("\n" + "\n".join(lines))


@command(
    "plan",
    examples=(
        ("conn-reconcile plan", "What apply would change in the org."),
        ("conn-reconcile plan --out plan.json", "The same, saved: 'conn-reconcile apply plan.json' does exactly that."),
        ("conn-reconcile plan --detailed-exitcode -q", "In CI: exit 0 with no changes, 2 with changes, 1 on error."),
        ("conn-reconcile plan --prune --target 'team-*'", "Only connectors named team-*, pruning those gone from git."),
        ("conn-reconcile plan --env staging --format markdown", "A PR comment for the staging org."),
    ),
)
@plan_options
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes, 0 when there are none.")
@click.option("--out", type=FILE_PATH, metavar="PATH", help="Save the plan to this file for apply.")
@AS_JSON
@format_option()
@click.option(
    "--probe",
    is_flag=True,
    help="Run Cohere's registration test now against each service_auth connector being created, "
    "replaced or re-pointed (url/token), each bounded by --timeout; exit 1 when one fails.",
)
@click.option("--probe-warn", is_flag=True, help="With --probe: report failed probes without failing the command.")
@click.option(
    "--allow-unbound",
    is_flag=True,
    help="Plan even when a secret the apply would send has its variable unset (a note, not an error).",
)
@click.option(
    "--compare",
    "compare_with",
    type=FILE_PATH,
    multiple=True,
    metavar="REVIEWED.json",
    help="Compare the new plan, made as without secrets, with saved (reviewed) plans instead of showing "
    "it (repeatable, in merge order): exit 0 when it is what they show, 1 when not (the differences in "
    "--format text, markdown or json).",
)
@click.option(
    "--against-snapshot",
    is_flag=True,
    help="Plan against the org snapshot the last apply or snapshot stored in the state, with no API key "
    "and no secret (a pull request's plan); the plan says how old the snapshot is.",
)
def plan(
    inv: Invocation,
    /,
    force: bool,
    rotate_secrets: bool,
    targets: tuple[str, ...],
    files: tuple[str, ...],
    detailed_exitcode: bool,
    out: Path | None,
    as_json: bool,
    fmt: str,
    probe: bool,
    probe_warn: bool,
    allow_unbound: bool,
    compare_with: Sequence[Path],
    against_snapshot: bool,
) -> int:
    """Show what apply would change in the Cohere org."""
    from conn_reconcile.errors import ConfigError, ExitCode
    from conn_reconcile.plan.model import PlanOptions
    from conn_reconcile.workflows.common import compute_plan

    fmt = "json" if as_json else fmt
    inv.format = fmt
    session = inv.session
    settings = session.settings
    options = PlanOptions.of(
        settings, force=force, rotate_secrets=rotate_secrets, probe=probe, probe_warn=probe_warn, targets=targets
    )
    if against_snapshot and (probe or probe_warn):
        raise ConfigError("--probe sends the connectors' secrets: it cannot run with --against-snapshot")
    result, probes = compute_plan(
        session,
        [settings.directory],
        options,
        files=files,
        allow_unbound=allow_unbound or against_snapshot or bool(compare_with),
        against_snapshot=against_snapshot,
        blind=bool(compare_with),
        probe=not against_snapshot and not compare_with and (probe or probe_warn or settings.probe),
    )
    if compare_with or fmt == "json" or out is not None:
        from conn_reconcile.apply import planfile as planfile  # a text plan needs none of it (nor git, nor tempfile)
    if compare_with:
        reviewed = [planfile.load(path, check_signature=False) for path in compare_with]
        return _compare(inv.console, reviewed, result, fmt)
    if fmt == "json" or out is not None:  # the outputs that carry meta.git_commit
        result = planfile.stamped(result)
    _render_plan(inv.console, result, fmt, probes, session.command)
    if out is not None:
        planfile.save(out, result, session.redactor, key=session.fingerprint_key)
        signed = " (signed)" if session.fingerprint_key else ""
        inv.console.info(f"Saved the plan to {out}{signed}. Apply it with: {session.command('apply', str(out))}")
    if probes and not probe_warn and not all(p.ok for p in probes):
        from conn_reconcile.plan.preflight import failure_message

        inv.console.err(failure_message(probes))
        return ExitCode.ERROR
    return ExitCode.CHANGES if detailed_exitcode and result.needs_attention else ExitCode.OK


def _compare(console: Console, reviewed: Sequence[Plan], current: Plan, fmt: str) -> int:
    """``plan --compare``: print the differences and exit 0 (same) or 1 (different). The
    current plan is made without secrets, as a reviewed plan is (a pull request's)."""
    import json

    from conn_reconcile.errors import ExitCode
    from conn_reconcile.plan import compare as planmatch

    differences = planmatch.compare_reviewed(reviewed, current)
    if fmt == "json":
        doc = {"match": not differences, "differences": [d.to_dict() for d in differences]}
        text = json.dumps(doc, indent=2, default=str) + "\n"
    elif fmt == "markdown":
        text = planmatch.render_markdown(differences)
    else:
        text = planmatch.render_text(differences)
    console.out(console.redactor(text), nl=False)
    return ExitCode.ERROR if differences else ExitCode.OK


@command(
    "show",
    examples=(
        ("conn-reconcile show plan.json", "The saved plan, as plan printed it."),
        ("conn-reconcile show plan.json --format markdown", "As a PR comment."),
    ),
)
@click.argument("planfile", type=FILE_PATH)
@AS_JSON
@format_option()
def show(inv: Invocation, planfile: Path, as_json: bool, fmt: str) -> None:
    """Render a saved plan file (PLANFILE: a plan saved by plan --out)."""
    from conn_reconcile.apply import planfile as pf

    _render_plan(inv.console, pf.load(planfile, check_signature=False), "json" if as_json else fmt)
