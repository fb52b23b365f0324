"""The command line: the ``conn-reconcile`` group, its global options, and ``main``.

The commands live in :mod:`conn_reconcile.commands_plan` (plan, show, apply) and
:mod:`conn_reconcile.commands_tools` (validate, import, secrets, config, schema, force-unlock,
emulator). Heavy modules (httpx, deepdiff, ruamel) are imported inside the commands
so that ``conn-reconcile --help`` stays fast.
"""

from __future__ import annotations

import click

from conn_reconcile import __version__, globalopts
from conn_reconcile.commands_plan import apply, plan, show
from conn_reconcile.commands_tools import config_, emulator, force_unlock, import_, schema, secrets, validate
from conn_reconcile.console import Console, Group

__all__ = ["Console", "cli", "main"]

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

for _command in (validate, plan, show, apply, import_, force_unlock, schema, config_, secrets, emulator):
    cli.add_command(_command)
globalopts.add_to(validate, plan, show, apply, import_, force_unlock, config_, secrets)


def main() -> None:
    cli(prog_name="conn-reconcile")
