"""The click commands around the plan cycle: ``validate`` (offline, the pre-commit hook),
``init``, ``import``, ``snapshot``, ``secrets``, ``config``, ``schema``, ``force-unlock``, ``emulator``.
What a command needs is imported inside it: ``validate`` never imports the HTTP client, the
planner or the applier."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from conn_reconcile.cli.options import ANY_PATH, DIR_PATH, FILE_PATH, Command, Invocation, command
from conn_reconcile.config import defaults as defaults

F = TypeVar("F", bound=Callable[..., Any])


def _format(*choices: str, help: str = "Output format.") -> Callable[[F], F]:
    return click.option("--format", "fmt", type=click.Choice(choices), default="text", show_default=True, help=help)


@command(
    "validate",
    require_env=False,
    examples=(
        ("conn-reconcile validate", "Check the config's dir (else connectors/), offline, in every environment."),
        ("conn-reconcile validate connectors/docs.yaml", "Check one file."),
        (
            "conn-reconcile validate --against connectors connectors/new.yaml",
            "Check a file against the whole directory (unique names and ids): what the pre-commit hook runs.",
        ),
        ("conn-reconcile validate --format github", "Errors as GitHub annotations on the pull request's diff."),
    ),
)
@click.argument("paths", nargs=-1, type=ANY_PATH)
@_format("text", "github", "json")
@click.option(
    "--against",
    multiple=True,
    type=DIR_PATH,
    metavar="DIR",
    help="Also load the other connector files of this directory, only to check that names and pinned "
    "ids stay unique (clashes are reported on the files given). Repeatable.",
)
@click.option(
    "--exclude",
    multiple=True,
    metavar="GLOB",
    help="Skip files whose path matches this glob (e.g. 'connectors/drafts/*'). Repeatable.",
)
def validate(
    inv: Invocation, paths: tuple[Path, ...], fmt: str, against: tuple[Path, ...], exclude: tuple[str, ...]
) -> int:
    """Check connector files offline (default: the config's dir, else connectors/). No API key or
    secrets needed. Without --env, the files are checked in every environment of conn-reconcile.yaml.

    PATHS: connector files and directories (searched recursively)."""
    import json

    from conn_reconcile.errors import ExitCode, InputError
    from conn_reconcile.files.configfile import load_environments  # not workflow: no HTTP client, planner or applier

    console = inv.console
    inv.format = fmt
    try:
        settings = inv.settings
        by_env = load_environments(settings, paths, require_files=True, against=against, exclude=exclude, policy=True)
    except InputError as exc:
        if fmt == "json":
            console.out(json.dumps({"valid": False, "errors": [d._asdict() for d in exc.diagnostics]}, indent=2))
            return ExitCode.ERROR
        raise
    files = sorted({d.file for desired in by_env.values() for d in desired})
    if fmt == "json":
        console.out(json.dumps({"valid": True, "files": files}, indent=2))
    else:
        envs = [c.name for c in settings.contexts if c.name is not None]
        where = f" in {len(envs)} environment(s) ({', '.join(envs)})" if envs else ""
        console.info(f"{len(files)} connector file(s) valid{where}.")
    return ExitCode.OK


@command(
    "init",
    require_env=False,
    examples=(
        ("conn-reconcile init", "Scaffold a connectors repository in the current directory."),
        ("conn-reconcile init my-connectors", "The same, in the directory my-connectors."),
    ),
)
@click.argument("directory", required=False, default=".", type=DIR_PATH, metavar="[DIR]")
def init(inv: Invocation, directory: Path) -> None:
    """Scaffold a connectors repository in DIR (default: here): conn-reconcile.yaml, connectors/
    with one commented example, .gitignore, .pre-commit-config.yaml and the plan, apply and drift
    workflows, pinned to this version. Offline; refuses (naming them) if any of these paths exists,
    and then writes nothing."""
    from conn_reconcile.workflows.scaffold import init_repository

    for path in init_repository(directory):
        inv.console.out(f"wrote {path}")
    inv.console.info(
        "Next: edit or replace connectors/handbook.yaml (conn-reconcile import --missing writes the connectors of "
        "an existing org), run conn-reconcile validate, and follow examples/connectors-repo/README.md in "
        "conn-reconcile's repository: the workflows and the hook use your-org/conn-reconcile at this version's "
        "commit; put the repository you install from."
    )


@command(
    "import",
    examples=(
        ("conn-reconcile import --dir connectors", "One file per connector of the org, ids pinned."),
        ("conn-reconcile import --update", "Accept drift: rewrite the existing files with the org's values."),
        ("conn-reconcile import --missing", "Only the connectors no file describes yet (made in the dashboard)."),
    ),
)
@click.option(
    "--dir",
    "directory",
    type=DIR_PATH,
    default=defaults.DIR,
    show_default=True,
    metavar="DIR",
    help="Directory to write connector files into.",
)
@click.option("--overwrite", is_flag=True, help="Replace existing files of the same name.")
@click.option(
    "--update",
    is_flag=True,
    help="Accept drift: rewrite the EXISTING files with the org's current non-secret values, keeping "
    "comments, key order and ${VAR} references (review the result as a pull request).",
)
@click.option(
    "--missing",
    is_flag=True,
    help="Write only the connectors no file describes yet (matched as plan matches: pinned id, state, "
    "name); existing files are left as they are.",
)
@click.option(
    "--only",
    multiple=True,
    metavar="NAME",
    help="Write only the connector named NAME (repeatable); existing files are left as they are.",
)
def import_(
    inv: Invocation, directory: Path, overwrite: bool, update: bool, missing: bool, only: tuple[str, ...]
) -> None:
    """Write one YAML file per remote connector, with pinned ids and ${VAR} secret placeholders."""
    from conn_reconcile.workflows.importer import import_connectors, import_selected

    flags = (("--overwrite", overwrite), ("--update", update), ("--missing", missing), ("--only", only))
    given = [flag for flag, on in flags if on]
    if (overwrite or update) and len(given) > 1:  # --missing and --only never write an existing file
        raise click.UsageError(f"{' and '.join(given)} cannot be combined", inv.ctx)
    if update:
        from conn_reconcile.workflows.reimport import render_update_report, update_files

        inv.console.out(render_update_report(update_files(inv.session, directory)), nl=False)
        return
    skipped: list[str] = []
    if missing or only:
        imported = import_selected(inv.session, directory, missing=missing, only=only)
        written, skipped = imported.written, imported.skipped
    else:
        written = import_connectors(inv.session, directory, overwrite=overwrite)
    for path in written:
        inv.console.out(f"wrote {path}")
    for line in skipped:
        inv.console.info(line)
    if not written and missing and not only and not skipped:
        inv.console.info("Imported 0 connector(s): every connector in the org has a file.")
    else:
        inv.console.info(f"Imported {len(written)} connector(s). Set the ${{...}} variables before apply.")


@command(
    "force-unlock",
    examples=(
        ("conn-reconcile force-unlock 3f2a9c1e", "Remove the local lock 3f2a9c1e (as the locked run printed it)."),
        (
            "conn-reconcile --state git:conn-reconcile-state:state.json force-unlock 3f2a9c1e",
            "Delete the lock ref of a state kept on a git branch.",
        ),
    ),
)
@click.argument("lock_id")
def force_unlock(inv: Invocation, lock_id: str) -> None:
    """Remove the state lock LOCK_ID (printed by the run that found it held).

    A local lock is released by the system when its holder exits, however it exits: use
    this only when the lock file must go (a lock held on a shared file system by a dead host).
    With --state git:BRANCH:PATH the lock is a ref on the remote, which a killed run leaves
    behind: this deletes it (only if it still holds LOCK_ID).

    LOCK_ID: the lock's id, as the run that found it held printed it.
    """
    inv.console.out(inv.session.lock().force_unlock(lock_id))


@command(
    "snapshot",
    examples=(
        ("conn-reconcile snapshot", "List the org and store it in the state (needs the API key)."),
        ("conn-reconcile snapshot --show", "Only say what the state holds (no key needed)."),
    ),
)
@_format("text", "json")
@click.option("--show", "show_only", is_flag=True, help="Only say what the state holds (no key needed).")
def snapshot(inv: Invocation, fmt: str, show_only: bool) -> None:
    """List the org and keep it in the state, under the state lock (pushed with a git state):
    what plans made without the API key (plan --against-snapshot, a pull request's) plan
    against. An apply refreshes it too; run this where the key is, e.g. a scheduled job.
    With --show: only say what the state holds (no key, no lock, nothing written)."""
    import json

    from conn_reconcile.model.state import State
    from conn_reconcile.workflows.apply import ApplyRun, take_snapshot
    from conn_reconcile.workflows.common import load_state

    if show_only:
        state = load_state(inv.session) or State()
    else:
        state = take_snapshot(inv.session, ApplyRun(on_notice=inv.console.err))
    org = state.org
    if fmt == "json":
        doc = {
            "taken_at": org.taken_at if org else None,
            "by": org.by if org else None,
            "connectors": len(org.connectors) if org else None,
            "applied_commit": state.applied_commit,
        }
        inv.console.out(json.dumps(doc))
    elif org is None:
        inv.console.out("The state holds no snapshot of the org.")
    else:
        verb = "The state holds" if show_only else "Stored"
        inv.console.out(f"{verb} a snapshot of {len(org.connectors)} connector(s), taken {org.taken_at} by {org.by}.")


class _SchemaCommand(Command):
    """``schema``, which names the old ``schema --config`` (now ``--of config``) in its error."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[-1] == "--config":
            raise click.UsageError(
                "'schema --config' is now 'schema --of config' (--config names the conn-reconcile.yaml to use)", ctx
            )
        return super().parse_args(ctx, args)


@command(
    "schema",
    cls=_SchemaCommand,
    examples=(
        ("conn-reconcile schema", "The JSON Schema of connector files (docs/connector.schema.json)."),
        ("conn-reconcile schema --of config", "The JSON Schema of conn-reconcile.yaml (docs/config.schema.json)."),
    ),
)
@click.option(
    "--of",
    "of",
    type=click.Choice(("connector", "config")),
    default="connector",
    show_default=True,
    help="connector: the connector file format; config: conn-reconcile.yaml.",
)
def schema(inv: Invocation, of: str) -> None:
    """Print the JSON Schema of the connector file format (or, with --of config, of conn-reconcile.yaml)."""
    import json

    from conn_reconcile.files.schema import config_json_schema, json_schema

    inv.console.out(json.dumps(config_json_schema() if of == "config" else json_schema(), indent=2))


@command(
    "config",
    require_env=False,
    examples=(
        ("conn-reconcile config", "Every effective setting and where it comes from."),
        ("conn-reconcile config --env prod --format json", "The same for the environment prod, as JSON."),
    ),
)
@_format("text", "json")
def config_(inv: Invocation, fmt: str) -> None:
    """Show every effective setting and where it comes from (default, conn-reconcile.yaml:LINE,
    environment variable, flag). The API key is shown as (set) or (unset), never its value."""
    from conn_reconcile.output.configview import render_config

    inv.console.out(render_config(inv.settings, fmt), nl=False)


@command(
    "secrets",
    require_env=False,
    examples=(
        ("conn-reconcile secrets", "Every variable the files need, per environment, and whether it is set."),
        ("conn-reconcile secrets --env prod --format github-env", "Lines to paste into a workflow step's env:."),
    ),
)
@_format(
    "text",
    "json",
    "github-env",
    help="Output format; github-env: 'NAME: ${{ secrets.NAME }}' lines for a workflow step's env: block.",
)
def secrets(inv: Invocation, fmt: str) -> None:
    """List every variable the connector files need (and the API key's), per environment
    (--env: only that one). Offline; prints names, never values."""
    from conn_reconcile.files.configfile import load_environments
    from conn_reconcile.model.binding import bind
    from conn_reconcile.output.configview import EnvNeeds, render_secrets

    settings, env, redactor = inv.settings, inv.env, inv.console.redactor
    needs = [
        EnvNeeds(name, settings.key_env_of(name), bind(desired, env, key_vars=settings.key_vars, redactor=redactor))
        for name, desired in load_environments(settings).items()
    ]
    inv.console.out(render_secrets(needs, fmt, {n.api_key_env for n in needs if env.get(n.api_key_env)}), nl=False)


@command(
    "emulator",
    global_options=False,
    examples=(
        (
            "conn-reconcile emulator --api-key demo-key",
            f"Serve on 127.0.0.1:{defaults.EMULATOR_PORT} (the demo's); point CO_API_URL at "
            f"http://127.0.0.1:{defaults.EMULATOR_PORT} and CO_API_KEY at demo-key.",
        ),
        ("conn-reconcile emulator --port 0 --data org.json", "Any free port (printed), the org kept in org.json."),
    ),
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    metavar="HOST",
    help="The interface to listen on (loopback by default: the emulator is for tests and demos).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=defaults.EMULATOR_PORT,
    show_default=True,
    metavar="PORT",
    help="The port to listen on (0: any free port); the URL is printed at start.",
)
@click.option("--data", "data_file", type=FILE_PATH, metavar="PATH", help="Persist the emulated org in this JSON file.")
@click.option("--api-key", "emulator_key", metavar="KEY", help="Accept only this API key (default: any).")
def emulator(inv: Invocation, host: str, port: int, data_file: Path | None, emulator_key: str | None) -> None:
    """Run the local Cohere connectors API emulator (for tests and demos)."""
    from conn_reconcile.emulator import serve

    serve(host, port, data_file, emulator_key)
