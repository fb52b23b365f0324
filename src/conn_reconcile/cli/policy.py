"""The ``policy`` command: the policy rules of conn-reconcile.yaml in effect in an environment,
each with where it is set (offline; what validate, plan and apply enforce)."""

from __future__ import annotations

import click

from conn_reconcile.cli.options import Invocation, command


@command(
    "policy",
    require_env=False,
    examples=(
        ("conn-reconcile policy", "The rules of conn-reconcile.yaml's top level (no environment selected)."),
        ("conn-reconcile policy --env prod", "The rules in effect in the environment prod, and where each is set."),
        ("conn-reconcile policy --env prod --format json", "The same, as JSON."),
    ),
)
@click.option(
    "--format", "fmt", type=click.Choice(("text", "json")), default="text", show_default=True, help="Output format."
)
def policy(inv: Invocation, fmt: str) -> None:
    """Show the policy rules in effect (with --env: in that environment, whose lists add to the
    top level's and whose other rules replace them), each with where it is set. validate, plan
    and apply refuse a connector that breaks one. Offline."""
    from conn_reconcile.output.configview import render_policy

    settings = inv.settings
    rendered = render_policy(settings.context.policy, settings.environment, sorted(settings.environments), fmt)
    inv.console.out(rendered, nl=False)
