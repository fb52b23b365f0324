"""``conn-reconcile import --update``: accept drift into git by rewriting existing connector files
with the org's non-secret values (ruamel round-trip: comments, key order and ``${VAR}``s kept).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

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


@dataclass
class UpdateReport:
    """What ``import --update`` changed in the connector files, and what it could not match."""

    updated: list[FileUpdate]
    unchanged: list[str]
    #: files whose connector is not in the org (nothing to take from it)
    unmatched: list[str]
    #: remote connectors no file describes (``import`` without ``--update`` writes them)
    not_in_git: list[RemoteConnector]


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


def _check(new_text: str, d: Desired, values: dict[str, Any]) -> None:
    """The rewritten file loads, with exactly the intended values and the same secrets."""
    from conn_reconcile.files.loader import load_bytes

    loaded, problems = load_bytes(new_text.encode("utf-8"), d.file)
    if loaded is None:
        raise InputError(problems or [Diagnostic(d.file, message="the updated file does not load back")])
    for path, value in values.items():
        top, _, sub = path.partition(".")
        got = getattr(getattr(loaded.spec, top), sub) if sub else getattr(loaded.spec, top)
        if got != value and not (value is None and not got) and not (isinstance(got, tuple) and list(got) == value):
            raise RefusedError(f"{d.file}: {path} did not survive the rewrite; the file was left unchanged")
    if loaded.spec.secret_refs() != d.spec.secret_refs():
        raise RefusedError(f"{d.file}: the secret references changed in the rewrite; the file was left unchanged")


def plan_updates(desired: Sequence[Desired], matched: dict[str, RemoteConnector | None]) -> UpdateReport:
    report = UpdateReport([], [], [], [])
    for d in desired:
        remote = matched.get(d.file)
        if remote is None:
            report.unmatched.append(d.file)
            continue
        values = wanted_values(d, remote)
        if values:
            report.updated.append(FileUpdate(d.file, remote.id, tuple(values)))
        else:
            report.unchanged.append(d.file)
    return report


def update_files(session: Session, directory: Path) -> UpdateReport:
    """Rewrite the files under ``directory`` with the org's current values (see the module doc)."""
    from conn_reconcile.files.atomic import write_atomic
    from conn_reconcile.files.loader import load
    from conn_reconcile.plan.matching import Matcher
    from conn_reconcile.state import file as statefile

    desired = load([directory], require_files=True)
    with session.client() as client:
        remote = client.list_connectors()
    matched = Matcher(remote, statefile.load(session.state_path)).match_all(desired)
    report = plan_updates(desired, matched)
    claimed = {r.id for r in matched.values() if r is not None}
    report.not_in_git = [r for r in remote if r.id not in claimed]
    by_file = {d.file: d for d in desired}
    texts = []  # every file rewritten and checked before the first is written
    for update in report.updated:
        d = by_file[update.file]
        remote_one = matched[update.file]
        assert remote_one is not None
        texts.append((Path(d.file), _rewritten(d, wanted_values(d, remote_one))))
    for path, new_text in texts:
        write_atomic(path, new_text, mode=os.stat(path).st_mode & 0o777)
    return report


def _rewritten(d: Desired, values: dict[str, Any]) -> str:
    path = Path(d.file)
    if path.is_symlink():
        raise RefusedError(f"refusing to write through a symlink: {d.file}")
    new_text = rewrite(path.read_text(encoding="utf-8"), values)
    _check(new_text, d, values)
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
    lines.append(f"Updated {len(report.updated)} file(s); {len(report.unchanged)} already match the org.")
    return guard_lines("\n".join(lines) + "\n")
