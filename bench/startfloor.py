"""The start-up floor of ``validate`` on a few files, as long as the tool keeps ruamel: a
minimal program that loads what any such ``validate`` must load (argparse for its command
line, pathlib, and libyaml's parser from ruamel.yaml.clib, whose import loads ruamel.yaml
whole), reads the files given and walks their events, checking each is a mapping.

``startfloor.py validate FILE...``: exit 0 when every file is a mapping.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _ruamel_yaml import CParser  # ruamel.yaml.clib
from ruamel.yaml.events import MappingStartEvent, StreamEndEvent


def main() -> int:
    parser = argparse.ArgumentParser(prog="startfloor")
    parser.add_argument("command", choices=["validate"])
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
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
