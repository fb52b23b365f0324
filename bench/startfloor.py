"""Start-up floors: the least a command line must load and do, with the standard library's
parser, timed like the tool (it imports ``re`` first, as the console script pip writes for
the tool does).

* ``startfloor.py validate FILE...``: what any ``validate`` keeping ruamel must load (argparse,
  pathlib, and libyaml's parser from ruamel.yaml.clib, whose import loads ruamel.yaml whole);
  reads the files and walks their events, checking each is a mapping. Exit 0 when all are.
* ``startfloor.py help``: an argparse program with as many global options (eight taking a
  value, two flags, --version) and commands (ten) as the tool, printing its help.
"""

from __future__ import annotations

import argparse
import re  # noqa: F401 - as the tool's console script does
import sys
from pathlib import Path

COMMANDS = ("validate", "plan", "show", "apply", "import", "force-unlock", "schema", "config", "secrets", "emulator")
WORDS = "Described at about the length of the tool's own help for its options, which wraps onto a second line."
VALUED = ("config", "env", "api-url", "api-key", "state", "lock-timeout", "timeout", "deadline")


def print_help() -> int:
    listing = "\n".join(f"  {name:<14} what {name} does, in one line" for name in COMMANDS)
    parser = argparse.ArgumentParser(
        prog="startfloor",
        usage="startfloor [OPTIONS] COMMAND [ARGS]...",
        description=f"A program with the tool's shape.\n\ncommands:\n{listing}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for name in VALUED:
        parser.add_argument(f"--{name}", metavar="VALUE", help=f"The {name} option. {WORDS}")
    parser.add_argument("-q", "--quiet", action="store_true", help="Only print errors and the summary.")
    parser.add_argument("--color", action=argparse.BooleanOptionalAction, help="Force colours on or off.")
    parser.add_argument("--version", action="version", version="startfloor 0")
    parser.parse_args(["--help"])
    return 0


def main() -> int:
    if sys.argv[1:] == ["help"]:
        return print_help()
    parser = argparse.ArgumentParser(prog="startfloor")
    parser.add_argument("command", choices=["validate"])
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    from _ruamel_yaml import CParser  # ruamel.yaml.clib
    from ruamel.yaml.events import MappingStartEvent, StreamEndEvent

    for path in args.files:
        events = CParser(path.read_bytes().decode("utf-8"))
        kinds = []
        while True:
            event = events.get_event()
            kinds.append(type(event))
            if event is None or isinstance(event, StreamEndEvent):
                break
        events.dispose()
        if len(kinds) < 3 or kinds[2] is not MappingStartEvent:  # stream start, document start, the root
            print(f"startfloor: {path}: not a mapping", file=sys.stderr)
            return 1
    print(f"{len(args.files)} file(s) valid.", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
