"""A command's ``${VAR}`` references, bound once: found in the connector files (:func:`bind`) or
a plan file's payloads (:func:`bind_refs`), checked (reserved names, API key variables, unset or
empty), each variable read from the environment once and its value taught to the Redactor. The
planner, the applier, the probe and the outputs take :class:`BoundSecrets`. Pure core."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from conn_reconcile.errors import Diagnostic, InputError, RefusedError, SecretError
from conn_reconcile.model.connector import SECRET_PATHS, Desired, env_ref_name, locate, reserved_var
from conn_reconcile.model.secrets import Redactor


@dataclass(frozen=True)
class SecretRef:
    """One ``${VAR}`` in a secret field: the variable, the connector, the file (from a plan file:
    the file it was planned from, else the connector's name), the field and its file's locations."""

    var: str
    name: str
    file: str
    path: str
    locations: Mapping[str, tuple[int, int]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def line(self) -> int | None:
        """The field's line in its file (None from a plan file): looked up only when shown."""
        return locate(self.locations, self.path)[0]

    @property
    def at(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


def _everyone(name: str) -> bool:
    return True


@dataclass(frozen=True)
class BoundSecrets:
    """The references of one command and the values of those that are set; ``missing``: why
    the others have none (``not set``, ``empty``, ``reserved``)."""

    refs: tuple[SecretRef, ...] = ()
    values: Mapping[str, str] = field(default_factory=dict, repr=False)
    missing: Mapping[str, str] = field(default_factory=dict)

    def value(self, var: str) -> str | None:
        return self.values.get(var)

    def is_set(self, var: str) -> bool:
        return var in self.values

    def blind(self) -> BoundSecrets:
        """The same references as a run holding no secret sees them (a pull request's plan)."""
        return BoundSecrets(self.refs, {}, {var: "not set" for var in self.missing.keys() | self.values.keys()})

    def problem(self, var: str, where: str, path: str) -> str | None:
        """Why ``var`` cannot be sent from ``where``'s ``path`` (None: it can)."""
        if reserved_var(var):  # validate refuses these; a hand-edited plan file must not get past
            return f"{where}: {path}: ${{{var}}} is reserved and is never sent to a connector"
        if var in self.values:
            return None
        return f"{where}: {path}: environment variable {var} is {self.missing.get(var, 'not set')}"

    def notes(self, selected: Callable[[str], bool] = _everyone) -> list[str]:
        """A plan's note for each reference of the ``selected`` connectors whose variable is unset."""
        return [
            f"unbound: ${{{r.var}}} ({r.at} {r.path}) is not set; apply needs it when it sends this secret"
            for r in self.refs
            if selected(r.name) and not self.is_set(r.var)
        ]

    def line_of(self, file: str, path: str) -> int | None:
        return next((r.line for r in self.refs if r.file == file and r.path == path), None)

    def by_file(self) -> dict[str, dict[str, str]]:
        """file -> {secret field -> value}, for the references that are set (their fingerprints)."""
        out: dict[str, dict[str, str]] = {}
        for r in self.refs:
            if r.var in self.values:
                out.setdefault(r.file, {})[r.path] = self.values[r.var]
        return out

    def resolve(self, payload: Mapping[str, Any], *, where: str) -> dict[str, Any]:
        """A deep copy of ``payload`` with each ``${VAR}`` of a secret field replaced by its value
        (SecretError when one has none). It holds real secrets: hand it to the client and drop it."""
        out = copy.deepcopy(dict(payload))
        for path in SECRET_PATHS:
            found = _walk(out, path)
            var = env_ref_name(found[0][found[1]]) if found is not None else None
            if found is None or var is None:
                continue
            problem = self.problem(var, where, path)
            if problem is not None:
                raise SecretError(problem)
            found[0][found[1]] = self.values[var]
        return out


def bind(
    desired: Sequence[Desired],
    env: Mapping[str, str],
    *,
    key_vars: Sequence[str],
    redactor: Redactor,
    blind: bool = False,
) -> BoundSecrets:
    """The references of the connector files, bound (``blind``: none read, as a run holding
    no secret). InputError when one names an API key variable."""
    refs = file_refs(desired)
    _check_file_refs(refs, key_vars)
    return bind_refs(refs, {} if blind else env, redactor)


def file_refs(desired: Sequence[Desired]) -> list[SecretRef]:
    """The ``${VAR}`` references of the connector files' secret fields, in file order."""
    return [
        SecretRef(var, d.spec.name, d.file, path, d.locations)
        for d in desired
        for path, var in sorted(d.spec.secret_refs.items())
    ]


def bind_refs(refs: Iterable[SecretRef], env: Mapping[str, str], redactor: Redactor) -> BoundSecrets:
    """Read each variable of ``refs`` from ``env`` once (never a reserved one) and teach the
    redactor the values."""
    refs = tuple(refs)
    values: dict[str, str] = {}
    missing: dict[str, str] = {}
    for var in dict.fromkeys(r.var for r in refs):
        if reserved_var(var):
            missing[var] = "reserved"
            continue
        value = env.get(var)
        if value:
            values[var] = value
        else:
            missing[var] = "not set" if value is None else "empty"
    redactor.add(*values.values())
    return BoundSecrets(refs, values, missing)


def payload_refs(payload: Mapping[str, Any], *, name: str, where: str) -> list[SecretRef]:
    """The references in the secret fields of a request body (a plan file's payload)."""
    refs = []
    for path in SECRET_PATHS:
        found = _walk(payload, path)
        var = env_ref_name(found[0][found[1]]) if found is not None else None
        if var is not None:
            refs.append(SecretRef(var, name, where, path))
    return refs


def check_key_refs(desired: Sequence[Desired], key_vars: Sequence[str]) -> None:
    """No connector secret may reference an API key variable of any environment: it would
    send that org's key to the connector's URL."""
    _check_file_refs(file_refs(desired), key_vars)


def _check_file_refs(refs: Sequence[SecretRef], key_vars: Sequence[str]) -> None:
    keys = {v.upper() for v in key_vars}
    problems = [
        Diagnostic(
            r.file,
            *locate(r.locations, r.path),
            r.path,
            f"${{{r.var}}} holds an API key in conn-reconcile.yaml: a connector secret may not reference it",
        )
        for r in refs
        if r.var.upper() in keys
    ]
    if problems:
        raise InputError(problems)


def refuse_key_refs(refs: Iterable[SecretRef], key_vars: Sequence[str]) -> None:
    """The same rule for a plan file, which is refused as a whole."""
    keys = {v.upper() for v in key_vars}
    for r in refs:
        if r.var.upper() in keys:
            raise RefusedError(f"refusing the plan: {r.name} {r.path} references ${{{r.var}}}, an API key variable")


def _walk(payload: Mapping[str, Any], path: str) -> tuple[dict[str, Any], str] | None:
    *parents, leaf = path.split(".")
    node: Any = payload
    for part in parents:
        node = node.get(part) if isinstance(node, Mapping) else None
    if isinstance(node, dict) and isinstance(node.get(leaf), str):
        return node, leaf
    return None
