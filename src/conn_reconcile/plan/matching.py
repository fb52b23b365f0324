"""Pairing desired connectors with remote ones (pure core), by order of evidence: a pinned ``id``,
then the state (by name; by ``renamed_from:``; by the file git renamed; by file), then an intent
of an interrupted apply (:mod:`conn_reconcile.plan.recovery`), then the name; a rename it cannot
tell from a create plus a removal is refused."""

from __future__ import annotations

import difflib
import glob
from collections.abc import Callable, Collection, Mapping, Sequence

from conn_reconcile.errors import Diagnostic, InputError
from conn_reconcile.model.connector import Desired, RemoteConnector
from conn_reconcile.model.state import ManagedRecord, State


class Matcher:
    """Matches each desired connector to at most one remote connector, claimed by one file at most.
    Connectors being deleted to finish a replacement, or provably created by an interrupted apply
    (``excluded``), are never matched by name. ``renames``: old file -> new file, as git's rename
    detection found them since the files were last applied."""

    def __init__(
        self,
        remote: Sequence[RemoteConnector],
        state: State | None,
        *,
        hints: Mapping[str, str] | None = None,
        excluded: Collection[str] = (),
        renames: Mapping[str, str] | None = None,
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
        self.moved_from = {new: old for old, new in (renames or {}).items()}
        self.managed_names = frozenset(r.name for r in state.connectors.values()) if state is not None else frozenset()
        self.records: list[ManagedRecord] = []
        self.notes: list[str] = []
        for record in state.connectors.values() if state is not None else ():
            if record.id in self.excluded:
                continue
            self.records.append(record)
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
        if self.records:
            found = self._recorded(d)
            if found is not None:
                return found
        if self.hints:
            for key in (d.file, f"name:{d.spec.name}"):
                rid = self.hints.get(key)
                if self._free(rid) and rid is not None and self.by_id[rid].name == d.spec.name:
                    return True, self._claim(d, self.by_id[rid], "intent")
        return False, None

    def _recorded(self, d: Desired) -> tuple[bool, RemoteConnector | None] | None:
        """Match by state: by name, by ``renamed_from:``, by the file git renamed, by file."""
        renamed = d.spec.renamed_from
        for rid, how in (
            (self.state_by_name.get(d.spec.name), "state"),
            (self.state_by_name.get(renamed) if renamed is not None else None, "renamed_from"),
            (self.state_by_file.get(self.moved_from.get(d.file, "")), "state: a file git renamed"),
            (self.state_by_file.get(d.file), "state"),
        ):
            if self._free(rid):
                assert rid is not None
                return True, self._claim(d, self.by_id[rid], how)
        return None

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
        for d in ordered:
            self._check_renamed_from(d, matched[d.file])
        if self.problems:
            raise InputError(self.problems)
        return matched

    def _check_renamed_from(self, d: Desired, r: RemoteConnector | None) -> None:
        """A ``renamed_from:`` left after its rename was applied is a note; one naming no
        managed connector is an error, with the nearest managed name."""
        old = d.spec.renamed_from
        if old is None:
            return
        rid = self.state_by_name.get(old)
        other = self.claimed.get(rid or "")
        if r is not None and r.name == d.spec.name:
            self.notes.append(
                f"{d.file}: renamed_from: {old} has nothing left to rename ({d.spec.name} is its name in the "
                "org); the line can be removed"
            )
        elif old not in self.managed_names:
            close = difflib.get_close_matches(old, sorted(self.managed_names), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else "; remove the line to create it as a new connector"
            self.problems.append(
                d.diagnostic("renamed_from", f"{old!r} is not a connector managed by conn-reconcile{hint}")
            )
        elif other is not None and other is not d:
            self.problems.append(d.diagnostic("renamed_from", f"{old!r} is already matched by {other.file}"))

    def refuse_unproven_renames(
        self, ordered: Sequence[Desired], matched: Mapping[str, RemoteConnector | None], in_scope: Callable[[str], bool]
    ) -> None:
        """Refuse a plan where one managed connector's file is gone and one new file appeared,
        which nothing proves is not that connector renamed (a create plus a removal would lose
        the connector's id and its users' OAuth grants)."""
        if not self.records:  # nothing managed, so nothing can be gone
            return
        files = {d.file for d in ordered}
        gone = [
            rec
            for rec in self.records
            if rec.id in self.by_id and rec.id not in self.claimed and rec.file not in files and in_scope(rec.name)
        ]
        if len(gone) != 1:  # the files that are new are looked for only then
            return
        new = [d for d in ordered if matched[d.file] is None and d.spec.renamed_from is None and in_scope(d.spec.name)]
        if len(new) != 1:
            return
        (d,), (rec,) = new, gone
        raise InputError(
            [
                d.diagnostic(
                    "name",
                    f"{d.spec.name} is new and {rec.name} ({rec.id}), a managed connector, is no longer in git "
                    f"({rec.file or 'its file'} is gone): if this file is {rec.name} renamed, add the line "
                    f"'renamed_from: {rec.name}' to it to rename the connector in place (its id and its users' "
                    f"OAuth grants are kept); if {d.spec.name} is another connector, plan it on its own first "
                    f"(--target {glob.escape(d.spec.name)})",
                )
            ]
        )
