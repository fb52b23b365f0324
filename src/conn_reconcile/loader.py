"""Loading connector files: discovery -> hardened YAML -> strict models -> ``Desired``.

``load(paths)`` collects every problem in every file (YAML, schema, cross-file uniqueness)
and raises one :class:`InputError` listing them, each located at ``file:line:col`` with the
dotted field path. No message ever contains a field's value: a literal secret pasted by
mistake must not reach a terminal or a CI log.
"""

from __future__ import annotations

import difflib
import fnmatch
import types
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from conn_reconcile.discovery import MAX_FILE_BYTES, discover, read_bytes, scan
from conn_reconcile.errors import Diagnostic, InputError
from conn_reconcile.models import ConnectorSpec, Desired, check_unique, get_path, locate, parse_spec
from conn_reconcile.yamlsafe import MAX_DEPTH, parse_yaml

__all__ = ["MAX_DEPTH", "MAX_FILE_BYTES", "discover", "load", "load_bytes"]

#: Words YAML 1.1 read as booleans; YAML 1.2 (and so this tool) reads them as strings.
_YAML11_BOOLS = frozenset({"y", "yes", "n", "no", "on", "off"})
_AUTH_KEYS = ("oauth", "service_auth")


def load(
    paths: Sequence[str | Path] | str | Path,
    *,
    require_files: bool = False,
    against: Sequence[str | Path] = (),
    exclude: Sequence[str] = (),
) -> list[Desired]:
    """Load and validate every connector file under ``paths``.

    Each path is a directory (``*.yaml``/``*.yml`` found recursively, sorted) or a file
    (taken as given). Finding no file at all returns ``[]``, unless ``require_files``.
    Files whose path (as displayed) matches an ``exclude`` glob are skipped. With
    ``against`` (directories), the other connector files there are loaded too, only for the
    cross-file checks: a duplicate name or pinned id is reported on the file in ``paths``,
    and problems of the other files are not reported at all.
    Raises :class:`InputError` with every problem found.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    found, problems, dir_args = scan(paths)
    if require_files and not found:
        for shown in dir_args:
            problems.append(Diagnostic(shown, None, None, None, f"no connector files found under {shown}"))
        if not dir_args and not problems:
            problems.append(Diagnostic(".", None, None, None, "no connector files given"))
    found = [f for f in found if not excluded(f.display, exclude)]
    desired: list[Desired] = []
    for f in found:
        raw = read_bytes(f)
        if isinstance(raw, Diagnostic):
            problems.append(raw)
            continue
        one, file_problems = load_bytes(raw, f.display)
        problems.extend(file_problems)
        if one is not None:
            desired.append(one)
    if against:
        others = _others(against, {(f.dev, f.ino) for f in found}, exclude)
        checked = {d.file for d in desired}
        problems.extend(p for p in check_unique(others + desired, checked=checked) if p.file in checked)
    else:
        problems.extend(check_unique(desired))
    if problems:
        raise InputError(problems)
    return desired


def excluded(display: str, patterns: Sequence[str]) -> bool:
    """Whether a file (its path as displayed, forward slashes) matches an ``exclude`` glob."""
    return any(fnmatch.fnmatchcase(display, p) or fnmatch.fnmatchcase(display, f"*/{p}") for p in patterns)


def _others(against: Sequence[str | Path], seen: set[tuple[int, int]], exclude: Sequence[str]) -> list[Desired]:
    """The valid connector files under ``against`` that are not ``seen`` (device, inode):
    loaded only for the cross-file checks; their own problems are not reported here."""
    found, _, _ = scan(against)
    others: list[Desired] = []
    for f in found:
        if (f.dev, f.ino) in seen or excluded(f.display, exclude):
            continue
        raw = read_bytes(f)
        if isinstance(raw, Diagnostic):
            continue
        one, _ = load_bytes(raw, f.display)
        if one is not None:
            others.append(one)
    return others


def load_bytes(raw: bytes, file: str) -> tuple[Desired | None, list[Diagnostic]]:
    """Parse and validate one file's content; ``file`` is only used to label diagnostics."""
    parsed = parse_yaml(raw, file)
    problems = list(parsed.problems)
    if parsed.data is None:
        return None, problems
    spec, errors = parse_spec(parsed.data)
    problems.extend(_diagnostic(file, parsed.data, parsed.locations, path, msg) for path, msg in errors)
    if spec is None or problems:
        return None, problems
    return Desired(spec, file, parsed.locations), []


def _diagnostic(
    file: str, data: dict[str, Any], locations: Mapping[str, tuple[int, int]], path: str, message: str
) -> Diagnostic:
    field = path
    if not path and all(k in data for k in _AUTH_KEYS):
        # The one model-level rule: point at whichever auth block comes second.
        field = max(_AUTH_KEYS, key=lambda k: locations.get(k, (0, 0)))
    line, col = locate(locations, field)
    return Diagnostic(file, line, col, field or None, message + _hint(data, path, message))


def _hint(data: Any, path: str, message: str) -> str:
    parent, _, last = path.rpartition(".")
    if message == "unknown field":
        known = [name for t in _types_at(parent) if _is_model(t) for name in t.model_fields]
        close = difflib.get_close_matches(last, known, n=1, cutoff=0.6)
        return f" (did you mean {close[0]!r}?)" if close else ""
    kinds = _types_at(path)
    value = get_path(data, path)
    if bool in kinds and not isinstance(value, bool):
        if isinstance(value, str) and value.lower() in _YAML11_BOOLS:
            return f"; YAML 1.2 reads {value!r} as a string: use true or false"
        return "; use true or false (unquoted)"
    stringy = any(t is str or get_origin(t) is Literal for t in kinds)
    if stringy and isinstance(value, bool | int | float):
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


def _types_at(path: str) -> list[Any]:
    """The types a field at dotted ``path`` of a connector file may have ([] when unknown)."""
    current: list[Any] = [ConnectorSpec]
    for part in path.split(".") if path else []:
        nxt: list[Any] = []
        for t in current:
            if _is_model(t) and part in t.model_fields:
                nxt.extend(_flatten(t.model_fields[part].annotation))
            elif get_origin(t) is list and part.isdigit():
                nxt.extend(_flatten(get_args(t)[0]))
        current = nxt
    return current
