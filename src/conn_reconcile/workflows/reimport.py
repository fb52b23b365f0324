"""``conn-reconcile import --update``: accept drift into git by rewriting existing connector files
with the org's non-secret values (ruamel round-trip: comments, key order and ``${VAR}``s kept); in
an environment, what it sets (``${vars.NAME}``, overrides) is kept too, and a difference noted.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conn_reconcile.config.environments import VARS_RE
from conn_reconcile.config.sources import EnvContext
from conn_reconcile.errors import Diagnostic, InputError, RefusedError
from conn_reconcile.model.connector import Desired, RemoteConnector

if TYPE_CHECKING:
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

    from conn_reconcile.workflows.session import Session

#: Top-level fields taken from the org, in the order a new key is placed in.
FIELDS: tuple[str, ...] = ("name", "description", "url", "excludes", "active", "continue_on_failure")
OAUTH_FIELDS: tuple[str, ...] = ("client_id", "authorize_url", "token_url", "scope")
_ORDER: tuple[str, ...] = ("id", *FIELDS)
_OAUTH_ORDER: tuple[str, ...] = ("client_id", "client_secret", "authorize_url", "token_url", "scope")


@dataclass(frozen=True)
class FileUpdate:
    """One connector file and the fields (dotted paths) rewritten with the org's values."""

    file: str
    remote_id: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class HeldField:
    """A field the selected environment gives its value (a ``${vars.NAME}`` in the file, or the
    environment's overrides) where the org differs: noted, never overwritten."""

    file: str
    field: str
    #: how the environment sets it: ``written with ${vars.X}`` or ``set by the overrides of ...``
    source: str
    environment: str
    in_environment: Any
    in_org: Any


@dataclass
class UpdateReport:
    """What ``import --update`` changed in the connector files, and what it could not match."""

    updated: list[FileUpdate]
    unchanged: list[str]
    #: files whose connector is not in the org (nothing to take from it)
    unmatched: list[str]
    #: remote connectors no file describes (``import`` without ``--update`` writes them)
    not_in_git: list[RemoteConnector]
    #: fields left as written because the environment sets them (see :class:`HeldField`)
    held: list[HeldField] = field(default_factory=list)


def wanted_values(d: Desired, remote: RemoteConnector) -> dict[str, Any]:
    """Dotted path -> the org's value, for the fields where the file differs from the org.
    ``None`` as a value means: remove the key (the org holds the default)."""
    spec = d.spec
    out: dict[str, Any] = {}
    if remote.name != spec.name:
        out["name"] = remote.name
    if remote.description is not None and (remote.description or "") != (spec.description or ""):
        out["description"] = remote.description or None
    if remote.url is not None and remote.url != spec.url:
        out["url"] = remote.url
    if remote.excludes is not None and set(remote.excludes) != set(spec.excludes or ()):
        out["excludes"] = list(remote.excludes)
    for key in ("active", "continue_on_failure"):
        value = getattr(remote, key)
        if value is not None and value != _or_default(getattr(spec, key), key):
            out[key] = value
    if spec.oauth is not None and remote.oauth is not None:
        for key in OAUTH_FIELDS:
            value = getattr(remote.oauth, key)
            if value is not None and value != getattr(spec.oauth, key):
                out[f"oauth.{key}"] = value
    return out


def env_sources(raw: Mapping[str, Any], d: Desired, ctx: EnvContext) -> dict[str, str]:
    """Dotted path -> how ``ctx``'s environment sets the field (its overrides, or ``${vars.NAME}``
    in ``raw``, the file as written): the fields ``import --update`` leaves as written."""
    overrides = ctx.overrides.get(d.spec.name) if ctx.name is not None else None
    overridden = overrides.model_dump(exclude_none=True) if overrides is not None else {}
    out: dict[str, str] = {}
    if overrides is not None:  # renamed, the connector would lose them (and the key would name nothing)
        out["name"] = f"the key of its overrides in environment {ctx.name}"
    for path in (*FIELDS, *(f"oauth.{key}" for key in OAUTH_FIELDS)):
        if path in out:
            continue
        if _at(overridden, path) is not None:
            out[path] = f"set by the overrides of environment {ctx.name}"
            continue
        value = _at(raw, path)
        words = [str(v) for v in value] if isinstance(value, list) else [str(value)] if value is not None else []
        refs = sorted({name for word in words for name in VARS_RE.findall(word)})
        if refs:
            out[path] = "written with " + ", ".join(f"${{vars.{name}}}" for name in refs)
    return out


def _at(data: Mapping[str, Any], path: str) -> Any:
    top, _, sub = path.partition(".")
    value = data.get(top)
    if sub:
        return value.get(sub) if isinstance(value, Mapping) else None
    return value


def _spec_value(d: Desired, path: str) -> Any:
    top, _, sub = path.partition(".")
    value = getattr(d.spec, top)
    value = getattr(value, sub, None) if sub else value
    return list(value) if isinstance(value, tuple) else value


def _or_default(value: Any, key: str) -> Any:
    from conn_reconcile.plan.diff import DEFAULTS

    return DEFAULTS[key] if value is None else value


def _yaml(text: str) -> YAML:
    from ruamel.yaml import YAML
    from ruamel.yaml.util import load_yaml_guess_indent

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long line
    _, indent, block_seq_indent = load_yaml_guess_indent(text)
    indent = indent or 2
    yaml.indent(mapping=indent, sequence=indent + (block_seq_indent or 0), offset=block_seq_indent or 0)
    return yaml


def _set(doc: CommentedMap, key: str, value: Any, order: tuple[str, ...] = _ORDER) -> None:
    from ruamel.yaml.comments import CommentedSeq

    if value is None:
        doc.pop(key, None)
        return
    if isinstance(value, list):
        seq = CommentedSeq(value)
        old = doc.get(key)
        if isinstance(old, CommentedSeq) and old.fa.flow_style():
            seq.fa.set_flow_style()
        value = seq
    if key in doc:
        doc[key] = value
        return
    rank = order.index(key) if key in order else len(order)
    before = [i for i, k in enumerate(doc) if k in order and order.index(k) < rank]
    doc.insert(before[-1] + 1 if before else 0, key, value)


def rewrite(text: str, values: dict[str, Any]) -> str:
    """``text`` (a connector file) with ``values`` (dotted path -> value) written in place."""
    yaml = _yaml(text)
    doc = yaml.load(text)
    for path, value in values.items():
        if path.startswith("oauth."):
            _set(doc["oauth"], path.split(".", 1)[1], value, _OAUTH_ORDER)
        else:
            _set(doc, path, value)
    buf = io.StringIO()
    yaml.dump(doc, buf)
    return buf.getvalue()


def _check(new_text: str, d: Desired, values: dict[str, Any], ctx: EnvContext) -> None:
    """The rewritten file loads (in ``ctx``), with exactly the intended values and the same secrets."""
    from conn_reconcile.files.loader import load_bytes

    loaded, problems = load_bytes(new_text.encode("utf-8"), d.file, ctx)
    if loaded is None:
        raise InputError(problems or [Diagnostic(d.file, message="the updated file does not load back")])
    for path, value in values.items():
        top, _, sub = path.partition(".")
        got = getattr(getattr(loaded.spec, top), sub) if sub else getattr(loaded.spec, top)
        if got != value and not (value is None and not got) and not (isinstance(got, tuple) and list(got) == value):
            raise RefusedError(f"{d.file}: {path} did not survive the rewrite; the file was left unchanged")
    if loaded.spec.secret_refs != d.spec.secret_refs:
        raise RefusedError(f"{d.file}: the secret references changed in the rewrite; the file was left unchanged")


def plan_updates(
    desired: Sequence[Desired], matched: dict[str, RemoteConnector | None], ctx: EnvContext | None = None
) -> UpdateReport:
    """What to write into each file; in an environment (``ctx``), the fields it sets are held."""
    report = UpdateReport([], [], [], [])
    for d in desired:
        remote = matched.get(d.file)
        if remote is None:
            report.unmatched.append(d.file)
            continue
        values, held = _split(d, remote, ctx)
        report.held += held
        if values:
            report.updated.append(FileUpdate(d.file, remote.id, tuple(values)))
        elif not any(h.file == d.file for h in report.held):
            report.unchanged.append(d.file)
    return report


def writable_values(d: Desired, remote: RemoteConnector, ctx: EnvContext | None) -> dict[str, Any]:
    """:func:`wanted_values` without the fields ``ctx``'s environment sets (see :func:`env_sources`)."""
    return _split(d, remote, ctx)[0]


def _split(d: Desired, remote: RemoteConnector, ctx: EnvContext | None) -> tuple[dict[str, Any], list[HeldField]]:
    """The org's values to write into ``d``'s file, and the differing fields the environment sets."""
    values = wanted_values(d, remote)
    sources = _sources(d, ctx) if values else {}
    env = ctx.name if ctx is not None and ctx.name is not None else ""
    held = [HeldField(d.file, p, sources[p], env, _spec_value(d, p), v) for p, v in values.items() if p in sources]
    return {p: v for p, v in values.items() if p not in sources}, held


def _sources(d: Desired, ctx: EnvContext | None) -> dict[str, str]:
    """The fields the environment sets; none without one (no vars or overrides are possible)."""
    if ctx is None or ctx.name is None:
        return {}
    text = Path(d.file).read_text(encoding="utf-8")
    return env_sources(_yaml(text).load(text), d, ctx)


def update_files(session: Session, directory: Path) -> UpdateReport:
    """Rewrite the files under ``directory`` with the org's current values (see the module doc)."""
    from conn_reconcile.files.atomic import write_atomic
    from conn_reconcile.plan.matching import Matcher
    from conn_reconcile.workflows.common import load_desired, load_state

    ctx = session.settings.context
    desired = load_desired(session, [directory], require_files=True, policy=False)  # validate checks the result
    with session.client() as client:
        remote = client.list_connectors()
    matched = Matcher(remote, load_state(session)).match_all(desired)
    report = plan_updates(desired, matched, ctx)
    claimed = {r.id for r in matched.values() if r is not None}
    report.not_in_git = [r for r in remote if r.id not in claimed]
    by_file = {d.file: d for d in desired}
    texts = []  # every file rewritten and checked before the first is written
    for update in report.updated:
        d = by_file[update.file]
        remote_one = matched[update.file]
        assert remote_one is not None
        texts.append((Path(d.file), _rewritten(d, writable_values(d, remote_one, ctx), ctx)))
    for path, new_text in texts:
        write_atomic(path, new_text, mode=os.stat(path).st_mode & 0o777)
    return report


def _rewritten(d: Desired, values: dict[str, Any], ctx: EnvContext) -> str:
    path = Path(d.file)
    if path.is_symlink():
        raise RefusedError(f"refusing to write through a symlink: {d.file}")
    new_text = rewrite(path.read_text(encoding="utf-8"), values)
    _check(new_text, d, values, ctx)
    return new_text


def render_update_report(report: UpdateReport) -> str:
    """One line per file written (with its fields), then what was left alone."""
    from conn_reconcile.escape import escape, guard_lines

    lines = [f"updated {escape(u.file)}: {', '.join(u.fields)}" for u in report.updated]
    lines += [f"no connector in the org for {escape(f)} (left unchanged)" for f in report.unmatched]
    lines += [
        f"not in git: {escape(r.name)} ({escape(r.id)}); run import without --update to write it"
        for r in report.not_in_git
    ]
    lines += [_note(h) for h in report.held]
    summary = f"Updated {len(report.updated)} file(s); {len(report.unchanged)} already match the org"
    if report.held:
        summary += f"; {len(report.held)} field(s) left as written (see the notes)"
    lines.append(summary + ".")
    return guard_lines("\n".join(lines) + "\n")


def _note(h: HeldField) -> str:
    from conn_reconcile.escape import escape

    def shown(value: Any) -> str:
        return "(unset)" if value is None else escape(repr(value))

    if h.source.startswith("written with "):
        where = f"{h.source} (in {h.environment}: {shown(h.in_environment)})"
    else:
        where = f"{h.source} ({shown(h.in_environment)})"
    return f"note: {escape(h.file)}: {h.field} is {where}; the org has {shown(h.in_org)}: left as written"
