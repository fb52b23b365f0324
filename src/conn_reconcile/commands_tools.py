"""The commands around the plan cycle: ``validate`` (offline, the pre-commit hook), ``import``,
``secrets``, ``config``, ``schema``, ``force-unlock`` and ``emulator``.

Parse, call one function, render, exit code. What a command needs is imported inside it:
``validate`` in particular never imports the HTTP client, the planner or the applier.
"""

from __future__ import annotations

import os

from conn_reconcile.cmdline import Arg, Command, IntRange, Opt, UsageError
from conn_reconcile.globalopts import ANY_PATH, DIR_PATH, FILE_PATH

TYPE_CHECKING = False  # as typing's, which --help does not import
if TYPE_CHECKING:
    from pathlib import Path

    from conn_reconcile.globalopts import Invocation


def validate(
    inv: Invocation, paths: tuple[Path, ...], fmt: str, against: tuple[Path, ...], exclude: tuple[str, ...]
) -> int:
    """Check connector files offline (default: the config's dir, else connectors/). No API key or
    secrets needed. Without --env, the files are checked in every environment of conn-reconcile.yaml."""
    import json

    from conn_reconcile.configfile import load_environments  # not workflow: no HTTP client, planner or applier
    from conn_reconcile.errors import ExitCode, InputError

    console = inv.console
    inv.format = fmt
    try:
        eff = inv.effective(require_env=False)
        contexts = eff.contexts()
        by_env = load_environments(eff, paths, require_files=True, against=against, exclude=exclude)
    except InputError as exc:
        if fmt == "json":
            console.out(json.dumps({"valid": False, "errors": [d._asdict() for d in exc.diagnostics]}, indent=2))
            return ExitCode.ERROR
        raise
    files = sorted({d.file for desired in by_env.values() for d in desired})
    if fmt == "json":
        console.out(json.dumps({"valid": True, "files": files}, indent=2))
    else:
        envs = [c.name for c in contexts if c.name is not None]
        where = f" in {len(envs)} environment(s) ({', '.join(envs)})" if envs else ""
        console.info(f"{len(files)} connector file(s) valid{where}.")
    return ExitCode.OK


def import_(inv: Invocation, directory: Path, overwrite: bool, update: bool) -> None:
    """Write one YAML file per remote connector, with pinned ids and ${VAR} secret placeholders."""
    from conn_reconcile.importer import import_connectors

    if update:
        if overwrite:
            raise UsageError(
                "--update rewrites existing files in place; it cannot be combined with --overwrite",
                "conn-reconcile import",
            )
        from conn_reconcile.reimport import render_update_report, update_files

        inv.console.out(render_update_report(update_files(inv.settings(), directory)), nl=False)
        return

    written = import_connectors(inv.settings(), directory, overwrite=overwrite)
    for path in written:
        inv.console.out(f"wrote {path}")
    inv.console.info(f"Imported {len(written)} connector(s). Set the ${{...}} variables before apply.")


def force_unlock(inv: Invocation, lock_id: str) -> None:
    """Remove the state lock LOCK_ID (printed by the run that found it held).

    A local lock is released by the system when its holder exits, however it exits: use
    this only when the lock file must go (a lock held on a shared file system by a dead host).
    With --state git:BRANCH:PATH the lock is a ref on the remote, which a killed run leaves
    behind: this deletes it (only if it still holds LOCK_ID).
    """
    inv.console.out(inv.settings().lock().force_unlock(lock_id))


def snapshot(inv: Invocation, fmt: str, show_only: bool) -> None:
    """List the org and keep it in the state, under the state lock (pushed with a git state):
    what plans made without the API key (plan --against-snapshot, a pull request's) plan
    against. An apply refreshes it too; run this where the key is, e.g. a scheduled job.
    With --show: only say what the state holds (no key, no lock, nothing written)."""
    import json

    from conn_reconcile.applyflow import ApplyRun, take_snapshot
    from conn_reconcile.state import State
    from conn_reconcile.workflow import load_state

    if show_only:
        state = load_state(inv.settings()) or State()
    else:
        state = take_snapshot(inv.settings(), ApplyRun(on_notice=inv.console.err))
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


def schema(inv: Invocation, config_schema: bool) -> None:
    """Print the JSON Schema of the connector file format (or, with --config, of conn-reconcile.yaml)."""
    import json

    from conn_reconcile.schema import config_json_schema, json_schema

    inv.console.out(json.dumps(config_json_schema() if config_schema else json_schema(), indent=2))


def config_(inv: Invocation, fmt: str) -> None:
    """Show every effective setting and where it comes from (default, conn-reconcile.yaml:LINE,
    environment variable, flag). The API key is shown as (set) or (unset), never its value."""
    from conn_reconcile.configview import render_config

    eff = inv.effective(require_env=False)
    envs = sorted(eff.config.environments) if eff.config is not None else []
    inv.console.out(render_config(eff.settings, envs, fmt), nl=False)


def secrets(inv: Invocation, fmt: str) -> None:
    """List every variable the connector files need (and the API key's), per environment
    (--env: only that one). Offline; prints names, never values."""
    from conn_reconcile.configfile import load_environments
    from conn_reconcile.configview import EnvNeeds, render_secrets, uses_of

    eff = inv.effective(require_env=False)
    needs = [EnvNeeds(name, eff.key_env_of(name), uses_of(desired)) for name, desired in load_environments(eff).items()]
    names = {n.api_key_env for n in needs} | {u.var for n in needs for u in n.uses}
    inv.console.out(render_secrets(needs, fmt, {n for n in names if os.environ.get(n)}), nl=False)


def emulator(inv: Invocation, host: str, port: int, data_file: Path | None, emulator_key: str | None) -> None:
    """Run the local Cohere connectors API emulator (for tests and demos)."""
    from conn_reconcile.emulator import serve

    serve(host, port, data_file, emulator_key)


VALIDATE = Command(
    "validate",
    validate,
    summary="Check connector files offline (also a pre-commit hook).",
    description="Check connector files offline (default: the config's dir, else connectors/). No API key or\n"
    "secrets needed. Without --env, the files are checked in every environment of conn-reconcile.yaml.",
    arguments=(Arg("paths", type=ANY_PATH, nargs="*", help="Connector files and directories (searched recursively)."),),
    options=(
        Opt("--format", dest="fmt", choices=("text", "github", "json"), default="text", show_default=True),
        Opt(
            "--against",
            dest="against",
            multiple=True,
            type=DIR_PATH,
            metavar="DIR",
            help="Also load the other connector files of this directory, only to check that names and pinned "
            "ids stay unique (clashes are reported on the files given). Repeatable.",
        ),
        Opt(
            "--exclude",
            dest="exclude",
            multiple=True,
            metavar="GLOB",
            help="Skip files whose path matches this glob (e.g. 'connectors/drafts/*'). Repeatable.",
        ),
    ),
)
IMPORT = Command(
    "import",
    import_,
    summary="Write one YAML file per remote connector, with pinned ids and ${VAR} secret placeholders.",
    options=(
        Opt(
            "--dir",
            dest="directory",
            type=DIR_PATH,
            default="connectors",
            show_default=True,
            metavar="DIR",
            help="Directory to write connector files into.",
        ),
        Opt("--overwrite", dest="overwrite", flag=True, help="Replace existing files of the same name."),
        Opt(
            "--update",
            dest="update",
            flag=True,
            help="Accept drift: rewrite the EXISTING files with the org's current non-secret values, keeping "
            "comments, key order and ${VAR} references (review the result as a pull request).",
        ),
    ),
)
FORCE_UNLOCK = Command(
    "force-unlock",
    force_unlock,
    summary="Remove the state lock LOCK_ID (printed by the run that found it held).",
    description=(force_unlock.__doc__ or "").replace("\n    ", "\n"),
    arguments=(Arg("lock_id", help="The lock's id, as the run that found it held printed it."),),
)
SNAPSHOT = Command(
    "snapshot",
    snapshot,
    summary="Keep a snapshot of the org in the state, for plans made without the API key.",
    description=(snapshot.__doc__ or "").replace("\n    ", "\n"),
    options=(
        Opt("--format", dest="fmt", choices=("text", "json"), default="text", show_default=True),
        Opt("--show", dest="show_only", flag=True, help="Only say what the state holds (no key needed)."),
    ),
)
SCHEMA = Command(
    "schema",
    schema,
    summary="Print the JSON Schema of the connector file format (or of conn-reconcile.yaml).",
    description="Print the JSON Schema of the connector file format (or, with --config, of conn-reconcile.yaml).",
    options=(Opt("--config", dest="config_schema", flag=True, help="The schema of conn-reconcile.yaml instead."),),
    global_options=False,
)
CONFIG = Command(
    "config",
    config_,
    summary="Show every effective setting and where it comes from.",
    description=(config_.__doc__ or "").replace("\n    ", "\n"),
    options=(Opt("--format", dest="fmt", choices=("text", "json"), default="text", show_default=True),),
)
SECRETS = Command(
    "secrets",
    secrets,
    summary="List every variable the connector files need, per environment (names, never values).",
    description=(secrets.__doc__ or "").replace("\n    ", "\n"),
    options=(
        Opt(
            "--format",
            dest="fmt",
            choices=("text", "json", "github-env"),
            default="text",
            show_default=True,
            help="github-env: 'NAME: ${{ secrets.NAME }}' lines for a workflow step's env: block.",
        ),
    ),
)
EMULATOR = Command(
    "emulator",
    emulator,
    summary="Run the local Cohere connectors API emulator (for tests and demos).",
    options=(
        Opt("--host", dest="host", default="127.0.0.1", show_default=True, metavar="HOST"),
        Opt("--port", dest="port", type=IntRange(0, 65535), default=8080, show_default=True, metavar="PORT"),
        Opt(
            "--data",
            dest="data_file",
            type=FILE_PATH,
            metavar="PATH",
            help="Persist the emulated org in this JSON file.",
        ),
        Opt("--api-key", dest="emulator_key", metavar="KEY", help="Accept only this API key (default: any)."),
    ),
    global_options=False,
)
