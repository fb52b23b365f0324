"""The click command ``authorize``: the URL at which the API key's user authorizes an OAuth
connector, printed alone on stdout and escaped (it is remote data); what it is for on stderr.
The workflow (``workflows.oauth``) is imported inside it."""

from __future__ import annotations

from typing import Any

import click

from conn_reconcile.cli.options import Invocation, command


class HttpUrl(click.ParamType[str]):
    """An absolute http(s) URL (``--redirect``): anything else is a usage error."""

    name = "url"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from urllib.parse import urlsplit

        parts = urlsplit(str(value))
        if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
            self.fail(f"{value!r} is not an absolute http(s) URL.", param, ctx)
        return str(value)


@command(
    "authorize",
    examples=(
        ("conn-reconcile authorize team-drive", "The URL to open to authorize team-drive as the API key's user."),
        (
            "conn-reconcile authorize team-drive --redirect https://intranet.example.com/connected",
            "The same; once authorized, the browser goes to that page.",
        ),
        ("conn-reconcile authorize team-drive --env prod -q", "Only the URL, for the org of the environment prod."),
    ),
)
@click.argument("name")
@click.option(
    "--redirect",
    type=HttpUrl(),
    metavar="URL",
    help="Where the browser goes once the user has authorized (an absolute http(s) URL; the API's "
    "after_token_redirect).",
)
def authorize(inv: Invocation, name: str, redirect: str | None) -> None:
    """Print the URL at which the API key's user authorizes the OAuth connector NAME.

    Cohere keeps one authorization per user: each user of an OAuth connector opens such a URL
    once (and again when plan shows it expired), with their own API key. NAME is the name the
    state manages (or the org's only connector of that name, or an id). A connector without
    OAuth, or a name the org does not have, is refused (exit 1) with nothing sent but the listing.

    NAME: the connector's name."""
    from conn_reconcile.escape import escape
    from conn_reconcile.output.oauth import STATUS_WORDS
    from conn_reconcile.workflows.oauth import authorize as authorize_url

    found = authorize_url(inv.session, name, redirect=redirect)
    c = found.connector
    now = STATUS_WORDS.get(c.auth_status or "", f"unknown status {c.auth_status!r}")
    inv.console.info(
        f"Open this URL in a browser to authorize {escape(c.name)} ({c.id}) as the API key's user (now: {escape(now)}):"
    )
    inv.console.out(escape(found.url))
