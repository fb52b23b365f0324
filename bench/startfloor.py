"""Start-up floors on the tool's own stack, timed like the tool (imported, so its bytecode is cached
as the tool's is): ``startfloor.py validate FILE...`` and ``startfloor.py help``."""

from __future__ import annotations

import sys

COMMANDS = (
    "validate",
    "plan",
    "show",
    "apply",
    "import",
    "snapshot",
    "force-unlock",
    "schema",
    "config",
    "secrets",
    "emulator",
)
VALUED = ("config", "env", "api-url", "api-key", "state", "lock-timeout", "timeout", "deadline")


def print_help() -> int:
    """A minimal click group with the tool's commands and global options, printing its help."""
    import click

    @click.group(help="A program with the tool's shape.")
    @click.version_option("0")
    def group() -> None:
        pass

    for name in VALUED:
        group.params.append(click.Option([f"--{name}"], metavar="VALUE", help=f"The {name} option."))
    group.params.append(click.Option(["-q", "--quiet"], is_flag=True, help="Only print errors and the summary."))
    group.params.append(click.Option(["--color/--no-color"], default=None, help="Force colours on or off."))
    for name in COMMANDS:
        group.add_command(click.Command(name, help=f"What {name} does, in one line."))
    return group.main(["--help"], prog_name="startfloor", standalone_mode=False) or 0


def validate(paths: list[str]) -> int:
    """What any ``validate`` on this stack must load and do, without a command line: ruamel's C
    parser and a pydantic model of the connector file, each file parsed and validated. Exit 0
    when all are valid."""
    from floor import Connector, load
    from pydantic import ValidationError

    for path in paths:
        with open(path, "rb") as fh:
            doc = load(fh.read().decode("utf-8"))
        try:
            Connector.model_validate(doc)
        except ValidationError as exc:
            print(f"startfloor: {path}: {exc.error_count()} problem(s)", file=sys.stderr)
            return 1
    print(f"{len(paths)} file(s) valid.", file=sys.stderr)
    return 0


def main() -> int:
    args = sys.argv[1:]
    if args == ["help"]:
        return print_help()
    if args[:1] == ["validate"] and len(args) > 1:
        return validate(args[1:])
    print("usage: startfloor.py help | validate FILE...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
