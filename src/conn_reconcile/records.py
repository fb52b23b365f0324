"""Typed records validated from raw data: the one validation layer of connector files, the
configuration, the state, saved plans and API answers. Pure core: the standard library only.

A :class:`Record` subclass declares its fields as annotated class attributes, each
``= field(kind, default=...)`` with a kind of :mod:`conn_reconcile.kinds`. :meth:`Record.parse`
validates raw data and collects every problem (:class:`Invalid`); constructing a record
(``Cls(a=1)``) only fills defaults. ``class X(Record, strict=True, frozen=True)``: strict
records take values of exactly the declared type (files people write); frozen ones refuse
assignment and hash by value; ``extra="ignore"`` drops unknown keys (API answers) instead of
refusing them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from enum import Enum
from typing import Any, ClassVar, TypeVar, dataclass_transform

from conn_reconcile.kinds import BAD, MISSING, Kind, Loc, Problem


class Invalid(ValueError):
    """Raised by :meth:`Record.parse` with every problem found."""

    def __init__(self, problems: list[Problem]):
        super().__init__(f"{len(problems)} validation problem(s)")
        self.problems = problems

    def first(self, whole: str) -> str:
        """The first problem as ``path: message``; ``whole`` names the path of a problem of the
        whole input."""
        problem = self.problems[0]
        return f"{dotted(problem.loc) or whole}: {problem.msg}"


def dotted(loc: Loc) -> str:
    """``("excludes", 1)`` -> ``"excludes.1"``; the ``[key]`` step of a mapping key's own
    problem is left out."""
    return ".".join(str(p) for p in loc if p != "[key]")


class Field:
    __slots__ = ("default", "factory", "kind", "plain")

    def __init__(self, kind: Kind, default: Any, factory: Callable[[], Any] | None):
        self.kind, self.default, self.factory = kind, default, factory
        self.plain = kind.plain

    @property
    def required(self) -> bool:
        return self.default is MISSING and self.factory is None

    def make_default(self) -> Any:
        return self.factory() if self.factory is not None else self.default


def field(kind: Kind, *, default: Any = MISSING, default_factory: Callable[[], Any] | None = None) -> Any:
    """Declare a record field: ``name: str | None = field(Nullable(Str()), default=None)``."""
    return Field(kind, default, default_factory)


_R = TypeVar("_R", bound="Record")


@dataclass_transform(kw_only_default=True, field_specifiers=(field,))
class Record:
    """Base of every record. ``class X(Record, strict=True, frozen=True, extra="forbid")``."""

    fields: ClassVar[dict[str, Field]] = {}
    _strict: ClassVar[bool] = False
    _frozen: ClassVar[bool] = False
    _forbid: ClassVar[bool] = True
    _required: ClassVar[frozenset[str]] = frozenset()
    _defaults: ClassVar[dict[str, Any]] = {}
    _factories: ClassVar[tuple[tuple[str, Callable[[], Any]], ...]] = ()

    def __init_subclass__(cls, *, strict: bool = False, frozen: bool = False, extra: str = "forbid") -> None:
        cls._strict, cls._frozen, cls._forbid = strict, frozen, extra == "forbid"
        cls.fields = {}
        for name, spec in list(vars(cls).items()):  # in the order of the class body
            if isinstance(spec, Field):
                cls.fields[name] = spec
                delattr(cls, name)
        cls._required = frozenset(name for name, f in cls.fields.items() if f.required)
        cls._defaults = {name: f.default for name, f in cls.fields.items() if f.default is not MISSING}
        cls._factories = tuple((name, f.factory) for name, f in cls.fields.items() if f.factory is not None)
        if not frozen:
            cls.__hash__ = None  # type: ignore[assignment]

    def __init__(self, **values: Any):
        unknown = set(values) - self.fields.keys()
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown field(s) {', '.join(sorted(unknown))}")
        missing = self._required - values.keys()
        if missing:
            raise TypeError(f"{type(self).__name__}: missing field(s) {', '.join(sorted(missing))}")
        self._fill(values)

    def _fill(self, values: dict[str, Any]) -> None:
        """Set the fields: ``values`` (the fields given), the defaults for the rest."""
        d = self.__dict__
        d.update(self._defaults)
        d.update(values)
        for name, factory in self._factories:
            if name not in values:
                d[name] = factory()
        d["_fields_set"] = frozenset(values)

    @property
    def fields_set(self) -> frozenset[str]:
        """The fields given (in the data parsed, or to the constructor), not defaulted."""
        return self.__dict__["_fields_set"]  # type: ignore[no-any-return]

    @classmethod
    def parse(cls: type[_R], data: Any) -> _R:
        """Validate raw data (a mapping of fields) into a record, or raise :class:`Invalid`."""
        problems: list[Problem] = []
        built = cls._build(data, (), problems)
        if problems:
            raise Invalid(problems)
        return built  # type: ignore[no-any-return]

    @classmethod
    def parse_json(cls: type[_R], text: str | bytes) -> _R:
        try:
            data = json.loads(text)
        except ValueError as exc:  # JSON and Unicode decode errors
            raise Invalid([Problem((), "json_invalid", f"Invalid JSON: {exc}")]) from None
        except RecursionError:
            raise Invalid([Problem((), "json_invalid", "Invalid JSON: nested too deeply")]) from None
        return cls.parse(data)

    @classmethod
    def _build(cls, data: Any, loc: Loc, out: list[Problem]) -> Any:
        """The record of ``data``, or ``BAD`` with its problems added to ``out``. One pass in
        the data's order without locations (the common case: valid data); only when it finds a
        problem, a second pass in the fields' order reports them, located."""
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict if cls._strict else Mapping):
            out.append(Problem(loc, "model_type", f"Input should be a valid dictionary or instance of {cls.__name__}"))
            return BAD
        before = len(out)
        strict, fields, values, unknown = cls._strict, cls.fields, {}, False
        for key, value in data.items():
            f = fields.get(key)
            if f is not None:
                values[key] = value if type(value) in f.plain else f.kind.check(value, loc, out, strict)
            elif cls._forbid:
                unknown = True
                break
        if unknown or len(out) > before or not cls._required <= values.keys():
            del out[before:]
            cls._report(data, loc, out)
            return BAD
        obj = cls.__new__(cls)
        obj._fill(values)
        try:
            obj.check()
        except ValueError as exc:
            out.append(Problem(loc, "value_error", str(exc)))
            return BAD
        return obj

    @classmethod
    def _report(cls, data: Mapping[str, Any], loc: Loc, out: list[Problem]) -> None:
        """Every problem of invalid ``data``, located: fields in their declared order, then
        unknown keys in the data's order."""
        for name, f in cls.fields.items():
            if name in data:
                f.kind.check(data[name], (*loc, name), out, cls._strict)
            elif f.required:
                out.append(Problem((*loc, name), "missing", "Field required"))
        if cls._forbid:
            for key in data:
                if key not in cls.fields:
                    out.append(Problem((*loc, key), "extra_forbidden", "Extra inputs are not permitted"))

    def check(self) -> None:
        """Rules across fields, run after the fields validated; raise ValueError to refuse."""

    def to_dict(
        self,
        *,
        json_mode: bool = False,
        include: Iterable[str] | None = None,
        exclude: Iterable[str] = (),
        exclude_none: bool = False,
        exclude_defaults: bool = False,
    ) -> dict[str, Any]:
        """The fields as plain data (nested records as dicts; with ``json_mode``, tuples as
        lists and enum members as their values)."""
        keep = None if include is None else set(include)
        skip = set(exclude)
        d = self.__dict__
        out: dict[str, Any] = {}
        for name, f in self.fields.items():
            if (keep is not None and name not in keep) or name in skip:
                continue
            v = d[name]
            if (v is None and exclude_none) or (exclude_defaults and not f.required and v == f.make_default()):
                continue
            out[name] = v if v is None or type(v) in _SCALARS else _plain(v, json_mode, exclude_none, exclude_defaults)
        return out

    def to_json(self, *, exclude_defaults: bool = False) -> str:
        """Compact JSON (UTF-8 text, not ASCII-escaped)."""
        data = self.to_dict(json_mode=True, exclude_defaults=exclude_defaults)
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    def replace(self: _R, **update: Any) -> _R:
        """A shallow copy with ``update`` applied (not validated)."""
        new = type(self).__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.__dict__.update(update)
        new.__dict__["_fields_set"] = self.fields_set | update.keys()
        return new

    def __setattr__(self, name: str, value: Any) -> None:
        if self._frozen:
            raise AttributeError(f"{type(self).__name__} is frozen")
        if name not in self.fields:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}")
        self.__dict__[name] = value

    def _values(self) -> tuple[Any, ...]:
        d = self.__dict__
        return tuple(d[name] for name in self.fields)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={self.__dict__[name]!r}" for name in self.fields)
        return f"{type(self).__name__}({shown})"


_SCALARS = frozenset({str, int, bool, float})


def _plain(v: Any, json_mode: bool, exclude_none: bool, exclude_defaults: bool) -> Any:
    if type(v) in _SCALARS or v is None:
        return v
    if isinstance(v, Record):
        return v.to_dict(json_mode=json_mode, exclude_none=exclude_none, exclude_defaults=exclude_defaults)
    if isinstance(v, list | tuple):
        if all(type(x) in _SCALARS for x in v):  # the usual list (of strings): copied as it is
            items = list(v)
        else:
            items = [_plain(x, json_mode, exclude_none, exclude_defaults) for x in v]
        return items if json_mode or isinstance(v, list) else tuple(items)
    if isinstance(v, dict):
        return {k: _plain(x, json_mode, exclude_none, exclude_defaults) for k, x in v.items()}
    if json_mode and isinstance(v, Enum):
        return v.value
    return v
