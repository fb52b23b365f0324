"""Shell completion for bash, zsh and fish.

``_CONN_RECONCILE_COMPLETE=bash_source conn-reconcile`` prints a script for the shell; the
script calls ``conn-reconcile`` back with ``_CONN_RECONCILE_COMPLETE=<shell>_complete`` and the
words typed so far in ``COMP_WORDS`` / ``COMP_CWORD``, and gets one candidate per line:
commands, the options of the command being typed (global ones included), the choices of an
option. Where a value is a path (or anything else), no candidate is printed and the shell
completes file names.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

from conn_reconcile.cmdline import Opt, Program, split

_BASH = """\
_conn_reconcile_completion() {
    local IFS=$'\\n'
    COMPREPLY=( $(env COMP_WORDS="${COMP_WORDS[*]}" COMP_CWORD="$COMP_CWORD" \\
        _CONN_RECONCILE_COMPLETE=bash_complete conn-reconcile) )
    return 0
}
complete -o default -F _conn_reconcile_completion conn-reconcile
"""
_ZSH = """\
#compdef conn-reconcile
_conn_reconcile_completion() {
    local -a candidates
    candidates=("${(@f)$(env COMP_WORDS="${words[*]}" COMP_CWORD="$((CURRENT-1))" \\
        _CONN_RECONCILE_COMPLETE=zsh_complete conn-reconcile)}")
    if [[ -n "${candidates[1]}" ]]; then
        compadd -a candidates
    else
        _files
    fi
}
compdef _conn_reconcile_completion conn-reconcile
"""
_FISH = """\
function _conn_reconcile_completion
    set -l candidates (env COMP_WORDS=(commandline -cp) COMP_CWORD= \\
        _CONN_RECONCILE_COMPLETE=fish_complete conn-reconcile)
    if test (count $candidates) -gt 0
        printf '%s\\n' $candidates
    else
        __fish_complete_path (commandline -ct)
    end
end
complete --no-files --command conn-reconcile --arguments '(_conn_reconcile_completion)'
"""
SCRIPTS = {"bash": _BASH, "zsh": _ZSH, "fish": _FISH}


def complete(program: Program, environ: Mapping[str, str]) -> int:
    """Print the script (``<shell>_source``) or the candidates (``<shell>_complete``)."""
    shell, _, what = environ.get("_CONN_RECONCILE_COMPLETE", "").partition("_")
    if shell not in SCRIPTS or what not in ("source", "complete"):
        sys.stderr.write("_CONN_RECONCILE_COMPLETE: expected bash_source, zsh_source or fish_source\n")
        return 1
    if what == "source":
        sys.stdout.write(SCRIPTS[shell])
        return 0
    line = environ.get("COMP_WORDS", "")
    words = line.split()
    if shell == "fish":  # the line as typed: the word being completed is empty after a space
        cword = len(words) if line.endswith(" ") or not words else len(words) - 1
    else:
        try:
            cword = int(environ.get("COMP_CWORD", ""))
        except ValueError:
            cword = len(words)
    for candidate in candidates(program, words[1:], cword - 1):
        sys.stdout.write(candidate + "\n")
    return 0


def candidates(program: Program, words: list[str], index: int) -> list[str]:
    """What may be typed at ``words[index]`` (after the program's name)."""
    typed = words[:index]
    current = words[index] if 0 <= index < len(words) else ""
    _, name, _ = split(program, typed)
    command = program.commands.get(name or "")
    if name is not None and command is None:
        return []
    options: list[Opt] = list(program.options)
    if command is not None:
        options = [*command.options, *(program.options if command.global_options else ())]
    previous = next((o for o in options if o.takes_value and typed and typed[-1] in o.flags), None)
    if previous is not None:  # the option's value: its choices, else file names
        return [c for c in previous.choices or () if c.startswith(current)]
    if current.startswith("-"):
        flags = [f for o in options for f in (*o.flags, o.negative or "") if f.startswith("--")]
        return [f for f in ("--help", *flags) if f.startswith(current)]
    return [c for c in program.commands if c.startswith(current)] if name is None else []
