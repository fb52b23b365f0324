"""What the models share on top of pydantic: string rules checked inside pydantic-core, each
failing with the tool's own message (:class:`Rules`), and a ``ValidationError`` read as
located problems that never hold the input value (:func:`problems`), which may be a secret.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple, TypeVar

from pydantic import BaseModel, GetCoreSchemaHandler, GetJsonSchemaHandler, ValidationError
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema as cs

#: The characters Python's ``str.strip()`` removes, as a regular-expression class body (the
#: same in Rust's ``regex``, which pydantic-core runs, and in Python's ``re``).
WHITESPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


class Rule(NamedTuple):
    """A string must match ``pattern`` (searched, in Rust's ``regex`` syntax: ``$`` is the
    very end), else it fails with error ``type`` and ``message``. ``fallback``: a Python
    check run only on a string the pattern refuses (the pattern is then a fast path): it
    accepts the string by returning, refuses it by raising ValueError."""

    type: str
    pattern: str
    message: str
    fallback: Callable[[str], object] | None = None


class Rules:
    """String annotation metadata: after the string's own checks (its type, its length), each
    rule in order (the first that fails is the error), then ``after``, a Python check for what
    no pattern can say (raise ValueError with the message). ``schema``: JSON Schema keywords
    written over the generated ones (the patterns here are not ECMA-262's)."""

    __slots__ = ("after", "rules", "schema")

    def __init__(
        self,
        *rules: Rule,
        after: Callable[[str], str] | None = None,
        schema: Mapping[str, Any] | None = None,
    ):
        self.rules, self.after, self.schema = rules, after, dict(schema or {})

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> cs.CoreSchema:
        steps = [handler(source)]
        for rule in self.rules:
            check: cs.CoreSchema = cs.str_schema(pattern=rule.pattern)
            if rule.fallback is not None:
                slow = cs.no_info_after_validator_function(rule.fallback, cs.str_schema())
                check = cs.union_schema([check, slow], mode="left_to_right")
            steps.append(cs.custom_error_schema(check, custom_error_type=rule.type, custom_error_message=rule.message))
        schema = cs.chain_schema(steps) if len(steps) > 1 else steps[0]
        return schema if self.after is None else cs.no_info_after_validator_function(self.after, schema)

    def __get_pydantic_json_schema__(self, schema: cs.CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        out = handler(schema)
        out.update(self.schema)
        return out


class Problem(NamedTuple):
    """One validation error: the dotted path (``""``: the whole input), pydantic's error type
    (or a rule's), and the message."""

    path: str
    type: str
    message: str


def dotted(loc: tuple[int | str, ...]) -> str:
    """``("excludes", 1)`` -> ``"excludes.1"``; the ``[key]`` step pydantic adds for a
    mapping key's own error is left out."""
    return ".".join(str(p) for p in loc if p != "[key]")


def problems(exc: ValidationError, messages: Mapping[str, str] | None = None) -> list[Problem]:
    """Every error of ``exc``, in pydantic's order (fields as declared, then unknown keys):
    pydantic's message (without its "Value error, ") unless ``messages`` words that error
    type. The input value is never read."""
    out = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        kind = err["type"]
        message = messages.get(kind) if messages else None
        out.append(Problem(dotted(err["loc"]), kind, message or err["msg"].removeprefix("Value error, ")))
    return out


def first_problem(exc: ValidationError, whole: str) -> str:
    """The first error as ``path: message``; ``whole`` names the path of an error of the
    whole input (none: the message alone)."""
    first = problems(exc)[0]
    where = first.path or whole
    return f"{where}: {first.message}" if where else first.message


_Model = TypeVar("_Model", bound=BaseModel)


def validate_json(model: type[_Model], text: str | bytes) -> _Model:
    """``model`` from JSON text read by the json module, which takes every string JSON can
    escape (a lone surrogate too: the state keeps remote names as the API sent them). Text
    that is not JSON, or nested too deeply, fails as pydantic's ``json_invalid`` error."""
    try:
        data = json.loads(text)
    except ValueError as exc:  # JSON and Unicode decode errors
        why = str(exc)
    except RecursionError:
        why = "nested too deeply"
    else:
        return model.model_validate(data)
    error: Any = {"type": "json_invalid", "loc": (), "input": "", "ctx": {"error": why}}
    raise ValidationError.from_exception_data(model.__name__, [error])
