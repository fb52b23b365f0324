"""The kinds of value a :class:`~conn_reconcile.records.Record` field holds, each with its
check (what :meth:`Record.parse <conn_reconcile.records.Record.parse>` runs) and its JSON Schema
(what :func:`json_schema` writes), so the checked-in schemas and the validation cannot disagree.
Pure core: the standard library only.

A check records problems as (location, type, message) and never puts the input value in a
message (it may be a secret); the wording is that of pydantic v2, which validated these records
before ("Field required", "Input should be a valid string"...). In a strict record a value must
have exactly the declared type; otherwise the check also takes what JSON cannot say better (a
boolean ``0``/``1`` or ``"true"``, an integral ``1.0``, a list for a tuple).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from conn_reconcile.records import Record

Loc = tuple[str | int, ...]
MISSING: Any = object()
BAD: Any = object()  # a value that failed: its problems are recorded


class Problem(NamedTuple):
    loc: Loc
    type: str
    msg: str


class Kind:
    """What a field holds: ``check`` returns the value to store, or records problems and
    returns ``BAD``; ``schema`` is its JSON Schema. ``plain``: the exact types whose values
    ``check`` would return unchanged without a problem, whatever the strictness (records and
    lists take those without a call: most values of most files and answers)."""

    plain: frozenset[type] = frozenset()

    def check(self, value: Any, loc: Loc, out: list[Problem], strict: bool) -> Any:
        raise NotImplementedError

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError


def _py_pattern(pattern: str) -> re.Pattern[str]:
    # JSON Schema's (and Rust's) `$` is the very end; Python's would also accept a final newline
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


class Str(Kind):
    """A string; ``checks`` raise ValueError with the message (run after the constraints);
    ``extra``: JSON Schema only (e.g. the pattern the checks enforce)."""

    def __init__(
        self,
        *,
        max_length: int | None = None,
        min_length: int | None = None,
        pattern: str | None = None,
        checks: Iterable[Callable[[str], object]] = (),
        extra: Mapping[str, Any] | None = None,
    ):
        self.max_length, self.min_length, self.pattern = max_length, min_length, pattern
        self._regex = _py_pattern(pattern) if pattern is not None else None
        self.checks = tuple(checks)
        self.extra = dict(extra or {})
        if max_length is None and min_length is None and pattern is None and not self.checks:
            self.plain = frozenset({str})

    def check(self, value: Any, loc: Loc, out: list[Problem], strict: bool) -> Any:
        if not isinstance(value, str):
            out.append(Problem(loc, "string_type", "Input should be a valid string"))
            return BAD
        if self.min_length is not None and len(value) < self.min_length:
            s = "" if self.min_length == 1 else "s"
            out.append(Problem(loc, "string_too_short", f"String should have at least {self.min_length} character{s}"))
            return BAD
        if self.max_length is not None and len(value) > self.max_length:
            s = "" if self.max_length == 1 else "s"
            out.append(Problem(loc, "string_too_long", f"String should have at most {self.max_length} character{s}"))
            return BAD
        if self._regex is not None and not self._regex.search(value):
            out.append(Problem(loc, "string_pattern_mismatch", f"String should match pattern '{self.pattern}'"))
            return BAD
        for fn in self.checks:
            try:
                fn(value)
            except ValueError as exc:
                out.append(Problem(loc, "value_error", str(exc)))
                return BAD
        return value

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "string"}
        for key, v in (("maxLength", self.max_length), ("minLength", self.min_length), ("pattern", self.pattern)):
            if v is not None:
                out[key] = v
        return {**out, **self.extra}


_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})


class Bool(Kind):
    plain = frozenset({bool})

    def check(self, value: Any, loc: Loc, out: list[Problem], strict: bool) -> Any:
        if value is True or value is False:
            return value
        if not strict:
            if isinstance(value, str | int) and not isinstance(value, Enum):
                word = value.lower() if isinstance(value, str) else str(value)
                if word in _TRUE or word in _FALSE:
                    return word in _TRUE
                out.append(Problem(loc, "bool_parsing", "Input should be a valid boolean, unable to interpret input"))
                return BAD
            if isinstance(value, float) and value in (0, 1):
                return bool(value)
        out.append(Problem(loc, "bool_type", "Input should be a valid boolean"))
        return BAD

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {"type": "boolean"}


_INTEGRAL_DECIMAL = re.compile(r"[+-]?[0-9](?:_?[0-9])*\.0+")


class Int(Kind):
    def __init__(self, *, ge: int | None = None, le: int | None = None):
        self.ge, self.le = ge, le
        if ge is None and le is None:
            self.plain = frozenset({int})

    def check(self, value: Any, loc: Loc, out: list[Problem], strict: bool) -> Any:
        if type(value) is not int:
            value, problem = (BAD, None) if strict else self._lax(value)
            if value is BAD:
                kind, msg = problem or ("int_type", "Input should be a valid integer")
                out.append(Problem(loc, kind, msg))
                return BAD
        if self.ge is not None and value < self.ge:
            out.append(Problem(loc, "greater_than_equal", f"Input should be greater than or equal to {self.ge}"))
            return BAD
        if self.le is not None and value > self.le:
            out.append(Problem(loc, "less_than_equal", f"Input should be less than or equal to {self.le}"))
            return BAD
        return value

    @staticmethod
    def _lax(value: Any) -> tuple[Any, tuple[str, str] | None]:
        if isinstance(value, bool | int) and not isinstance(value, Enum):
            return int(value), None
        if isinstance(value, float):
            if value.is_integer():
                return int(value), None
            return BAD, ("int_from_float", "Input should be a valid integer, got a number with a fractional part")
        if isinstance(value, str):
            text = value.strip()
            if text.isascii():  # int() would also read other scripts' digits
                try:
                    return int(text), None
                except ValueError:
                    if _INTEGRAL_DECIMAL.fullmatch(text):  # "5.0"
                        return int(text.partition(".")[0]), None
            return BAD, ("int_parsing", "Input should be a valid integer, unable to parse string as an integer")
        return BAD, None

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "integer"}
        if self.ge is not None:
            out["minimum"] = self.ge
        if self.le is not None:
            out["maximum"] = self.le
        return out


class OneOf(Kind):
    """One of fixed values (a ``Literal``), or of an Enum's values (stored as the member)."""

    def __init__(self, *values: Any, enum: type[Enum] | None = None):
        self.enum = enum
        self.values = tuple(m.value for m in enum) if enum is not None else values
        self._lookup = {(type(v), v): v for v in self.values}
        shown = [repr(v) for v in self.values]
        listed = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]
        self._msg = f"Input should be {listed}"

    def check(self, value: Any, loc: Loc, out: list[Problem], strict: bool) -> Any:
        if self.enum is not None and isinstance(value, self.enum):
            return value
        key = (str if isinstance(value, str) else type(value), value)
        try:
            found = self._lookup.get(key, MISSING)
        except TypeError:  # unhashable input
            found = MISSING
        if found is MISSING:
            out.append(Problem(loc, "enum" if self.enum is not None else "literal_error", self._msg))
            return BAD
        return self.enum(found) if self.enum is not None else found

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        values = list(self.values)
        out: dict[str, Any] = {"const": values[0]} if len(values) == 1 else {"enum": values}
        kinds = {type(v) for v in values}
        if len(kinds) == 1:
            out["type"] = {str: "string", int: "integer", bool: "boolean"}[kinds.pop()]
        return out


class Nullable(Kind):
    def __init__(self, inner: Kind):
        self.inner = inner
        self.plain = inner.plain | {type(None)}

    def check(self, value: Any, loc: Loc, out: list[Problem], strict: bool) -> Any:
        return None if value is None else self.inner.check(value, loc, out, strict)

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {"anyOf": [self.inner.schema(defs), {"type": "null"}]}


def unwrap(kind: Kind) -> Kind:
    """The kind a value of ``kind`` has when it is not null."""
    while isinstance(kind, Nullable):
        kind = kind.inner
    return kind


class ListOf(Kind):
    """A list (a tuple with ``tuple_=True``)."""

    def __init__(self, item: Kind, *, tuple_: bool = False):
        self.item, self.tuple_ = item, tuple_

    def check(self, value: Any, loc: Loc, out: list[Problem], strict: bool) -> Any:
        if not (type(value) is list or (isinstance(value, list | tuple) and (not strict or self.tuple_))):
            out.append(Problem(loc, "tuple_type" if self.tuple_ else "list_type", self._msg()))
            return BAD
        plain = self.item.plain
        if plain and all(type(v) in plain for v in value):
            return tuple(value) if self.tuple_ else list(value)
        before = len(out)
        item = self.item
        items = [item.check(v, (*loc, i), out, strict) for i, v in enumerate(value)]
        if len(out) > before:
            return BAD
        return tuple(items) if self.tuple_ else items

    def _msg(self) -> str:
        return "Input should be a valid tuple" if self.tuple_ else "Input should be a valid list"

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {"items": self.item.schema(defs), "type": "array"}


class DictOf(Kind):
    def __init__(self, key: Kind, value: Kind):
        self.key, self.value = key, value

    def check(self, value: Any, loc: Loc, out: list[Problem], strict: bool) -> Any:
        if not isinstance(value, dict if strict else Mapping):
            out.append(Problem(loc, "dict_type", "Input should be a valid dictionary"))
            return BAD
        before = len(out)
        result = {}
        for k, v in value.items():
            key = self.key.check(k, (*loc, k, "[key]"), out, strict)
            result[key] = self.value.check(v, (*loc, k), out, strict)
        return BAD if len(out) > before else result

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        keys = {k: v for k, v in self.key.schema(defs).items() if k != "type"}
        values = self.value.schema(defs)
        pattern = keys.pop("pattern", None)
        out: dict[str, Any] = {"type": "object"}
        if pattern is not None:
            out["patternProperties"] = {pattern: values}
        else:
            out["additionalProperties"] = values
        if keys:
            out["propertyNames"] = keys
        return out


class _Any(Kind):
    def check(self, value: Any, loc: Loc, out: list[Problem], strict: bool) -> Any:
        return value

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        return {}


ANY: Kind = _Any()


class Nested(Kind):
    """A record inside a record: validated with its own class's strictness."""

    def __init__(self, cls: type[Record]):
        self.cls = cls

    def check(self, value: Any, loc: Loc, out: list[Problem], strict: bool) -> Any:
        return self.cls._build(value, loc, out)

    def schema(self, defs: dict[str, Any]) -> dict[str, Any]:
        name = self.cls.__name__
        if name not in defs:
            defs[name] = {}  # placeholder: a record that (indirectly) holds itself
            defs[name] = record_schema(self.cls, defs)
        return {"$ref": f"#/$defs/{name}"}


def record_schema(cls: type[Record], defs: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required = []
    for name, f in cls.fields.items():
        prop = f.kind.schema(defs)
        if f.required:
            required.append(name)
        elif f.factory is None:
            prop["default"] = f.default.value if isinstance(f.default, Enum) else f.default
        if not isinstance(unwrap(f.kind), Nested):  # a record's fields are titled, a field holding one is not
            prop["title"] = name.title().replace("_", " ")
        properties[name] = prop
    out: dict[str, Any] = {"properties": properties, "title": cls.__name__, "type": "object"}
    if required:
        out["required"] = required
    if cls._forbid:
        out["additionalProperties"] = False
    if cls.__doc__:
        import inspect  # only to write a schema

        out["description"] = inspect.cleandoc(cls.__doc__)
    return out


def json_schema(cls: type[Record]) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``cls``: nested records under ``$defs``, keys sorted
    except the order of properties."""
    defs: dict[str, Any] = {}
    schema = record_schema(cls, defs)
    if defs:
        schema["$defs"] = defs
    return _sorted(schema)  # type: ignore[no-any-return]


def _sorted(value: Any, parent: str | None = None) -> Any:
    if isinstance(value, dict):
        keys = value.keys() if parent in ("properties", "default") else sorted(value)
        return {k: _sorted(value[k], k) for k in keys}
    if isinstance(value, list):
        return [_sorted(v, parent) for v in value]
    return value
