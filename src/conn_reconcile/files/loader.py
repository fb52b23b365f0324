"""Loading connector files: discovery -> hardened YAML -> strict models -> ``Desired``, every
problem of every file (YAML, validation, cross-file uniqueness) located at ``file:line:col`` by
the YAML walk's marks, with hints (:func:`hint`) and never a field's value (it may be a secret).
"""

from __future__ import annotations

import fnmatch
import posixpath
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from conn_reconcile.config.environments import needs_environments, prepare
from conn_reconcile.config.sources import EnvContext
from conn_reconcile.errors import Diagnostic, InputError
from conn_reconcile.files.discovery import MAX_FILE_BYTES, Found, discover, read_bytes, scan
from conn_reconcile.files.gcpause import paused
from conn_reconcile.files.yamlsafe import Parsed, parse_yaml
from conn_reconcile.files.yamlwalk import MAX_DEPTH
from conn_reconcile.model.connector import (
    SPEC_MESSAGES,
    ConnectorSpec,
    Desired,
    check_unique,
    get_path,
    locate,
    validate_strict,
)
from conn_reconcile.model.validation import Problem

__all__ = ["MAX_DEPTH", "MAX_FILE_BYTES", "discover", "is_excluded", "load", "load_bytes", "load_each"]

NO_ENV = EnvContext()

#: Words YAML 1.1 read as booleans; YAML 1.2 (and so this tool) reads them as strings.
_YAML11_BOOLS = frozenset({"y", "yes", "n", "no", "on", "off"})
_AUTH_KEYS = ("oauth", "service_auth")


def load(
    paths: Sequence[str | Path] | str | Path,
    *,
    require_files: bool = False,
    against: Sequence[str | Path] = (),
    exclude: Sequence[str] = (),
    exclude_root: str | None = None,
    context: EnvContext = NO_ENV,
) -> list[Desired]:
    """Load and validate every connector file under ``paths``, as it is in ``context``'s
    environment.

    Each path is a directory (``*.yaml``/``*.yml`` found recursively, sorted) or a file
    (taken as given). Files matching an ``exclude`` glob (see :func:`is_excluded`) are not
    connectors and are skipped. Finding no file at all returns ``[]``, unless
    ``require_files``. With ``against`` (directories), the other connector files there are
    loaded too, only for the cross-file checks: a duplicate name or pinned id is reported on
    the file in ``paths``, and problems of the other files are not reported at all.
    Raises :class:`InputError` with every problem found.
    """
    return load_each(
        paths, (context,), require_files=require_files, against=against, exclude=exclude, exclude_root=exclude_root
    )[context.name]


def load_each(
    paths: Sequence[str | Path] | str | Path,
    contexts: Sequence[EnvContext],
    *,
    require_files: bool = False,
    against: Sequence[str | Path] = (),
    exclude: Sequence[str] = (),
    exclude_root: str | None = None,
) -> dict[str | None, list[Desired]]:
    """:func:`load` for several environments at once (each file read and parsed once): the
    connectors of each environment, by name. Raises one :class:`InputError` with every
    problem of every environment."""
    with paused():  # thousands of files' data, built in bulk and free of cycles (see gcpause)
        return _load_each(paths, contexts, require_files, against, exclude, exclude_root)


def _load_each(
    paths: Sequence[str | Path] | str | Path,
    contexts: Sequence[EnvContext],
    require_files: bool,
    against: Sequence[str | Path],
    exclude: Sequence[str],
    exclude_root: str | None,
) -> dict[str | None, list[Desired]]:
    if isinstance(paths, str | Path):
        paths = [paths]
    found, problems, dir_args = scan(paths)
    found = [f for f in found if not is_excluded(f.display, exclude, exclude_root)]
    if require_files and not found:
        for shown in dir_args:
            problems.append(Diagnostic(shown, None, None, None, f"no connector files found under {shown}"))
        if not dir_args and not problems:
            problems.append(Diagnostic(".", None, None, None, "no connector files given"))
    built = _build_each(found, contexts, problems)
    others = _others(against, {(f.dev, f.ino) for f in found}, exclude, exclude_root) if against else []
    seen = set(problems)
    result: dict[str | None, list[Desired]] = {}
    for ctx in contexts:
        desired, found_problems = built[ctx.name]
        if against:
            checked = {d.file for d in desired}
            context_others = [d for d in (_build(f, o, ctx, e)[0] for f, o, e in others) if d is not None]
            unique = check_unique(context_others + desired, checked=checked)
            found_problems.extend(p for p in unique if p.file in checked)
        else:
            found_problems.extend(check_unique(desired))
        for p in found_problems:
            if p not in seen:
                seen.add(p)
                problems.append(p)
        result[ctx.name] = desired
    if problems:
        raise InputError(problems)
    return result


def _build_each(
    found: Sequence[Found], contexts: Sequence[EnvContext], problems: list[Diagnostic]
) -> dict[str | None, tuple[list[Desired], list[Diagnostic]]]:
    """Each context's connectors and their problems; a file's read and parse problems go to
    ``problems``. Each file is built as soon as it is parsed, so that its parsed data is gone
    before the next file is read."""
    built: dict[str | None, tuple[list[Desired], list[Diagnostic]]] = {ctx.name: ([], []) for ctx in contexts}
    for f in found:
        raw = read_bytes(f)
        if isinstance(raw, Diagnostic):
            problems.append(raw)
            continue
        one = parse_yaml(raw, f.display)
        problems.extend(one.problems)
        if one.data is None:
            continue
        envy = needs_environments(raw)
        for ctx in contexts:
            desired, found_problems = built[ctx.name]
            d, file_problems = _build(f.display, one, ctx, envy)
            found_problems.extend(file_problems)
            if d is not None:
                desired.append(d)
    return built


def _others(
    against: Sequence[str | Path], seen: set[tuple[int, int]], exclude: Sequence[str], root: str | None
) -> list[tuple[str, Parsed, bool]]:
    """The parsed connector files under ``against`` that are not ``seen`` (device, inode):
    loaded only for the cross-file checks; their own problems are not reported here."""
    found, _, _ = scan(against)
    others: list[tuple[str, Parsed, bool]] = []
    for f in found:
        if (f.dev, f.ino) in seen or is_excluded(f.display, exclude, root):
            continue
        raw = read_bytes(f)
        if isinstance(raw, Diagnostic):
            continue
        one = parse_yaml(raw, f.display)
        if one.data is not None and not one.problems:
            others.append((f.display, one, needs_environments(raw)))
    return others


def is_excluded(display: str, patterns: Sequence[str], root: str | None = None) -> bool:
    """Whether a file matches an ``exclude`` glob: a pattern without ``/`` is matched against
    the file's name (at any depth, like ``.gitignore``), one with ``/`` against its path
    relative to ``root`` (the connector directory); any pattern also against the path as
    displayed, at its end (``drafts/*`` excludes ``connectors/drafts/wip.yaml``)."""
    if not patterns:
        return False
    shown = display.replace("\\", "/")
    if any(fnmatch.fnmatchcase(shown, p) or fnmatch.fnmatchcase(shown, f"*/{p}") for p in patterns):
        return True
    path = posixpath.normpath(display)
    name = path.rpartition("/")[2]
    rel = None
    if root is not None:
        base = posixpath.normpath(root)
        if base == ".":
            rel = path
        elif path.startswith(base + "/"):
            rel = path[len(base) + 1 :]
    for pattern in patterns:
        if "/" in pattern:
            if rel is not None and fnmatch.fnmatchcase(rel, pattern.strip("/")):
                return True
        elif fnmatch.fnmatchcase(name, pattern):
            return True
    return False


def load_bytes(raw: bytes, file: str, context: EnvContext = NO_ENV) -> tuple[Desired | None, list[Diagnostic]]:
    """Parse and validate one file's content; ``file`` is only used to label diagnostics."""
    parsed = parse_yaml(raw, file)
    if parsed.data is None:
        return None, list(parsed.problems)
    desired, problems = _build(file, parsed, context, needs_environments(raw))
    return desired, list(parsed.problems) + problems


def _build(file: str, parsed: Parsed, ctx: EnvContext, envy: bool) -> tuple[Desired | None, list[Diagnostic]]:
    """One file's connector in ``ctx``'s environment (None when it does not exist there)."""
    data = parsed.data
    problems: list[Diagnostic] = []
    if isinstance(data, dict) and (envy or ctx.overrides):
        data, problems = prepare(data, parsed.locations, file, ctx)
        if data is None or problems:
            return None, problems
    spec, errors = validate_strict(ConnectorSpec, data, SPEC_MESSAGES)
    if errors:
        problems.extend(_diagnostic(file, data, parsed.locations, p) for p in errors)
    if spec is None or problems or parsed.problems:
        return None, problems
    return Desired(spec, file, parsed.locations), []


def _diagnostic(file: str, data: dict[str, Any], locations: Mapping[str, tuple[int, int]], p: Problem) -> Diagnostic:
    field = p.path
    if not field and all(k in data for k in _AUTH_KEYS):
        # The one model-level rule: point at whichever auth block comes second.
        field = max(_AUTH_KEYS, key=lambda k: locations.get(k, (0, 0)))
    line, col = locate(locations, field)
    return Diagnostic(file, line, col, field or None, p.message + hint(ConnectorSpec, data, p))


def hint(model: type[BaseModel], data: Any, problem: Problem) -> str:
    """What to add to ``problem`` of a YAML file validated as ``model``: the field meant by an
    unknown key, how to write a boolean, when to quote text. Never the value itself, but the
    YAML 1.1 boolean word it is."""
    if problem.type == "extra_forbidden":
        import difflib  # only for a file with an unknown key

        parent, _, last = problem.path.rpartition(".")
        known = [name for t in _types_at(model, parent) if _is_model(t) for name in t.model_fields]
        close = difflib.get_close_matches(last, known, n=1, cutoff=0.6)
        return f" (did you mean {close[0]!r}?)" if close else ""
    value = get_path(data, problem.path)
    if problem.type == "bool_type":
        if isinstance(value, str) and value.lower() in _YAML11_BOOLS:
            return f"; YAML 1.2 reads {value!r} as a string: use true or false"
        return "; use true or false (unquoted)"
    if problem.type in ("string_type", "literal_error") and isinstance(value, bool | int | float):
        return "; quote the value if it is meant as text"
    return ""


def _is_model(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def _flatten(annotation: Any) -> list[Any]:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _flatten(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [t for arg in get_args(annotation) for t in _flatten(arg)]
    return [annotation]


def _types_at(model: type[BaseModel], path: str) -> list[Any]:
    """The types a field at dotted ``path`` of ``model`` may have ([] when unknown)."""
    current: list[Any] = [model]
    for part in path.split(".") if path else []:
        nxt: list[Any] = []
        for t in current:
            if _is_model(t) and part in t.model_fields:
                nxt.extend(_flatten(t.model_fields[part].annotation))
            elif get_origin(t) is list and part.isdigit():
                nxt.extend(_flatten(get_args(t)[0]))
            elif get_origin(t) is dict:
                nxt.extend(_flatten(get_args(t)[1]))
        current = nxt
    return current
