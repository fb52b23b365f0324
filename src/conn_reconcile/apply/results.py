"""What an apply did, connector by connector (pure core): the statuses, one outcome per
planned change, and the report whose exit code the CLI returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from conn_reconcile.errors import ExitCode
from conn_reconcile.plan.model import Action


class Status(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    REPLACED = "replaced"
    DELETED = "deleted"
    FAILED = "failed"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"  # the call may or may not have acted: the next plan checks

    @property
    def ok(self) -> bool:
        return self in DONE.values()


#: the status of a change that succeeded
DONE: dict[Action, Status] = {
    Action.CREATE: Status.CREATED,
    Action.UPDATE: Status.UPDATED,
    Action.REPLACE: Status.REPLACED,
    Action.DELETE: Status.DELETED,
}


@dataclass(frozen=True)
class Outcome:
    """How one planned change ended."""

    name: str
    action: Action
    status: Status
    remote_id: str | None = None
    message: str = ""
    seconds: float = 0.0
    #: the connector file of the planned change (for deletes: the one state last knew)
    file: str | None = None

    @property
    def ok(self) -> bool:
        return self.status.ok

    def to_dict(self) -> dict[str, Any]:
        """One outcome of docs/apply-format.md."""
        return {
            "name": self.name,
            "action": self.action.value,
            "status": self.status.value,
            "id": self.remote_id,
            "file": self.file,
            "message": self.message,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class ApplyReport:
    """Every outcome of one apply, and whether it was interrupted (or, at a second Ctrl-C, abandoned)."""

    outcomes: list[Outcome] = field(default_factory=list)
    interrupted: bool = False
    #: a second Ctrl-C: calls still in flight were left running and reported ``unknown``
    abandoned: bool = False

    def count(self, status: Status | str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def changed(self) -> int:
        return sum(1 for o in self.outcomes if o.ok)

    @property
    def failed(self) -> int:
        return sum(1 for o in self.outcomes if o.status in (Status.FAILED, Status.UNKNOWN))

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return ExitCode.INTERRUPTED
        if self.count(Status.UNKNOWN) or (self.failed and self.changed):
            return ExitCode.PARTIAL
        return ExitCode.ERROR if self.failed else ExitCode.OK
