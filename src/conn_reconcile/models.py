"""Typed models of the connector file format (desired) and of the API's connector (remote).

Pure core (records of :mod:`conn_reconcile.records`). The desired model is strict (unknown
keys refused, values of exactly their type) and never echoes input in its errors, so a
literal secret pasted by mistake cannot leak through a validation message.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, TypeVar, get_args

from conn_reconcile.errors import Diagnostic
from conn_reconcile.kinds import Bool, ListOf, Nested, Nullable, OneOf, Str
from conn_reconcile.records import Invalid, Record, dotted, field

#: Dotted paths of the write-only fields. They are never returned by the API, never
#: diffed by value, and only ever held in files as ``${VAR}`` references.
SECRET_PATHS: tuple[str, ...] = ("oauth.client_secret", "service_auth.token")
_OAUTH_SECRET, _SERVICE_TOKEN = SECRET_PATHS  # ConnectorSpec.secret_refs reads the two fields directly

ENV_REF_RE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
_ANY_REF_RE = re.compile(r"\$\{[^}]*\}")
#: The shape of a connector id (remote, or pinned in a file): a slug of ASCII letters, digits,
#: ``-`` and ``_``. Remote ids are data: one that does not match is never put into a URL path.
#: (Python code must use ``fullmatch``: ``$`` alone would accept a trailing newline.)
REMOTE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")

AuthTokenType = Literal["bearer", "basic", "noscheme"]
#: How ``service_auth.token`` is passed in the Authorization header: the one list of the
#: API's ``AuthTokenType`` values (the emulator checks bodies against it too).
AUTH_TOKEN_TYPES: tuple[AuthTokenType, ...] = get_args(AuthTokenType)


def env_ref_name(value: str) -> str | None:
    """The variable name of a ``${VAR}`` reference, or None when ``value`` is not one."""
    m = ENV_REF_RE.match(value)
    return m.group(1) if m else None


#: Variables a connector secret may never reference: sending them to a connector URL would hand
#: over the Cohere API key or the CI's credentials. Matched case-insensitively (Windows).
RESERVED_VARS: tuple[str, ...] = ("CO_API_KEY", "CO_API_URL")
RESERVED_PREFIXES: tuple[str, ...] = ("CONN_RECONCILE_", "GITHUB_", "ACTIONS_", "RUNNER_")


def reserved_var(name: str) -> bool:
    """True when ``${name}`` may not be used as a connector secret."""
    upper = name.upper()
    return upper in RESERVED_VARS or upper.startswith(RESERVED_PREFIXES)


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


#: ``${VAR}`` with VAR not reserved, as a JSON Schema (ECMA-262) pattern: no inline flags.
SECRET_REF_PATTERN = (
    r"^\$\{(?!(?:"
    + "|".join(_any_case(v) + r"\}" for v in RESERVED_VARS)
    + "|"
    + "|".join(_any_case(p) for p in RESERVED_PREFIXES)
    + r"))([A-Za-z_][A-Za-z0-9_]*)\}$"
)


def _secret_ref(value: str) -> str:
    name = env_ref_name(value)
    if name is None:
        # Never include the value: it may be a real secret pasted by mistake.
        raise ValueError("literal secrets are not allowed; reference an environment variable, e.g. ${MY_TOKEN}")
    if reserved_var(name):
        raise ValueError(
            f"${{{name}}} is reserved: a connector secret may not reference the Cohere API key or CI variables"
        )
    return value


def _plain(value: str) -> str:
    if "${" in value and _ANY_REF_RE.search(value):  # the usual value holds no "${": no regex
        raise ValueError("${...} references are only allowed in secret fields")
    return value


def _non_blank(value: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise ValueError("must not be empty")
    if value != stripped:
        raise ValueError("must not start or end with whitespace")
    return value


_PLAIN_HTTP_URL_RE = re.compile(r"https?://[A-Za-z0-9][^\[\]\t\r\n]*\Z")


def _http_url(value: str) -> str:
    # The common case without urlsplit (a tenth of a plan's validation): a scheme written in
    # lower case, a host starting with a letter or digit, no IPv6 brackets, tab or line break
    # (which urlsplit drops or refuses). Anything else is decided by urlsplit.
    if _PLAIN_HTTP_URL_RE.match(value):
        return value
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an absolute http:// or https:// URL")
    return value


# The same rules as JSON Schema patterns (ECMA-262), for editors: written next to the
# validators so that the checked-in schema and `validate` agree. A file may hold
# ``${vars.NAME}`` (substituted per environment before validation), never another ``${...}``.
_PLAIN_BODY = r"(?:[^$]|\$(?!\{)|\$\{vars\.)*"
PLAIN_PATTERN = f"^{_PLAIN_BODY}$"
NAME_PATTERN = rf"^(?=\S)(?=[\s\S]*\S$){_PLAIN_BODY}$"
URL_PATTERN = rf"^https?://(?:[^/?#$\s]|\$\{{vars\.){_PLAIN_BODY}$"

SECRET_REF = Str(checks=[_secret_ref])
PLAIN = Str(checks=[_plain], extra={"pattern": PLAIN_PATTERN})
NAME = Str(max_length=256, checks=[_non_blank, _plain], extra={"pattern": NAME_PATTERN})
HTTP_URL = Str(checks=[_http_url, _plain], extra={"pattern": URL_PATTERN, "format": "uri"})
REMOTE_ID = Str(pattern=REMOTE_ID_RE.pattern)
OPT_PLAIN = Nullable(PLAIN)
OPT_STR = Nullable(Str())
OPT_BOOL = Nullable(Bool())


# Every strict record (connector files and conn-reconcile.yaml): unknown keys and wrong types
# are errors, values are never echoed in an error (they may be secrets).


class OAuthSpec(Record, strict=True, frozen=True):
    client_id: str | None = field(OPT_PLAIN, default=None)
    client_secret: str | None = field(Nullable(SECRET_REF), default=None)
    authorize_url: str = field(HTTP_URL)
    token_url: str = field(HTTP_URL)
    scope: str | None = field(OPT_PLAIN, default=None)


class ServiceAuthSpec(Record, strict=True, frozen=True):
    type: AuthTokenType = field(OneOf(*AUTH_TOKEN_TYPES))
    token: str = field(SECRET_REF)


class ConnectorSpec(Record, strict=True, frozen=True):
    """One connector file: exactly the create-body fields, plus an optional pinned ``id``."""

    id: str | None = field(Nullable(REMOTE_ID), default=None)
    name: str = field(NAME)
    description: str | None = field(OPT_PLAIN, default=None)
    url: str = field(HTTP_URL)
    excludes: list[str] | None = field(Nullable(ListOf(PLAIN)), default=None)
    active: bool | None = field(OPT_BOOL, default=None)
    continue_on_failure: bool | None = field(OPT_BOOL, default=None)
    oauth: OAuthSpec | None = field(Nullable(Nested(OAuthSpec)), default=None)
    service_auth: ServiceAuthSpec | None = field(Nullable(Nested(ServiceAuthSpec)), default=None)

    def check(self) -> None:
        if self.oauth is not None and self.service_auth is not None:
            raise ValueError("oauth and service_auth are mutually exclusive; keep only one")

    def secret_refs(self) -> dict[str, str]:
        """Secret field path -> variable name, for the secrets this spec references."""
        out: dict[str, str] = {}
        oauth, service_auth = self.oauth, self.service_auth
        if oauth is not None and oauth.client_secret is not None:
            name = env_ref_name(oauth.client_secret)
            if name:
                out[_OAUTH_SECRET] = name
        if service_auth is not None:
            name = env_ref_name(service_auth.token)
            if name:
                out[_SERVICE_TOKEN] = name
        return out


# The remote records tolerate fields the API may add later (``extra="ignore"``).


class RemoteOAuth(Record, frozen=True, extra="ignore"):
    client_id: str | None = field(OPT_STR, default=None)
    authorize_url: str | None = field(OPT_STR, default=None)
    token_url: str | None = field(OPT_STR, default=None)
    scope: str | None = field(OPT_STR, default=None)


class RemoteConnector(Record, frozen=True, extra="ignore"):
    """A connector as the API returns it. Tolerates fields the API may add later."""

    id: str = field(REMOTE_ID)
    name: str = field(Str())
    description: str | None = field(OPT_STR, default=None)
    url: str | None = field(OPT_STR, default=None)
    excludes: tuple[str, ...] | None = field(Nullable(ListOf(Str(), tuple_=True)), default=None)
    active: bool | None = field(OPT_BOOL, default=None)
    continue_on_failure: bool | None = field(OPT_BOOL, default=None)
    oauth: RemoteOAuth | None = field(Nullable(Nested(RemoteOAuth)), default=None)
    auth_type: str | None = field(OPT_STR, default=None)
    auth_status: str | None = field(OPT_STR, default=None)
    organization_id: str | None = field(OPT_STR, default=None)
    created_at: str | None = field(OPT_STR, default=None)
    updated_at: str | None = field(OPT_STR, default=None)


class Desired(NamedTuple):
    """A validated connector spec plus where it came from."""

    spec: ConnectorSpec
    file: str
    #: dotted field path -> (line, col), 1-based; "" is the document itself
    locations: Mapping[str, tuple[int, int]] = MappingProxyType({})

    def where(self, path: str = "") -> tuple[int | None, int | None]:
        return locate(self.locations, path)

    def diagnostic(self, path: str | None, message: str) -> Diagnostic:
        line, col = self.where(path or "")
        return Diagnostic(self.file, line, col, path, message)


def locate(locations: Mapping[str, tuple[int, int]], path: str) -> tuple[int | None, int | None]:
    """The (line, col) of dotted ``path``, else of its nearest located parent (for a missing
    field: its mapping); (None, None) when nothing is located."""
    while True:
        if path in locations:
            return locations[path]
        if not path:
            return (None, None)
        path = path.rpartition(".")[0]


def get_path(data: Any, path: str) -> Any:
    """``get_path({"a": [{"b": 1}]}, "a.0.b") == 1``; None when any step is missing.
    The empty path is ``data`` itself."""
    for part in path.split(".") if path else ():
        if isinstance(data, Mapping) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


def check_unique(desired: Iterable[Desired], *, checked: Collection[str] = ()) -> list[Diagnostic]:
    """Cross-file checks: names unique (case-insensitively) and pinned ids unique. A clash is
    reported on the later file, files named in ``checked`` (being added) after the others."""
    problems: list[Diagnostic] = []
    by_name: dict[str, Desired] = {}
    by_id: dict[str, Desired] = {}
    for d in sorted(desired, key=lambda d: (d.file in checked, d.file)):
        key = d.spec.name.casefold()
        first = by_name.setdefault(key, d)
        if first is not d:
            same = "" if first.spec.name == d.spec.name else " (differing only in case)"
            problems.append(
                d.diagnostic(
                    "name",
                    f"duplicate connector name {d.spec.name!r}{same}: also defined in {first.file}",
                )
            )
        if d.spec.id is not None:
            first = by_id.setdefault(d.spec.id, d)
            if first is not d:
                problems.append(d.diagnostic("id", f"duplicate pinned id {d.spec.id!r}: also pinned in {first.file}"))
    return problems


def parse_spec(data: Any) -> tuple[ConnectorSpec | None, list[tuple[str, str]]]:
    """Validate raw file data. Returns the spec, or the errors as (dotted path, message).

    Messages never contain the offending input value (it may be a secret).
    """
    return validate_strict(ConnectorSpec, data, _SPEC_MESSAGES)


_SPEC_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "required field is missing",
    "model_type": "expected a mapping of fields",
}
_Record = TypeVar("_Record", bound=Record)


def validate_strict(
    model: type[_Record], data: Any, messages: Mapping[str, str]
) -> tuple[_Record | None, list[tuple[str, str]]]:
    """``model`` validated from raw data, or the errors as (dotted path, message): the
    record's message unless ``messages`` words that problem type. The input value is never
    included (it may be a secret)."""
    try:
        return model.parse(data), []
    except Invalid as exc:
        return None, [(dotted(p.loc), messages.get(p.type) or p.msg) for p in exc.problems]
