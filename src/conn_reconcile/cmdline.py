"""The command-line parser: options declared once, parsed with :mod:`argparse`, and where each
value came from (the command line, an environment variable, or the default).

A program is global options and commands. Global options are accepted before the command and
after it (``conn-reconcile plan -q``): the words before the command are parsed by the program's
parser, the rest by the command's, which takes the global options too (hidden from its help);
a value given after the command wins. Options and positional arguments may be mixed in any
order. Defaults are applied here, after parsing, so the source of every value is known.

Nothing here imports pathlib or dataclasses: ``--help`` must stay fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence

TYPE_CHECKING = False  # as typing's, which --help does not import
if TYPE_CHECKING:
    from typing import Any

#: where a value came from
COMMANDLINE = "commandline"
ENVIRONMENT = "environment"
DEFAULT = "default"
HELP_WIDTH = 100


class UsageError(Exception):
    """Bad words on the command line (exit code 2); ``prog`` names the parser that refused them."""

    def __init__(self, message: str, prog: str = "conn-reconcile", usage: str = ""):
        super().__init__(message)
        self.prog, self.usage = prog, usage

    def render(self) -> str:
        return f"{self.usage}Try '{self.prog} --help' for help.\n\nError: {self}\n"


class HelpShown(Exception):
    """``--help`` or ``--version`` was printed."""


# --- value types: each converts one word or raises ValueError with a message -----------------


class IntRange:
    def __init__(self, lo: int | None = None, hi: int | None = None):
        self.lo, self.hi = lo, hi

    def __call__(self, text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a valid integer") from None
        if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
            raise ValueError(f"{value} is not in the range {_range(self.lo, self.hi)}")
        return value


class FloatRange:
    def __init__(self, lo: float, *, lo_open: bool = False):
        self.lo, self.lo_open = lo, lo_open

    def __call__(self, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a valid number") from None
        if value != value or value < self.lo or (self.lo_open and value == self.lo):  # NaN never fits
            raise ValueError(f"{text} is not in the range x{'>' if self.lo_open else '>='}{self.lo:g}")
        return value


def _range(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f"{lo}<=x<={hi}"
    return f"x>={lo}" if lo is not None else f"x<={hi}"


class PathType:
    """A path word: refused when it names an existing directory where a file is expected (or
    the reverse). ``as_path``: converted to :class:`pathlib.Path` (imported only then)."""

    def __init__(self, *, file_okay: bool = True, dir_okay: bool = True, as_path: bool = True):
        self.file_okay, self.dir_okay, self.as_path = file_okay, dir_okay, as_path

    def __call__(self, text: str) -> Any:
        if not text:
            raise ValueError("an empty path")
        if not self.dir_okay and os.path.isdir(text):
            raise ValueError(f"{text!r} is a directory")
        if not self.file_okay and os.path.exists(text) and not os.path.isdir(text):
            raise ValueError(f"{text!r} is a file")
        if not self.as_path:
            return text
        from pathlib import Path

        return Path(text)


# --- declarations ---------------------------------------------------------------------------


class Opt:
    """One option. ``flag``: takes no value (``negative``: the word that sets it false, as in
    ``--color/--no-color``); ``multiple``: repeatable, a tuple; ``envvar``: read when not given."""

    def __init__(
        self,
        *flags: str,
        dest: str,
        type: Callable[[str], Any] | None = None,
        choices: Sequence[str] | None = None,
        flag: bool = False,
        negative: str | None = None,
        multiple: bool = False,
        default: Any = None,
        envvar: str | None = None,
        metavar: str | None = None,
        help: str = "",
        show_default: bool = False,
    ):
        self.flags, self.dest, self.type, self.choices = flags, dest, type, choices
        self.flag, self.negative, self.multiple = flag, negative, multiple
        if default is None and negative is None:  # a --x/--no-x pair stays None when neither is given
            default = () if multiple else (False if flag else None)
        self.default = default
        self.envvar, self.metavar, self.help, self.show_default = envvar, metavar, help, show_default

    @property
    def takes_value(self) -> bool:
        return not self.flag and self.negative is None

    @property
    def name(self) -> str:
        """The option's longest flag, as a message names it."""
        return max(self.flags, key=len)

    def add(self, parser: argparse.ArgumentParser, *, hidden: bool = False) -> None:
        text = argparse.SUPPRESS if hidden else self._help()
        common: dict[str, Any] = {"dest": self.dest, "default": argparse.SUPPRESS, "help": text}
        if self.negative is not None:
            parser.add_argument(*self.flags, self.negative, action=_Toggle, nargs=0, **common)
        elif self.flag:
            parser.add_argument(*self.flags, action="store_true", **common)
        else:
            action = "append" if self.multiple else "store"
            kw: dict[str, Any] = {"choices": self.choices} if self.choices else {}
            kw.update(action=action, type=_for_argparse(self.type), metavar=self._metavar())
            parser.add_argument(*self.flags, **kw, **common)

    def _metavar(self) -> str | None:
        if self.metavar is not None:
            return self.metavar
        return None if self.choices else self.dest.upper()

    def _help(self) -> str:
        text = _help_text(self.help)
        if self.show_default and self.default not in (None, ()):
            text = f"{text} (default: {self.default})".lstrip()
        return text

    def converted_default(self) -> Any:
        if self.type is None or not isinstance(self.default, str):
            return self.default
        return self.type(self.default)

    def from_env(self, environ: Mapping[str, str]) -> tuple[bool, Any]:
        """``(True, value)`` when the option's environment variable is set (and not empty).
        Only options taking one value, of any choice, have a variable."""
        if self.envvar is None or not environ.get(self.envvar):
            return False, None
        assert not (self.flag or self.multiple or self.choices), self.name
        raw = environ[self.envvar]
        try:
            return True, raw if self.type is None else self.type(raw)
        except ValueError as exc:
            raise UsageError(f"invalid value for {self.name} (environment variable {self.envvar}): {exc}") from None


def _for_argparse(convert: Callable[[str], Any] | None) -> Callable[[str], Any]:
    """A value type as argparse calls it: its ValueError becomes argparse's own error (no
    type: the word as it is)."""
    if convert is None:
        return str

    def call(text: str) -> Any:
        try:
            return convert(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return call


def _help_text(text: str) -> str:
    return text.replace("%", "%%")  # argparse %-formats help texts


class _Toggle(argparse.Action):
    """``--x`` sets true, its ``--no-x`` false."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, not (option_string or "").startswith("--no-"))


class Arg:
    """A positional argument: ``nargs`` None (one), ``"?"`` (optional) or ``"*"`` (any number)."""

    def __init__(
        self,
        dest: str,
        *,
        type: Callable[[str], Any] | None = None,
        nargs: str | None = None,
        help: str = "",
    ):
        self.dest, self.type, self.nargs, self.help = dest, type, nargs, help

    def add(self, parser: argparse.ArgumentParser) -> None:
        kw: dict[str, Any] = {"nargs": self.nargs} if self.nargs else {}
        if self.nargs == "?":
            kw["default"] = None
        text = _help_text(self.help)
        parser.add_argument(self.dest, type=_for_argparse(self.type), metavar=self.dest.upper(), help=text, **kw)


class Command:
    """A command: its options and arguments, and ``run(invocation, **values)``."""

    def __init__(
        self,
        name: str,
        run: Callable[..., int | None],
        *,
        summary: str,
        description: str = "",
        options: Sequence[Opt] = (),
        arguments: Sequence[Arg] = (),
        global_options: bool = True,
    ):
        self.name, self.run, self.summary = name, run, summary
        self.description = description or summary
        self.options, self.arguments, self.global_options = tuple(options), tuple(arguments), global_options


class Program:
    def __init__(
        self, name: str, *, description: str, version: str, options: Sequence[Opt], commands: Sequence[Command]
    ):
        self.name, self.description, self.version = name, description, version
        self.options, self.commands = tuple(options), {c.name: c for c in commands}


class Parsed:
    """The command, every value (given, from the environment, or the default) and its source."""

    def __init__(self, command: Command, values: dict[str, Any], sources: dict[str, tuple[str, str]]):
        self.command, self.values = command, values
        #: dest -> (COMMANDLINE | ENVIRONMENT | DEFAULT, the flag or variable)
        self.sources = sources


# --- parsing --------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse prints and exits; we raise
        raise UsageError(message, self.prog, self.format_usage())

    def exit(self, status: int = 0, message: str | None = None) -> Any:
        if status:
            raise UsageError((message or "bad usage").strip(), self.prog, self.format_usage())
        if message:
            sys.stdout.write(message)
        raise HelpShown()


def _formatter(prog: str) -> argparse.HelpFormatter:
    try:
        columns = os.get_terminal_size(sys.__stdout__.fileno()).columns if sys.__stdout__ else HELP_WIDTH
    except (OSError, ValueError):
        columns = int(os.environ.get("COLUMNS", "0") or 0) or HELP_WIDTH
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32, width=min(HELP_WIDTH, columns) - 2)


def _top_parser(program: Program) -> _Parser:
    listing = "\n".join(f"  {c.name:<14} {c.summary}" for c in program.commands.values())
    parser = _Parser(
        prog=program.name,
        usage=f"{program.name} [OPTIONS] COMMAND [ARGS]...",
        description=f"{program.description}\n\ncommands:\n{listing}",
        formatter_class=_formatter,
        allow_abbrev=False,
        add_help=False,
    )
    parser.add_argument("-h", "--help", action="help", help="Show this message and exit.")
    parser.add_argument(
        "--version", action="version", version=f"{program.name}, version {program.version}", help="Show the version."
    )
    for option in program.options:
        option.add(parser)
    return parser


def command_parser(program: Program, command: Command) -> _Parser:
    parser = _Parser(
        prog=f"{program.name} {command.name}",
        description=command.description,
        epilog=f"The global options ({program.name} --help) are accepted here too." if command.global_options else None,
        formatter_class=_formatter,
        allow_abbrev=False,
        add_help=False,
    )
    parser.add_argument("-h", "--help", action="help", help="Show this message and exit.")
    for argument in command.arguments:
        argument.add(parser)
    for option in command.options:
        option.add(parser)
    if command.global_options:
        own = {f for o in command.options for f in o.flags}
        for option in program.options:
            if not own & set(option.flags):
                option.add(parser, hidden=True)
    return parser


def _valued(options: Iterable[Opt]) -> set[str]:
    """The flags of ``options`` that take a value (the next word)."""
    return {f for o in options if o.takes_value for f in o.flags}


def _next_argument(words: Sequence[str], valued: set[str]) -> int:
    """The index of the first word that is neither an option nor an option's value, or of
    ``--``; ``len(words)`` when there is none."""
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--" or not word.startswith("-") or word == "-":
            return i
        i += 2 if word in valued else 1
    return len(words)


def split(program: Program, argv: Sequence[str]) -> tuple[list[str], str | None, list[str]]:
    """The words before the command, the command, the words after it."""
    i = _next_argument(argv, _valued(program.options))
    if i < len(argv) and argv[i] == "--":  # the command is the word after it
        return list(argv[:i]), (argv[i + 1] if i + 1 < len(argv) else None), list(argv[i + 2 :])
    return list(argv[:i]), (argv[i] if i < len(argv) else None), list(argv[i + 1 :])


def _options_first(words: Sequence[str], valued: set[str]) -> list[str]:
    """``words`` with the options (and their values) first, then ``--`` and the positional
    words in their order: argparse then reads options and arguments given in any order, and
    arguments given after ``--`` that start with a dash."""
    options: list[str] = []
    positionals: list[str] = []
    rest = list(words)
    while rest:
        i = _next_argument(rest, valued)
        options += rest[:i]
        if i < len(rest) and rest[i] == "--":
            positionals += rest[i + 1 :]
            break
        positionals += rest[i : i + 1]
        rest = rest[i + 1 :]
    return [*options, "--", *positionals] if positionals else options


def parse(program: Program, argv: Sequence[str], environ: Mapping[str, str]) -> Parsed:
    """Parse ``argv``; raises :class:`UsageError` or :class:`HelpShown` (help already printed)."""
    before, name, after = split(program, argv)
    top = _top_parser(program)
    first = vars(top.parse_args(before))
    if name is None:
        raise UsageError("missing command", program.name, top.format_help() if not argv else top.format_usage())
    command = program.commands.get(name)
    if command is None:
        known = ", ".join(program.commands)
        raise UsageError(f"no such command {name!r} (commands: {known})", program.name, top.format_usage())
    valued = _valued((*program.options, *command.options))
    second = vars(command_parser(program, command).parse_args(_options_first(after, valued)))
    values: dict[str, Any] = {}
    sources: dict[str, tuple[str, str]] = {}
    for option in program.options:
        given = second if option.dest in second else first
        _resolve(option, given, environ, values, sources)
    for option in command.options:
        _resolve(option, second, {}, values, sources)
    for argument in command.arguments:
        value = second.get(argument.dest)
        values[argument.dest] = tuple(value) if isinstance(value, list) else value  # nargs="*": a tuple
        sources[argument.dest] = (COMMANDLINE, argument.dest.upper())
    return Parsed(command, values, sources)


def _resolve(
    option: Opt, given: Mapping[str, Any], environ: Mapping[str, str], values: dict[str, Any], sources: dict[str, Any]
) -> None:
    if option.dest in given:
        value = given[option.dest]
        values[option.dest] = tuple(value) if option.multiple else value
        sources[option.dest] = (COMMANDLINE, option.name)
        return
    found, value = option.from_env(environ)
    if found:
        values[option.dest], sources[option.dest] = value, (ENVIRONMENT, option.envvar)
        return
    try:
        values[option.dest] = option.converted_default()
    except ValueError as exc:
        raise UsageError(f"invalid default for {option.name}: {exc}") from None
    sources[option.dest] = (DEFAULT, "")
