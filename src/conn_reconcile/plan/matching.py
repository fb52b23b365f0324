"""Pairing desired connectors with remote ones (pure core), by order of evidence: a pinned ``id``,
then the state (by name, then by file), then an intent of an interrupted apply (its connector,
found by :mod:`conn_reconcile.plan.recovery`), then the name."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from conn_reconcile.errors import Diagnostic, InputError
from conn_reconcile.model.connector import Desired, RemoteConnector
from conn_reconcile.model.state import State


class Matcher:
    """Matches each desired connector to at most one remote connector, claimed by one file at most.
    Connectors being deleted to finish a replacement, or provably created by an interrupted apply
    (``excluded``), are never matched by name."""

    def __init__(
        self,
        remote: Sequence[RemoteConnector],
        state: State | None,
        *,
        hints: Mapping[str, str] | None = None,
        excluded: Collection[str] = (),
    ):
        self.by_id = {r.id: r for r in remote}
        self.excluded = frozenset(excluded)
        self.hints = dict(hints or {})
        self.named: dict[str, list[RemoteConnector]] = {}
        for r in remote:
            self.named.setdefault(r.name, []).append(r)
        # state records indexed once by name and by file (the first record wins)
        self.state_by_name: dict[str, str] = {}
        self.state_by_file: dict[str, str] = {}
        for record in state.connectors.values() if state is not None else ():
            if record.id in self.excluded:
                continue
            self.state_by_name.setdefault(record.name, record.id)
            if record.file is not None:
                self.state_by_file.setdefault(record.file, record.id)
        self.claimed: dict[str, Desired] = {}
        self.problems: list[Diagnostic] = []

    def _claim(self, d: Desired, r: RemoteConnector, how: str) -> RemoteConnector | None:
        other = self.claimed.setdefault(r.id, d)
        if other is not d:
            self.problems.append(
                d.diagnostic("name", f"remote connector {r.id} ({how}) is already matched by {other.file}")
            )
            return None
        return r

    def _free(self, rid: str | None) -> bool:
        return rid is not None and rid in self.by_id and rid not in self.claimed and rid not in self.excluded

    def first_pass(self, d: Desired) -> tuple[bool, RemoteConnector | None]:
        """Match by pinned id, state or intent. Returns (decided, remote)."""
        if d.spec.id is not None:
            r = self.by_id.get(d.spec.id)
            if r is None:
                self.problems.append(
                    d.diagnostic(
                        "id",
                        f"pinned id {d.spec.id!r} does not exist in the org; "
                        "remove the id line to create the connector anew",
                    )
                )
                return True, None
            return True, self._claim(d, r, "pinned id")
        for rid in (self.state_by_name.get(d.spec.name), self.state_by_file.get(d.file)):
            if self._free(rid):
                assert rid is not None
                return True, self._claim(d, self.by_id[rid], "state")
        for key in (d.file, f"name:{d.spec.name}"):
            rid = self.hints.get(key)
            if self._free(rid) and rid is not None and self.by_id[rid].name == d.spec.name:
                return True, self._claim(d, self.by_id[rid], "intent")
        return False, None

    def by_name(self, d: Desired) -> RemoteConnector | None:
        candidates = [r for r in self.named.get(d.spec.name, ()) if self._free(r.id)]
        if len(candidates) > 1:
            ids = ", ".join(sorted(r.id for r in candidates))
            self.problems.append(
                d.diagnostic(
                    "name",
                    f"{len(candidates)} connectors in the org are named {d.spec.name!r} ({ids}) and none is "
                    "recorded in state: pin the one to manage with an 'id:' line, and delete the others",
                )
            )
            return None
        return self._claim(d, candidates[0], "name") if candidates else None

    def match_all(self, ordered: Sequence[Desired]) -> dict[str, RemoteConnector | None]:
        """file -> matched remote (None: to create). Raises InputError on conflicts."""
        matched: dict[str, RemoteConnector | None] = {}
        for d in ordered:
            decided, r = self.first_pass(d)
            if decided:
                matched[d.file] = r
        for d in ordered:
            if d.file not in matched:
                matched[d.file] = self.by_name(d)
        if self.problems:
            raise InputError(self.problems)
        return matched
