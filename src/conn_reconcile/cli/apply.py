"""The click command ``apply`` (make the org match the files, or carry out a saved plan exactly):
its options, progress lines, final output and exit code around one ``applyflow`` function.
Heavy modules (httpx, the planner, the applier) are imported inside it."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from conn_reconcile.cli.options import FILE_PATH, FloatRange, Invocation, SettingOption, command
from conn_reconcile.cli.plan import format_option, plan_options
from conn_reconcile.config import defaults as defaults
from conn_reconcile.output.console import Console, confirm

if TYPE_CHECKING:
    from conn_reconcile.apply.results import ApplyReport
    from conn_reconcile.output.progress import Progress
    from conn_reconcile.plan.model import Plan
    from conn_reconcile.workflows.apply import ApplyRun
    from conn_reconcile.workflows.session import Session


@command(
    "apply",
    examples=(
        ("conn-reconcile apply", "Plan, show the plan, ask for 'yes', then apply it."),
        ("conn-reconcile apply plan.json", "Carry out exactly the plan saved by 'plan --out plan.json'."),
        ("conn-reconcile apply --auto-approve --prune", "In CI: no prompt; delete managed connectors gone from git."),
        ("conn-reconcile apply --auto-approve --format json", "One JSON report on stdout (docs/apply-format.md)."),
    ),
)
@click.argument("planfile", type=FILE_PATH, required=False)
@plan_options
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--parallelism",
    cls=SettingOption,
    setting="parallelism",
    type=click.IntRange(1, 64),
    default=defaults.PARALLELISM,
    show_default=True,
    metavar="N",
    help="Concurrent API calls.",
)
@click.option("--fail-fast", is_flag=True, help="Stop at the first failed connector.")
@click.option(
    "--reviewed-plan",
    "reviewed_plans",
    multiple=True,
    type=FILE_PATH,
    metavar="REVIEWED.json",
    help="Apply the plan made now only if it is what these reviewed plans show (repeatable, in merge "
    "order); they are compared entry by entry, never executed.",
)
@click.option("--rate-limit", type=FloatRange(min=0.1), metavar="PER_SECOND", help="Max API requests per second.")
@format_option(
    help="Final output: text; json (docs/apply-format.md; the plan and progress go to stderr); markdown "
    "(a job summary, also appended to $GITHUB_STEP_SUMMARY); github (text plus an ::error "
    "annotation per failed connector)."
)
def apply(
    inv: Invocation,
    /,
    planfile: Path | None,
    force: bool,
    rotate_secrets: bool,
    targets: tuple[str, ...],
    files: tuple[str, ...],
    auto_approve: bool,
    fail_fast: bool,
    reviewed_plans: tuple[Path, ...],
    rate_limit: float | None,
    fmt: str,
) -> int:
    """Make the org match the files, or carry out a saved PLANFILE exactly (no prompt).

    PLANFILE: a plan saved by plan --out (default: plan now and ask)."""
    from conn_reconcile.errors import ConfigError
    from conn_reconcile.plan.model import PlanOptions
    from conn_reconcile.workflows.apply import apply_files, apply_saved

    console = inv.console
    inv.format = fmt
    session = inv.session
    document = fmt in ("json", "markdown")  # stdout carries one document: humans read stderr
    say = console.err if document else console.out
    colour = console.use_colour() and not document
    run, progress = _apply_run(console, session, say, document, colour, fail_fast, rate_limit)
    show, carried = _shower(console, say, colour, session.command), _carried(run)
    # (the applier counts Ctrl-C only while changes run: at the prompt it still cancels)
    report: ApplyReport | None
    options = PlanOptions.of(session.settings, force=force, rotate_secrets=rotate_secrets, targets=targets)
    if planfile is not None and (targets or files):
        raise ConfigError("--target and --file select what to plan; a saved plan applies exactly its changes")
    if planfile is not None and reviewed_plans:
        raise ConfigError("--reviewed-plan checks the plan apply makes now; a saved plan is applied as it is")
    reviewed = _reviewed(reviewed_plans)
    try:
        if planfile is not None:
            report = apply_saved(session, planfile, options, run)
        else:
            report = apply_files(
                session,
                [session.settings.directory],
                options,
                run,
                show=show,
                files=files,
                confirm=lambda plan: None if auto_approve else confirm(console),
                reviewed=reviewed,
            )
    finally:
        progress.stop()
    return _finish(console, report, fmt, colour, lambda: _oauth_created(console, carried, report, fmt, session))


def _reviewed(paths: Sequence[Path]) -> list[Plan]:
    """The reviewed plans, read (strictly) as evidence: never executed, so not signature-checked
    (a pull request's plan is made without the key)."""
    if not paths:
        return []
    from conn_reconcile.apply import planfile as planfile

    return [planfile.load(path, check_signature=False) for path in paths]


def _apply_run(
    console: Console,
    session: Session,
    say: Callable[[str], None],
    document: bool,
    colour: bool,
    fail_fast: bool,
    rate_limit: float | None,
) -> tuple[ApplyRun, Progress]:
    """How the apply runs and reports: progress lines (and the heartbeat) on the human stream."""
    from conn_reconcile.apply.interrupt import Interrupt
    from conn_reconcile.output import render as render
    from conn_reconcile.output.progress import Progress, heartbeat_interval
    from conn_reconcile.workflows.apply import ApplyRun

    progress = Progress(
        say, tty=(sys.stderr if document else sys.stdout).isatty(), interval=heartbeat_interval(session.env)
    )
    # Ctrl-C while changes run: the first stops new changes and waits for those in flight,
    # the second stops waiting; either way the summary is printed and the exit code is 130.
    run = ApplyRun(
        parallelism=session.settings.parallelism,
        fail_fast=fail_fast,
        rate_limit=rate_limit,
        on_outcome=lambda o: progress.line(render.render_outcome(o, colour=colour)),
        on_notice=console.err,
        interrupt=Interrupt(),
        on_start=progress.start,
    )
    return run, progress


def _shower(
    console: Console, say: Callable[[str], None], colour: bool, command: Callable[..., str]
) -> Callable[[Plan], None]:
    """How apply shows the plan it made: the plan, then its OAuth connectors' authorization."""
    from conn_reconcile.output import oauth as oauth
    from conn_reconcile.output import render as render

    def show(plan: Plan) -> None:
        text = render.render_text(plan, colour=colour, redactor=console.redactor, quiet=console.quiet).rstrip("\n")
        lines = [] if console.quiet else oauth.text_lines(plan, command)
        say("\n".join([text, "", *lines]) if lines else text)

    return show


def _carried(run: ApplyRun) -> list[Plan]:
    """The plan the apply carries out, once it starts (``run.on_start``), for what it created."""
    carried: list[Plan] = []
    start = run.on_start

    def on_start(plan: Plan) -> None:
        carried.append(plan)
        if start is not None:
            start(plan)

    run.on_start = on_start
    return carried


def _oauth_created(
    console: Console, carried: list[Plan], report: ApplyReport | None, fmt: str, session: Session
) -> None:
    """The OAuth connectors the apply created, each with the command that authorizes it: after
    the table, as a job-summary section (markdown), or on stderr (json: stdout is one document)."""
    from conn_reconcile.output import oauth as oauth

    found = oauth.created(carried[0], report) if carried and report is not None else []
    if not found:
        return
    if fmt == "markdown":
        from conn_reconcile.output.progress import append_step_summary

        text = oauth.created_markdown(found, session.command, console.redactor)
        console.out(text, nl=False)
        append_step_summary(text)
    else:
        (console.err if fmt == "json" else console.out)("\n" + oauth.created_text(found, session.command).rstrip())


def _finish(
    console: Console, report: ApplyReport | None, fmt: str, colour: bool, after: Callable[[], None] = lambda: None
) -> int:
    """The final output (``after``: what follows the report) and the exit code; abandoned calls
    still in flight are not waited for."""
    from conn_reconcile.apply.results import ApplyReport
    from conn_reconcile.output.progress import final_output

    if report is None:  # nothing to change
        if fmt != "text":
            console.out(final_output(ApplyReport(), fmt, colour=colour, redactor=console.redactor), nl=False)
        return 0
    console.out(final_output(report, fmt, colour=colour, redactor=console.redactor), nl=False)
    after()
    if report.abandoned:  # calls still in flight run in worker threads: do not wait for them
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(report.exit_code)
    return report.exit_code
