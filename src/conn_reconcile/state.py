"""The shape of the state file (pure): which remote connectors this tool manages.

Cohere generates connector ids, so the only way to know that ``docs-search-kh3g8q`` was
created from ``connectors/docs.yaml`` is to remember it. A record per managed connector
holds its id, its file, the desired view last applied (for drift detection) and keyed
fingerprints of its write-only secrets (for rotation detection). Reading and writing the
file is :mod:`conn_reconcile.statefile`'s job.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

STATE_VERSION = 1


class ManagedRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    file: str | None = None
    #: secret path -> "hmac-sha256:<hex>"
    fingerprints: dict[str, str] = Field(default_factory=dict)
    #: the normalised desired view (diff.normalize_desired) last applied, lists as lists
    applied: dict[str, Any] = Field(default_factory=dict)
    remote_updated_at: str | None = None


class State(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = STATE_VERSION
    connectors: dict[str, ManagedRecord] = Field(default_factory=dict)

    def managed_ids(self) -> frozenset[str]:
        return frozenset(self.connectors)
