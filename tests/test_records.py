"""records and kinds: the validation layer of files, config, state, plan files and API answers."""

from __future__ import annotations

import copy
from enum import StrEnum
from typing import Any

import pytest

from conn_reconcile.kinds import ANY, BAD, Bool, DictOf, Int, ListOf, Nested, Nullable, OneOf, Str, json_schema
from conn_reconcile.models import ConnectorSpec, RemoteConnector
from conn_reconcile.records import Invalid, Record, dotted, field


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


class Inner(Record, strict=True, frozen=True):
    label: str = field(Str(min_length=1, max_length=3))


class Strict(Record, strict=True, frozen=True):
    """A strict record."""

    flag: bool | None = field(Nullable(Bool()), default=None)
    count: int = field(Int(ge=0, le=9), default=0)
    words: list[str] = field(ListOf(Str()), default_factory=list)
    kind: str = field(OneOf("a", "b", "c"), default="a")
    inner: Inner | None = field(Nullable(Nested(Inner)), default=None)
    table: dict[str, int] = field(DictOf(Str(pattern=r"^[a-z]+$"), Int()), default_factory=dict)


class Lax(Record, extra="ignore"):
    flag: bool = field(Bool(), default=False)
    count: int = field(Int(), default=0)
    pair: tuple[str, ...] = field(ListOf(Str(), tuple_=True), default=())
    colour: Colour = field(OneOf(enum=Colour), default=Colour.RED)
    anything: Any = field(ANY, default=None)


class Checked(Record):
    low: int = field(Int())
    high: int = field(Int())

    def check(self) -> None:
        if self.low > self.high:
            raise ValueError("low is above high")


def problems(cls: type[Record], data: Any) -> list[tuple[str, str, str]]:
    with pytest.raises(Invalid) as info:
        cls.parse(data)
    return [(dotted(p.loc), p.type, p.msg) for p in info.value.problems]


def test_a_strict_record_takes_exactly_its_types_and_reports_every_problem_in_field_order() -> None:
    data = {"extra": 1, "flag": "yes", "count": True, "words": ("a",), "kind": "d", "inner": [], "table": {"B": "x"}}
    assert problems(Strict, data) == [
        ("flag", "bool_type", "Input should be a valid boolean"),
        ("count", "int_type", "Input should be a valid integer"),
        ("words", "list_type", "Input should be a valid list"),
        ("kind", "literal_error", "Input should be 'a', 'b' or 'c'"),
        ("inner", "model_type", "Input should be a valid dictionary or instance of Inner"),
        ("table.B", "string_pattern_mismatch", "String should match pattern '^[a-z]+$'"),
        ("table.B", "int_type", "Input should be a valid integer"),
        ("extra", "extra_forbidden", "Extra inputs are not permitted"),
    ]


def test_constraints_missing_fields_and_nested_locations() -> None:
    assert problems(Strict, {"count": 10, "inner": {"label": ""}}) == [
        ("count", "less_than_equal", "Input should be less than or equal to 9"),
        ("inner.label", "string_too_short", "String should have at least 1 character"),
    ]
    assert problems(Strict, {"count": -1, "inner": {}, "words": ["x", 5]}) == [
        ("count", "greater_than_equal", "Input should be greater than or equal to 0"),
        ("words.1", "string_type", "Input should be a valid string"),
        ("inner.label", "missing", "Field required"),
    ]
    assert problems(Strict, {"inner": {"label": "long"}}) == [
        ("inner.label", "string_too_long", "String should have at most 3 characters")
    ]
    assert problems(Strict, ["not", "a", "mapping"]) == [
        ("", "model_type", "Input should be a valid dictionary or instance of Strict")
    ]


def test_a_lax_record_takes_what_json_cannot_say_better_and_ignores_unknown_keys() -> None:
    r = Lax.parse({"flag": "True", "count": 3.0, "pair": ["a", "b"], "colour": "blue", "new_field": 1})
    assert (r.flag, r.count, r.pair, r.colour) == (True, 3, ("a", "b"), Colour.BLUE)
    assert Lax.parse({"flag": 0, "count": " 7 "}).count == 7
    assert problems(Lax, {"flag": "maybe", "count": 1.5, "colour": ["red"]}) == [
        ("flag", "bool_parsing", "Input should be a valid boolean, unable to interpret input"),
        ("count", "int_from_float", "Input should be a valid integer, got a number with a fractional part"),
        ("colour", "enum", "Input should be 'red' or 'blue'"),
    ]
    assert problems(Lax, {"count": "seven", "flag": [True]}) == [
        ("flag", "bool_type", "Input should be a valid boolean"),
        ("count", "int_parsing", "Input should be a valid integer, unable to parse string as an integer"),
    ]


def test_a_pattern_anchored_with_dollar_refuses_a_final_newline() -> None:
    """JSON Schema's ``$`` is the end of the string; Python's would also match before a final
    newline, and an id with a newline must never reach a URL or a terminal."""
    assert RemoteConnector.parse({"id": "abc-123", "name": "n"}).id == "abc-123"
    for bad in ("abc\n", "abc\r", "../x", "", "a" * 129):
        assert [t for _, t, _ in problems(RemoteConnector, {"id": bad, "name": "n"})] == ["string_pattern_mismatch"]


def test_no_message_holds_the_input_value() -> None:
    canary = "CANARY-s3cr3t-value"
    data = {
        "name": ["x"],
        "url": canary,
        "description": {canary: canary},
        "active": canary,
        "excludes": canary,
        canary: canary,
        "service_auth": {"type": canary, "token": canary},
    }
    found = problems(ConnectorSpec, data)
    assert len(found) == 8
    assert all(canary not in msg for _, _, msg in found)
    assert [path for path, _, _ in found if canary in path] == [canary]  # an unknown key is named, as a key


def test_the_check_hook_runs_after_the_fields_and_only_when_they_are_valid() -> None:
    assert Checked.parse({"low": 1, "high": 2}).high == 2
    assert problems(Checked, {"low": 3, "high": 2}) == [("", "value_error", "low is above high")]
    assert problems(Checked, {"low": 3}) == [("high", "missing", "Field required")]


def test_fields_set_defaults_and_replace() -> None:
    r = Strict.parse({"count": 2})
    assert r.fields_set == {"count"} and r.words == [] and r.table == {}
    assert Strict.parse({}).words is not Strict.parse({}).words  # a fresh default each time
    s = r.replace(kind="b")
    assert (s.kind, s.count, s.fields_set) == ("b", 2, {"count", "kind"})
    assert r.kind == "a"
    assert Strict(count=1).fields_set == {"count"}
    with pytest.raises(TypeError):
        Strict(colour="red")  # type: ignore[call-arg]


def test_frozen_records_refuse_assignment_and_hash_by_value() -> None:
    a, b = Inner.parse({"label": "x"}), Inner(label="x")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    with pytest.raises(AttributeError):
        a.label = "y"  # type: ignore[misc]
    lax = Lax()
    lax.count = 4
    assert lax.count == 4
    with pytest.raises(AttributeError):
        lax.unknown = 1  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        hash(lax)
    clone = copy.deepcopy(lax)
    assert clone == lax and clone is not lax


def test_to_dict_and_to_json() -> None:
    r = Lax.parse({"pair": ["a"], "colour": "blue", "anything": {"k": None}})
    assert r.to_dict() == {"flag": False, "count": 0, "pair": ("a",), "colour": Colour.BLUE, "anything": {"k": None}}
    assert r.to_dict(json_mode=True)["pair"] == ["a"] and r.to_dict(json_mode=True)["colour"] == "blue"
    assert r.to_dict(include={"count"}) == {"count": 0}
    assert r.to_dict(exclude={"anything", "pair"}, exclude_defaults=True) == {"colour": Colour.BLUE}
    assert r.to_json(exclude_defaults=True) == '{"pair":["a"],"colour":"blue","anything":{"k":null}}'
    nested = Strict.parse({"inner": {"label": "é"}})
    assert nested.to_dict(exclude_none=True, exclude_defaults=True) == {"inner": {"label": "é"}}
    assert nested.to_json(exclude_defaults=True) == '{"inner":{"label":"é"}}'


def test_parse_json_reports_text_that_is_not_json() -> None:
    assert Lax.parse_json(b'{"count": 2}').count == 2
    for text in (b"{not json", b"\xff", b'{"anything": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"):
        with pytest.raises(Invalid) as info:
            Lax.parse_json(text)
        assert [p.type for p in info.value.problems] == ["json_invalid"]


def test_json_schema_of_a_record() -> None:
    schema = json_schema(Strict)
    assert schema["description"] == "A strict record." and schema["additionalProperties"] is False
    props = schema["properties"]
    assert list(props) == ["flag", "count", "words", "kind", "inner", "table"]  # declaration order
    assert props["count"] == {"default": 0, "maximum": 9, "minimum": 0, "title": "Count", "type": "integer"}
    assert props["words"] == {"items": {"type": "string"}, "title": "Words", "type": "array"}  # no default: a factory
    assert props["inner"] == {"anyOf": [{"$ref": "#/$defs/Inner"}, {"type": "null"}], "default": None}
    assert props["table"]["patternProperties"] == {"^[a-z]+$": {"type": "integer"}}
    assert schema["$defs"]["Inner"]["required"] == ["label"]
    assert json_schema(Lax)["properties"]["colour"]["enum"] == ["red", "blue"]


def test_exclude_defaults_compares_a_nested_record_with_its_default() -> None:
    class Holder(Record):
        inner: Inner = field(Nested(Inner), default_factory=lambda: Inner(label="x"))
        count: int = field(Int(), default=0)

    assert Holder().to_dict(exclude_defaults=True) == {}
    assert Holder(inner=Inner(label="y")).to_json(exclude_defaults=True) == '{"inner":{"label":"y"}}'


def test_the_fast_url_check_never_accepts_what_urlsplit_refuses() -> None:
    """models' HTTP URL check skips urlsplit for the common shape; whatever that shortcut accepts,
    urlsplit must accept too (random strings over the characters that matter, fixed seed)."""
    import random
    from urllib.parse import urlsplit

    from conn_reconcile.models import _PLAIN_HTTP_URL_RE

    alphabet = [*"htps:/?#[]@.-aZ0é ", "\t", "\n", "\r", "\x00", "\x0b", "\x1f"]
    rng = random.Random(7)
    accepted = 0
    for _ in range(50_000):
        prefix = rng.choice(["http://", "https://", "HTTP://", "http:/", "", "https:"])
        value = prefix + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
        if _PLAIN_HTTP_URL_RE.match(value):
            accepted += 1
            parts = urlsplit(value)  # raises on unbalanced IPv6 brackets: must not happen here
            assert parts.scheme in ("http", "https") and parts.netloc, repr(value)
    assert accepted > 1000  # the shortcut is exercised
    for bad in ("https://[::1", "https://\t/x", "ftp://x", "https:///x", "HTTPS://"):
        assert [t for _, t, _ in problems(ConnectorSpec, {"name": "n", "url": bad})] == ["value_error"]
    assert ConnectorSpec.parse({"name": "n", "url": "HTTPS://Example.com/s"}).url == "HTTPS://Example.com/s"


_INT_PARSING = "Input should be a valid integer, unable to parse string as an integer"
_BOOL_PARSING = "Input should be a valid boolean, unable to interpret input"


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        (Int(), " 5 ", 5),
        (Int(), "5.00", 5),
        (Int(), "-5.0", -5),
        (Int(), "1_0.0", 10),
        (Int(), True, 1),
        (Int(), "5.", _INT_PARSING),
        (Int(), "1e3", _INT_PARSING),
        (Int(), "٣", _INT_PARSING),  # digits of another script: int() would read them
        (Int(), "0x10", _INT_PARSING),
        (Bool(), "oFF", False),
        (Bool(), 1, True),
        (Bool(), 1.0, True),
        (Bool(), " true ", _BOOL_PARSING),
        (Bool(), 2, _BOOL_PARSING),
        (Bool(), 0.5, "Input should be a valid boolean"),
    ],
)
def test_lax_numbers_and_booleans_read_as_pydantic_v2_read_them(kind: Any, value: Any, expected: Any) -> None:
    out: list[Any] = []
    got = kind.check(value, ("f",), out, False)
    if isinstance(expected, str):
        assert [p.msg for p in out] == [expected]
    else:
        assert out == [] and got == expected and type(got) is type(expected)


def test_the_first_problem_names_its_path_or_the_whole_input() -> None:
    with pytest.raises(Invalid) as info:
        Strict.parse({"inner": {"label": ""}, "count": 10})
    assert info.value.first("record") == "count: Input should be less than or equal to 9"
    with pytest.raises(Invalid) as info:
        Strict.parse([])
    assert info.value.first("record") == "record: Input should be a valid dictionary or instance of Strict"
    with pytest.raises(TypeError, match="missing field"):
        Inner()  # type: ignore[call-arg]


def test_a_kinds_plain_types_are_exactly_those_its_check_returns_unchanged() -> None:
    """Records and lists take a value of a kind's ``plain`` types without calling its check:
    that must be what the check would do, strict or lax, for every such value."""
    samples = [None, True, False, 0, 7, -1, 1.0, "", "x", "true", "1", [], ["a"], {}, ("a",)]
    kinds = [Str(), Str(max_length=3), Str(pattern="^a$"), Bool(), Int(), Int(ge=1), OneOf("a")]
    kinds += [Nullable(k) for k in kinds] + [ListOf(Str()), ANY]
    for kind in kinds:
        for value in samples:
            if type(value) not in kind.plain:
                continue
            for strict in (True, False):
                out: list = []
                assert kind.check(value, (), out, strict) is value and not out, (kind, value, strict)
    assert Str().plain == {str} and Str(max_length=3).plain == frozenset()
    assert Int().plain == {int} and bool not in Int().plain  # True is an int to isinstance, not here
    assert Nullable(Str(pattern="^a$")).plain == {type(None)}


def test_a_list_of_plain_items_is_copied_and_a_list_of_others_checked() -> None:
    items = ["a", "b"]
    out: list = []
    copied = ListOf(Str()).check(items, (), out, True)
    assert copied == items and copied is not items and not out
    assert ListOf(Str(), tuple_=True).check(items, (), out, True) == ("a", "b")
    assert ListOf(Str()).check(["a", 1], ("excludes",), out, True) is BAD
    assert [p.loc for p in out] == [("excludes", 1)]
