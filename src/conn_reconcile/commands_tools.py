"""The commands around the plan cycle: ``validate`` (offline, the pre-commit hook), ``import``,
``secrets``, ``config``, ``schema``, ``force-unlock`` and ``emulator``.

Parse, call one function, render, exit code. What a command needs is imported inside it:
``validate`` in particular never imports the HTTP client, the planner or the applier.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from conn_reconcile import globalopts
from conn_reconcile.console import Console
from conn_reconcile.globalopts import ANY_PATH, DIR_PATH, FILE_PATH

if TYPE_CHECKING:
    from pathlib import Path


@click.command()
@click.argument("paths", nargs=-1, type=ANY_PATH)
@click.option("--format", "fmt", type=click.Choice(["text", "github", "json"]), default="text", show_default=True)
@click.option(
    "--against",
    "against",
    multiple=True,
    type=DIR_PATH,
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
    from conn_reconcile.errors import ExitCode, InputError

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


@click.command(name="import")
@click.option(
    "--dir",
    "directory",
    type=DIR_PATH,
    default="connectors",
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

        ctx.obj.out(render_update_report(update_files(globalopts.settings(ctx), directory)), nl=False)
        return

    written = import_connectors(globalopts.settings(ctx), directory, overwrite=overwrite)
    for path in written:
        ctx.obj.out(f"wrote {path}")
    ctx.obj.info(f"Imported {len(written)} connector(s). Set the ${{...}} variables before apply.")


@click.command(name="force-unlock")
@click.argument("lock_id")
@click.pass_context
def force_unlock(ctx: click.Context, lock_id: str) -> None:
    """Remove the state lock LOCK_ID (printed by the run that found it held).

    A local lock is released by the system when its holder exits, however it exits: use
    this only when the lock file must go (a lock held on a shared file system by a dead host).
    With --state git:BRANCH:PATH the lock is a ref on the remote, which a killed run leaves
    behind: this deletes it (only if it still holds LOCK_ID).
    """
    ctx.obj.out(globalopts.settings(ctx).lock().force_unlock(lock_id))


@click.command()
@click.option("--config", "config_schema", is_flag=True, help="The schema of conn-reconcile.yaml instead.")
@click.pass_context
def schema(ctx: click.Context, config_schema: bool) -> None:
    """Print the JSON Schema of the connector file format (or, with --config, of conn-reconcile.yaml)."""
    import json

    from conn_reconcile.schema import config_json_schema, json_schema

    ctx.obj.out(json.dumps(config_json_schema() if config_schema else json_schema(), indent=2))


@click.command(name="config")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def config_(ctx: click.Context, fmt: str) -> None:
    """Show every effective setting and where it comes from (default, conn-reconcile.yaml:LINE,
    environment variable, flag). The API key is shown as (set) or (unset), never its value."""
    from conn_reconcile.configview import render_config

    eff = globalopts.effective(ctx, require_env=False)
    envs = sorted(eff.config.environments) if eff.config is not None else []
    ctx.obj.out(render_config(eff.settings, envs, fmt), nl=False)


@click.command()
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


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8080, show_default=True)
@click.option(
    "--data",
    "data_file",
    type=FILE_PATH,
    default=None,
    help="Persist the emulated org in this JSON file.",
)
@click.option("--api-key", "emulator_key", default=None, help="Accept only this API key (default: any).")
def emulator(host: str, port: int, data_file: Path | None, emulator_key: str | None) -> None:
    """Run the local Cohere connectors API emulator (for tests and demos)."""
    from conn_reconcile.emulator import serve

    serve(host, port, data_file, emulator_key)
