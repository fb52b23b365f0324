"""The command line: parse, call one workflow function, render, exit code.

Heavy modules (pydantic, httpx, deepdiff, ruamel) are imported inside the commands so that
``conn-reconcile --help`` stays fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from conn_reconcile import __version__, defaults, globalopts
from conn_reconcile.console import Console, Group, confirm
from conn_reconcile.errors import ConfigError, ExitCode, InputError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from conn_reconcile.plan import Plan, PlanOptions
    from conn_reconcile.preflight import ProbeResult
    from conn_reconcile.workflow import Settings

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=Group, context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="conn-reconcile")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Reconcile Cohere connectors with the YAML files in git.

    \b
      conn-reconcile validate                 offline checks (also a pre-commit hook)
      conn-reconcile plan --out plan.json     what would change in the org, saved
      conn-reconcile apply plan.json          carry out exactly that plan

    Settings come from conn-reconcile.yaml (see `conn-reconcile config`); flags override it.
    Global options may also be given after the command (`conn-reconcile plan -q`).

    \b
    Exit codes: 0 ok; 1 error; 2 plan --detailed-exitcode found changes;
    3 apply partly failed or a create's outcome is unknown; 130 interrupted.
    """
    from conn_reconcile.secrets import Redactor

    redactor = Redactor()
    api_key = globalopts.initial(ctx, "api_key")
    redactor.add(api_key if isinstance(api_key, str) else None)
    ctx.obj = Console(redactor, quiet=bool(globalopts.initial(ctx, "quiet")), colour=globalopts.initial(ctx, "colour"))


globalopts.add_to_group(cli)


def _settings(ctx: click.Context, *, require_env: bool = True) -> Settings:
    """The command's settings: conn-reconcile.yaml, the environment, then flags."""
    from conn_reconcile.workflow import Settings

    console = ctx.find_object(Console)
    assert console is not None  # cli() puts it on the root context
    eff = globalopts.effective(ctx, require_env=require_env)
    timing = {k: eff[k] for k in ("timeout", "deadline", "lock_timeout") if k in eff.settings}
    return Settings.from_effective(eff, console.redactor, **timing)


format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown", "github"]),
    default="text",
    show_default=True,
    help="Output format.",
)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "github", "json"]), default="text", show_default=True)
@click.option(
    "--against",
    "against",
    multiple=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Also load the other connector files of this directory, only to check that names and pinned "
    "ids stay unique (clashes are reported on the files given). Repeatable.",
)
@click.option(
    "--exclude",
    "exclude",
    multiple=True,
    metavar="GLOB",
    help="Skip files whose path matches this glob (e.g. 'connectors/drafts/*'). Repeatable.",
)
@click.pass_context
def validate(
    ctx: click.Context, paths: tuple[Path, ...], fmt: str, against: tuple[Path, ...], exclude: tuple[str, ...]
) -> None:
    """Check connector files offline (default: the config's dir, else connectors/). No API key or
    secrets needed. Without --env, the files are checked in every environment of conn-reconcile.yaml."""
    import json

    from conn_reconcile.configfile import load_environments  # not workflow: no HTTP client, planner or applier

    console: Console = ctx.obj
    ctx.meta["conn_reconcile.format"] = fmt
    try:
        eff = globalopts.effective(ctx, require_env=False)
        contexts = eff.contexts()
        by_env = load_environments(eff, paths, require_files=True, against=against, exclude=exclude)
    except InputError as exc:
        if fmt == "json":
            console.out(json.dumps({"valid": False, "errors": [d.__dict__ for d in exc.diagnostics]}, indent=2))
            ctx.exit(ExitCode.ERROR)
        raise
    files = sorted({d.file for desired in by_env.values() for d in desired})
    if fmt == "json":
        console.out(json.dumps({"valid": True, "files": files}, indent=2))
    else:
        envs = [c.name for c in contexts if c.name is not None]
        where = f" in {len(envs)} environment(s) ({', '.join(envs)})" if envs else ""
        console.info(f"{len(files)} connector file(s) valid{where}.")


def plan_options(f: Any) -> Any:
    options = [
        click.option(
            "--dir",
            "directory",
            type=click.Path(path_type=Path),
            default=Path("connectors"),
            show_default=True,
            help="Directory of connector files (or the config's dir).",
        ),
        click.option(
            "--prune/--no-prune",
            default=False,
            help="Delete managed remote connectors that are no longer in git (or the config's prune).",
        ),
        click.option(
            "--manage-prefix",
            default=None,
            help="With --prune: also treat connectors whose name starts with this as managed.",
        ),
        click.option(
            "--protect",
            multiple=True,
            metavar="PATTERN",
            help="Never delete connectors whose name or id matches (glob, repeatable; added to the config's).",
        ),
        click.option(
            "--max-deletes",
            type=click.IntRange(min=0),
            default=defaults.MAX_DELETES,
            show_default=True,
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
            type=click.Path(dir_okay=False),
            metavar="PATH",
            help="Plan only the connector in this file (repeatable).",
        ),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _options(ctx: click.Context, kw: dict[str, Any]) -> PlanOptions:
    from conn_reconcile.plan import PlanOptions

    eff = globalopts.effective(ctx, require_env=False)
    return PlanOptions(
        prune=bool(eff["prune"]),
        manage_prefix=eff["manage_prefix"],  # type: ignore[arg-type]
        protect=tuple(eff["protect"]),  # type: ignore[arg-type]
        max_deletes=int(eff["max_deletes"]),  # type: ignore[call-overload]
        force=kw["force"],
        rotate_secrets=kw["rotate_secrets"],
        probe=kw.get("probe", False),
        probe_warn=kw.get("probe_warn", False),
        targets=tuple(kw["targets"]),
    )


def _render_plan(console: Console, plan: Plan, fmt: str, probes: Sequence[ProbeResult] | None = None) -> None:
    from conn_reconcile import render

    redactor = console.redactor
    if fmt == "json":
        console.out(render.render_json(plan, redactor=redactor, probes=probes), nl=False)
    elif fmt == "markdown":
        text = render.render_markdown(plan, redactor=redactor, probes=probes or ())
        console.out(text, nl=False)
        summary = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary:
            with open(summary, "a", encoding="utf-8") as fh:
                fh.write(text)
    elif fmt == "github":
        console.out(render.render_github(plan, redactor=redactor, probes=probes or ()), nl=False)
    else:
        console.out(
            render.render_text(
                plan, colour=console.use_colour(), redactor=redactor, quiet=console.quiet, probes=probes or ()
            ),
            nl=False,
        )


@cli.command()
@plan_options
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes, 0 when there are none.")
@click.option(
    "--out", "out", type=click.Path(dir_okay=False, path_type=Path), help="Save the plan to this file for apply."
)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@format_option
@click.option(
    "--probe",
    is_flag=True,
    help="Run Cohere's registration test now against each service_auth connector being created, replaced "
    "or re-pointed (url/token), each bounded by --timeout; exit 1 when one fails.",
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
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="REVIEWED.json",
    help="Compare the new plan with a saved (reviewed) plan instead of showing it: exit 0 when they "
    "match, 1 when they differ (the differences in --format text, markdown or json).",
)
@click.pass_context
def plan(
    ctx: click.Context,
    /,
    detailed_exitcode: bool,
    out: Path | None,
    as_json: bool,
    fmt: str,
    allow_unbound: bool,
    compare_with: Path | None,
    **kw: Any,
) -> None:
    """Show what apply would change in the Cohere org."""
    from conn_reconcile import planfile
    from conn_reconcile.workflow import compute_plan

    fmt = "json" if as_json else fmt
    ctx.meta["conn_reconcile.format"] = fmt
    settings = _settings(ctx)
    options = _options(ctx, kw)
    result = compute_plan(settings, [settings.directory], options, files=kw["files"], allow_unbound=allow_unbound)
    probes = None
    if options.probe or options.probe_warn or settings.probe:
        from conn_reconcile.probe import probe_plan

        probes = probe_plan(settings, [settings.directory], result)
    if compare_with is not None:
        _compare(ctx, planfile.load(compare_with, key=settings.fingerprint_key), result, fmt)
    if fmt == "json" or out is not None:  # the outputs that carry meta.git_commit
        result = planfile.stamped(result)
    _render_plan(ctx.obj, result, fmt, probes)
    if out is not None:
        planfile.save(out, result, settings.redactor, key=settings.fingerprint_key)
        signed = " (signed)" if settings.fingerprint_key else ""
        ctx.obj.info(f"Saved the plan to {out}{signed}. Apply it with: conn-reconcile apply {out}")
    if probes and not options.probe_warn and not all(p.ok for p in probes):
        from conn_reconcile.preflight import failure_message

        ctx.obj.err(failure_message(probes))
        ctx.exit(ExitCode.ERROR)
    if detailed_exitcode and result.needs_attention:
        ctx.exit(ExitCode.CHANGES)


def _compare(ctx: click.Context, reviewed: Plan, current: Plan, fmt: str) -> None:
    """``plan --compare``: print the differences and exit 0 (same) or 1 (different)."""
    import json

    from conn_reconcile import planmatch

    differences = planmatch.compare(reviewed, current)
    if fmt == "json":
        doc = {"match": not differences, "differences": [d.to_dict() for d in differences]}
        text = json.dumps(doc, indent=2, default=str) + "\n"
    elif fmt == "markdown":
        text = planmatch.render_markdown(differences)
    else:
        text = planmatch.render_text(differences)
    ctx.obj.out(ctx.obj.redactor(text), nl=False)
    ctx.exit(ExitCode.ERROR if differences else ExitCode.OK)


@cli.command()
@click.argument("planfile", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@format_option
@click.pass_context
def show(ctx: click.Context, planfile: Path, as_json: bool, fmt: str) -> None:
    """Render a saved plan file."""
    from conn_reconcile import planfile as pf

    _render_plan(ctx.obj, pf.load(planfile, check_signature=False), "json" if as_json else fmt)


@cli.command()
@click.argument("planfile", required=False, type=click.Path(dir_okay=False, path_type=Path))
@plan_options
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--parallelism",
    type=click.IntRange(1, 64),
    default=defaults.PARALLELISM,
    show_default=True,
    help="Concurrent API calls.",
)
@click.option("--fail-fast", is_flag=True, help="Stop at the first failed connector.")
@click.option("--rate-limit", type=click.FloatRange(min=0.1), default=None, help="Max API requests per second.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown", "github"]),
    default="text",
    show_default=True,
    help="Final output: text; json (docs/apply-format.md; the plan and progress go to stderr); markdown "
    "(a job summary, also appended to $GITHUB_STEP_SUMMARY); github (text plus an ::error "
    "annotation per failed connector).",
)
@click.pass_context
def apply(
    ctx: click.Context,
    /,
    planfile: Path | None,
    auto_approve: bool,
    parallelism: int,
    fail_fast: bool,
    rate_limit: float | None,
    fmt: str,
    **kw: Any,
) -> None:
    """Make the org match the files, or carry out a saved PLANFILE exactly (no prompt)."""
    from conn_reconcile import render
    from conn_reconcile.applyout import Progress, final_output, heartbeat_interval
    from conn_reconcile.interrupt import Interrupt
    from conn_reconcile.results import ApplyReport
    from conn_reconcile.workflow import ApplyRun, apply_files, apply_saved

    console: Console = ctx.obj
    ctx.meta["conn_reconcile.format"] = fmt
    settings = _settings(ctx)
    parallelism = int(globalopts.effective(ctx)["parallelism"])  # type: ignore[call-overload]
    document = fmt in ("json", "markdown")  # stdout carries one document: humans read stderr
    say = console.err if document else console.out
    colour = console.use_colour() and not document
    progress = Progress(
        say, tty=(sys.stderr if document else sys.stdout).isatty(), interval=heartbeat_interval(settings.env)
    )
    # Ctrl-C while changes run: the first stops new changes and waits for those in flight,
    # the second stops waiting; either way the summary is printed and the exit code is 130.
    interrupt = Interrupt()
    run = ApplyRun(
        parallelism=parallelism,
        fail_fast=fail_fast,
        rate_limit=rate_limit,
        on_outcome=lambda o: progress.line(render.render_outcome(o, colour=colour)),
        on_notice=console.err,
        interrupt=interrupt,
        on_start=progress.start,
    )

    def show(plan: Plan) -> None:
        say(render.render_text(plan, colour=colour, redactor=console.redactor, quiet=console.quiet).rstrip("\n"))

    # (the applier counts Ctrl-C only while changes run: at the prompt it still cancels)
    report: ApplyReport | None
    options = _options(ctx, kw)
    if planfile is not None and (kw["targets"] or kw["files"]):
        raise ConfigError("--target and --file select what to plan; a saved plan applies exactly its changes")
    try:
        if planfile is not None:
            report = apply_saved(settings, planfile, options, run)
        else:
            report = apply_files(
                settings,
                [settings.directory],
                options,
                run,
                show=show,
                files=kw["files"],
                confirm=lambda plan: None if auto_approve else confirm(console),
            )
    finally:
        progress.stop()
    if report is None:  # nothing to change
        if fmt != "text":
            console.out(final_output(ApplyReport(), fmt, colour=colour, redactor=console.redactor), nl=False)
        return
    console.out(final_output(report, fmt, colour=colour, redactor=console.redactor), nl=False)
    if report.abandoned:  # calls still in flight run in worker threads: do not wait for them
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(report.exit_code)
    ctx.exit(report.exit_code)


@cli.command(name="import")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("connectors"),
    show_default=True,
    help="Directory to write connector files into.",
)
@click.option("--overwrite", is_flag=True, help="Replace existing files of the same name.")
@click.option(
    "--update",
    is_flag=True,
    help="Accept drift: rewrite the EXISTING files with the org's current non-secret values, keeping "
    "comments, key order and ${VAR} references (review the result as a pull request).",
)
@click.pass_context
def import_(ctx: click.Context, directory: Path, overwrite: bool, update: bool) -> None:
    """Write one YAML file per remote connector, with pinned ids and ${VAR} secret placeholders."""
    from conn_reconcile.importer import import_connectors

    if update:
        if overwrite:
            raise click.UsageError("--update rewrites existing files in place; it cannot be combined with --overwrite")
        from conn_reconcile.reimport import render_update_report, update_files

        ctx.obj.out(render_update_report(update_files(_settings(ctx), directory)), nl=False)
        return

    written = import_connectors(_settings(ctx), directory, overwrite=overwrite)
    for path in written:
        ctx.obj.out(f"wrote {path}")
    ctx.obj.info(f"Imported {len(written)} connector(s). Set the ${{...}} variables before apply.")


@cli.command(name="force-unlock")
@click.argument("lock_id")
@click.pass_context
def force_unlock(ctx: click.Context, lock_id: str) -> None:
    """Remove the state lock LOCK_ID (printed by the run that found it held).

    A local lock is released by the system when its holder exits, however it exits: use
    this only when the lock file must go (a lock held on a shared file system by a dead host).
    With --state git:BRANCH:PATH the lock is a ref on the remote, which a killed run leaves
    behind: this deletes it (only if it still holds LOCK_ID).
    """
    ctx.obj.out(_settings(ctx).lock().force_unlock(lock_id))


@cli.command()
@click.option("--config", "config_schema", is_flag=True, help="The schema of conn-reconcile.yaml instead.")
@click.pass_context
def schema(ctx: click.Context, config_schema: bool) -> None:
    """Print the JSON Schema of the connector file format (or, with --config, of conn-reconcile.yaml)."""
    import json

    from conn_reconcile.schema import config_json_schema, json_schema

    ctx.obj.out(json.dumps(config_json_schema() if config_schema else json_schema(), indent=2))


@cli.command(name="config")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def config_(ctx: click.Context, fmt: str) -> None:
    """Show every effective setting and where it comes from (default, conn-reconcile.yaml:LINE,
    environment variable, flag). The API key is shown as (set) or (unset), never its value."""
    from conn_reconcile.configview import render_config

    eff = globalopts.effective(ctx, require_env=False)
    envs = sorted(eff.config.environments) if eff.config is not None else []
    ctx.obj.out(render_config(eff.settings, envs, fmt), nl=False)


@cli.command()
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github-env"]),
    default="text",
    show_default=True,
    help="github-env: 'NAME: ${{ secrets.NAME }}' lines for a workflow step's env: block.",
)
@click.pass_context
def secrets(ctx: click.Context, fmt: str) -> None:
    """List every variable the connector files need (and the API key's), per environment
    (--env: only that one). Offline; prints names, never values."""
    from conn_reconcile.configfile import load_environments
    from conn_reconcile.configview import EnvNeeds, render_secrets, uses_of

    eff = globalopts.effective(ctx, require_env=False)
    needs = [EnvNeeds(name, eff.key_env_of(name), uses_of(desired)) for name, desired in load_environments(eff).items()]
    names = {n.api_key_env for n in needs} | {u.var for n in needs for u in n.uses}
    ctx.obj.out(render_secrets(needs, fmt, {n for n in names if os.environ.get(n)}), nl=False)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8080, show_default=True)
@click.option(
    "--data",
    "data_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Persist the emulated org in this JSON file.",
)
@click.option("--api-key", "emulator_key", default=None, help="Accept only this API key (default: any).")
def emulator(host: str, port: int, data_file: Path | None, emulator_key: str | None) -> None:
    """Run the local Cohere connectors API emulator (for tests and demos)."""
    from conn_reconcile.emulator import serve

    serve(host, port, data_file, emulator_key)


globalopts.add_to(validate, plan, show, apply, import_, force_unlock, config_, secrets)


def main() -> None:
    # pydantic looks for plug-ins by scanning the metadata of every installed distribution
    # when the first model is built (tens of ms, a third of a pre-commit hook's run); the
    # tool uses none. A value set by the user is kept.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    cli(prog_name="conn-reconcile")
