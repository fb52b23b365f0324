"""The connector models: a connector file (:class:`ConnectorSpec`, strict: unknown keys
refused, values of exactly their type, inputs never echoed in an error, so a literal secret
pasted by mistake cannot leak), the API's connector (:class:`RemoteConnector`, tolerant), the
string rules both share with the other file formats, and the cross-file checks.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from functools import cached_property
from types import MappingProxyType
from typing import Annotated, Any, Literal, NamedTuple, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from conn_reconcile.errors import Diagnostic
from conn_reconcile.model.validation import WHITESPACE, Problem, Rule, Rules, problems

#: Dotted paths of the write-only fields. They are never returned by the API, never
#: diffed by value, and only ever held in files as ``${VAR}`` references.
SECRET_PATHS: tuple[str, ...] = ("oauth.client_secret", "service_auth.token")
_OAUTH_SECRET, _SERVICE_TOKEN = SECRET_PATHS  # ConnectorSpec.secret_refs reads the two fields directly

ENV_REF_RE = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")
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


def _not_reserved(value: str) -> str:
    name = value[2:-1]  # a ${VAR} reference: the rule before this one
    if reserved_var(name):
        raise ValueError(
            f"${{{name}}} is reserved: a connector secret may not reference the Cohere API key or CI variables"
        )
    return value


def _absolute_http_url(value: str) -> str:
    from urllib.parse import urlsplit  # only for a URL of an uncommon shape

    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("not an absolute http(s) URL")
    return value


# The rules, checked inside pydantic-core (Rust's regex: no look-around; see validation.Rules).
# Never a value in a message: it may be a real secret pasted by mistake.
PLAIN_RULE = Rule(
    "plain_string", r"^(?:[^$]|\$+[^${])*\$*(?:\$\{[^}]*)?$", "${...} references are only allowed in secret fields"
)
SECRET_RULE = Rule(
    "literal_secret",
    ENV_REF_RE.pattern,
    "literal secrets are not allowed; reference an environment variable, e.g. ${MY_TOKEN}",
)
NON_BLANK_RULE = Rule("blank_string", f"[^{WHITESPACE}]", "must not be empty")
EDGES_RULE = Rule("padded_string", f"^[^{WHITESPACE}](?s:.*[^{WHITESPACE}])?$", "must not start or end with whitespace")
#: the common shape of a URL in pydantic-core; any other is decided by urlsplit
HTTP_URL_RULE = Rule(
    "http_url",
    r"^https?://[A-Za-z0-9][^\[\]\t\r\n]*$",
    "must be an absolute http:// or https:// URL",
    fallback=_absolute_http_url,
)

# The same rules as JSON Schema patterns (ECMA-262), for editors. A file may hold
# ``${vars.NAME}`` (substituted per environment before validation), never another ``${...}``.
_PLAIN_BODY = r"(?:[^$]|\$(?!\{)|\$\{vars\.)*"
PLAIN_PATTERN = f"^{_PLAIN_BODY}$"
NAME_PATTERN = rf"^(?=\S)(?=[\s\S]*\S$){_PLAIN_BODY}$"
URL_PATTERN = rf"^https?://(?:[^/?#$\s]|\$\{{vars\.){_PLAIN_BODY}$"

SecretRef = Annotated[str, Rules(SECRET_RULE, after=_not_reserved, schema={"pattern": SECRET_REF_PATTERN})]
PlainStr = Annotated[str, Rules(PLAIN_RULE, schema={"pattern": PLAIN_PATTERN})]
Name = Annotated[
    str, Field(max_length=256), Rules(NON_BLANK_RULE, EDGES_RULE, PLAIN_RULE, schema={"pattern": NAME_PATTERN})
]
HttpUrl = Annotated[str, Rules(HTTP_URL_RULE, PLAIN_RULE, schema={"pattern": URL_PATTERN, "format": "uri"})]
RemoteId = Annotated[str, Field(pattern=REMOTE_ID_RE.pattern)]

#: Every strict model (connector files and conn-reconcile.yaml): unknown keys and wrong types
#: are errors, values are never echoed in an error (they may be secrets). Validators are built
#: on first use: a command builds only those of the models it validates.
STRICT = ConfigDict(extra="forbid", strict=True, frozen=True, hide_input_in_errors=True, defer_build=True)


class OAuthSpec(BaseModel):
    model_config = STRICT

    client_id: PlainStr | None = None
    client_secret: SecretRef | None = None
    authorize_url: HttpUrl
    token_url: HttpUrl
    scope: PlainStr | None = None


class ServiceAuthSpec(BaseModel):
    model_config = STRICT

    type: AuthTokenType
    token: SecretRef


#: The fields ``lifecycle.ignore_changes`` may name: those the API returns, so the org's value can be kept.
IGNORABLE: tuple[str, ...] = (
    "description",
    "url",
    "excludes",
    "active",
    "continue_on_failure",
    "oauth.client_id",
    "oauth.authorize_url",
    "oauth.token_url",
    "oauth.scope",
)
_NOT_IGNORABLE = {
    "name": "it is how the connector is matched to the org",
    "lifecycle": "it is local-only, never sent to the API nor compared with the org",
    "oauth": "it holds a secret; name its other fields one by one (oauth.scope, ...)",
    "service_auth": "it is write-only (the API never returns it), so the org's value cannot be kept",
    "service_auth.type": "it is write-only (the API never returns it), so the org's value cannot be kept",
    **{p: "a secret is write-only: a new value (a rotation) must always be sent" for p in SECRET_PATHS},
}


def _ignorable(value: str) -> str:
    if value in IGNORABLE:
        return value
    if value in _NOT_IGNORABLE:
        raise ValueError(f"{value} cannot be ignored: {_NOT_IGNORABLE[value]}")
    import difflib  # only for a misspelled field

    close = difflib.get_close_matches(value, IGNORABLE, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"{value!r} is not a field that can be ignored{hint}; one of: {', '.join(IGNORABLE)}")


class LifecycleSpec(BaseModel):
    """``lifecycle:`` of a connector file (local-only, never sent to the API), as Terraform's."""

    model_config = STRICT

    prevent_destroy: bool = Field(
        default=False,
        description="refuse every plan that deletes or replaces this connector (remembered by the state "
        "after the file is deleted, until false is applied)",
    )
    ignore_changes: list[Annotated[str, Rules(after=_ignorable, schema={"enum": list(IGNORABLE)})]] = Field(
        default_factory=list,
        description="fields left as they are in the org when they differ from the file (a create still sends them)",
    )


class ConnectorSpec(BaseModel):
    """One connector file: the create-body fields, plus the local-only ``id``, ``renamed_from`` and ``lifecycle``."""

    model_config = STRICT

    id: RemoteId | None = None
    renamed_from: Name | None = Field(
        default=None,
        description="the name the connector had before a rename, to rename it in place (not sent to the API)",
    )
    name: Name
    description: PlainStr | None = None
    url: HttpUrl
    excludes: list[PlainStr] | None = None
    active: bool | None = None
    continue_on_failure: bool | None = None
    oauth: OAuthSpec | None = None
    service_auth: ServiceAuthSpec | None = None
    lifecycle: LifecycleSpec | None = None

    @model_validator(mode="after")
    def _one_auth(self) -> ConnectorSpec:
        if self.oauth is not None and self.service_auth is not None:
            raise ValueError("oauth and service_auth are mutually exclusive; keep only one")
        return self

    @cached_property
    def secret_refs(self) -> Mapping[str, str]:
        """Secret field path -> variable name, for the secrets this spec references (worked
        out once: binding, planning and checks all ask)."""
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


# The remote models tolerate fields the API may add later (``extra="ignore"``) and take what
# JSON cannot say better (lax mode).
REMOTE = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True, defer_build=True)


class RemoteOAuth(BaseModel):
    model_config = REMOTE

    client_id: str | None = None
    authorize_url: str | None = None
    token_url: str | None = None
    scope: str | None = None


class RemoteConnector(BaseModel):
    """A connector as the API returns it. Tolerates fields the API may add later."""

    model_config = REMOTE

    id: RemoteId
    name: str
    description: str | None = None
    url: str | None = None
    excludes: tuple[str, ...] | None = None
    active: bool | None = None
    continue_on_failure: bool | None = None
    oauth: RemoteOAuth | None = None
    auth_type: str | None = None
    auth_status: str | None = None
    organization_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


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
    spec, found = validate_strict(ConnectorSpec, data, SPEC_MESSAGES)
    return spec, [(p.path, p.message) for p in found]


#: how ``validate`` words pydantic's errors of a connector file
SPEC_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "required field is missing",
    "model_type": "expected a mapping of fields",
}
_Model = TypeVar("_Model", bound=BaseModel)


def validate_strict(model: type[_Model], data: Any, messages: Mapping[str, str]) -> tuple[_Model | None, list[Problem]]:
    """``model`` validated from raw data, or its problems (see :func:`validation.problems`):
    the message is pydantic's (or a rule's) unless ``messages`` words that error type."""
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, problems(exc, messages)
