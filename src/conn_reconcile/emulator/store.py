"""The emulated organisation: request-body validation, the connector records and their persistence.
Records are held as sent, secrets included; no view of them leaves the emulator with a secret
(:func:`public_view` drops them, :func:`masked_view` masks them), and the data file is never served."""

from __future__ import annotations

import copy
import json
import re
import secrets
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from conn_reconcile.files.atomic import write_atomic
from conn_reconcile.model.connector import AUTH_TOKEN_TYPES

SECRET_MASK = "***"
OAUTH_FIELDS = ("client_id", "client_secret", "authorize_url", "token_url", "scope")
CREATE_FIELDS = ("name", "description", "url", "excludes", "oauth", "active", "continue_on_failure", "service_auth")
UPDATE_FIELDS = ("name", "url", "excludes", "oauth", "active", "continue_on_failure", "service_auth")
_ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_DATA_FORMAT = 1


class ApiProblem(Exception):
    """An API error answer: HTTP status and a secret-free message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _bad(message: str) -> ApiProblem:
    return ApiProblem(400, message)


# -- validation ------------------------------------------------------------------------------
def _string(body: dict[str, Any], key: str, where: str = "", *, required: bool = False) -> None:
    value = body.get(key)
    if value is None:
        body.pop(key, None)
        if required:
            raise _bad(f"{where}{key} is required")
        return
    if not isinstance(value, str):
        raise _bad(f"{where}{key} must be a string")


def _http_url(body: dict[str, Any], key: str, where: str = "") -> None:
    if key in body:
        parts = urlsplit(body[key])
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise _bad(f"{where}{key} must be an absolute http(s) URL")


def _oauth(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad("oauth must be an object")
    oauth = dict(value)
    unknown = sorted(set(oauth) - set(OAUTH_FIELDS))
    if unknown:
        raise _bad(f"unknown field(s) in oauth: {', '.join(unknown)}")
    for key in OAUTH_FIELDS:
        _string(oauth, key, "oauth.", required=key in ("authorize_url", "token_url"))
    _http_url(oauth, "authorize_url", "oauth.")
    _http_url(oauth, "token_url", "oauth.")
    return oauth


def _service_auth(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad("service_auth must be an object")
    unknown = sorted(set(value) - {"type", "token"})
    if unknown:
        raise _bad(f"unknown field(s) in service_auth: {', '.join(unknown)}")
    if value.get("type") not in AUTH_TOKEN_TYPES:
        raise _bad(f"service_auth.type must be one of: {', '.join(AUTH_TOKEN_TYPES)}")
    token = value.get("token")
    if not isinstance(token, str) or not token:
        raise _bad("service_auth.token is required and must be a non-empty string")
    return {"type": value["type"], "token": token}


def validate_body(body: Any, *, update: bool) -> dict[str, Any]:
    """Check a create (``update=False``) or PATCH body; return its normalised fields.

    As the published spec, decoded the way a typed backend would: ``null`` for an optional field
    means "not provided"; a wrong type, a missing required field, an unknown field, or both
    ``oauth`` and ``service_auth`` is a 400 (:class:`ApiProblem`), whose message holds no request value.
    """
    if not isinstance(body, dict):
        raise _bad("request body must be a JSON object")
    allowed = UPDATE_FIELDS if update else CREATE_FIELDS
    if update and "description" in body:
        raise _bad("description cannot be updated")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise _bad(f"unknown field(s): {', '.join(unknown)}")
    out = {k: v for k, v in body.items() if v is not None}
    _string(out, "name", required=not update)
    _string(out, "url", required=not update)
    _string(out, "description")
    if "name" in out and not out["name"].strip():
        raise _bad("name must not be empty")
    _http_url(out, "url")
    if "excludes" in out and (
        not isinstance(out["excludes"], list) or not all(isinstance(x, str) for x in out["excludes"])
    ):
        raise _bad("excludes must be a list of strings")
    for key in ("active", "continue_on_failure"):
        if key in out and not isinstance(out[key], bool):
            raise _bad(f"{key} must be a boolean")
    if "oauth" in out and "service_auth" in out:
        raise _bad("oauth and service_auth are mutually exclusive")
    if "oauth" in out:
        out["oauth"] = _oauth(out["oauth"])
    if "service_auth" in out:
        out["service_auth"] = _service_auth(out["service_auth"])
    if "excludes" in out:
        out["excludes"] = list(out["excludes"])
    return out


# -- views -----------------------------------------------------------------------------------
def public_view(record: dict[str, Any]) -> dict[str, Any]:
    """The connector as the API returns it: no ``service_auth``, no ``client_secret``."""
    out = {k: copy.deepcopy(v) for k, v in record.items() if k != "service_auth"}
    if "oauth" in out:
        out["oauth"].pop("client_secret", None)
        out["auth_type"] = "oauth"
    elif "service_auth" in record:
        out["auth_type"] = "service_auth"
    return out


def masked_view(record: dict[str, Any]) -> dict[str, Any]:
    """The internal record with every secret value replaced by ``"***"``."""
    out = copy.deepcopy(record)
    if "client_secret" in out.get("oauth", {}):
        out["oauth"]["client_secret"] = SECRET_MASK
    if "service_auth" in out:
        out["service_auth"]["token"] = SECRET_MASK
    return out


def slug(name: str) -> str:
    s = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:100].strip("-")
    return s or "connector"


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Store:
    """Thread-safe connector records of one emulated organisation, in the *internal* shape (what
    was sent, ``oauth.client_secret`` and ``service_auth.token`` included).

    The optional data file is the org's database: like Cohere's own (encrypted at rest there) it
    DOES hold the secrets, so it is written with mode 0600, atomically (temp file + ``os.replace``)
    after every change, and never served: the only HTTP view of the records,
    ``GET /_emulator/connectors``, masks the secrets as ``"***"``.
    """

    def __init__(self, data_file: Path | None = None):
        self.data_file = Path(data_file) if data_file is not None else None
        self.organization_id = str(uuid.uuid4())
        self._lock = threading.RLock()
        self._records: dict[str, dict[str, Any]] = {}  # creation (insertion) order
        self._seq: dict[str, int] = {}
        self._next_seq = 0
        self._order: list[str] | None = None  # cached newest-first ids
        self._last_stamp = datetime.min.replace(tzinfo=UTC)
        if self.data_file is not None and self.data_file.exists():
            self._load()

    # -- persistence ---------------------------------------------------------------------
    def _load(self) -> None:
        assert self.data_file is not None
        data = json.loads(self.data_file.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("format") != _DATA_FORMAT:
            raise ValueError(f"{self.data_file}: not an emulator data file (format {_DATA_FORMAT})")
        self.organization_id = data.get("organization_id") or self.organization_id
        for record in data.get("connectors", []):
            self._insert(record)

    def _persist(self) -> None:
        if self.data_file is None:
            return
        payload = {
            "format": _DATA_FORMAT,
            "organization_id": self.organization_id,
            "connectors": list(self._records.values()),
        }
        write_atomic(self.data_file, json.dumps(payload, indent=1), mode=0o600)

    # -- internals -----------------------------------------------------------------------
    def _stamp(self) -> str:
        """Now, as RFC 3339 UTC with microseconds, strictly after every earlier stamp."""
        now = datetime.now(UTC)
        if now <= self._last_stamp:
            now = self._last_stamp + timedelta(microseconds=1)
        self._last_stamp = now
        return format_time(now)

    def _new_id(self, name: str) -> str:
        while True:
            candidate = f"{slug(name)}-{''.join(secrets.choice(_ID_ALPHABET) for _ in range(6))}"
            if candidate not in self._records:
                return candidate

    def _insert(self, record: dict[str, Any]) -> None:
        self._records[record["id"]] = record
        self._seq[record["id"]] = self._next_seq
        self._next_seq += 1
        self._order = None
        for key in ("created_at", "updated_at"):
            stamp = _parse_time(record[key])
            if stamp > self._last_stamp:
                self._last_stamp = stamp

    def _get(self, connector_id: str) -> dict[str, Any]:
        record = self._records.get(connector_id)
        if record is None:
            raise ApiProblem(404, f"connector {connector_id!r} not found")
        return record

    # -- operations ----------------------------------------------------------------------
    def create(self, fields: dict[str, Any], *, id: str | None = None, created_at: str | None = None) -> dict[str, Any]:
        """Store validated create ``fields``; returns the public view."""
        with self._lock:
            if id is not None and id in self._records:
                raise ApiProblem(400, f"connector id {id!r} already exists")
            stamp = format_time(_parse_time(created_at)) if created_at else self._stamp()
            record: dict[str, Any] = {
                "id": id or self._new_id(fields["name"]),
                "organization_id": self.organization_id,
                "name": fields["name"],
            }
            if "description" in fields:
                record["description"] = fields["description"]
            record["url"] = fields["url"]
            record["excludes"] = list(fields.get("excludes", []))
            record["active"] = fields.get("active", True)
            record["continue_on_failure"] = fields.get("continue_on_failure", False)
            for key in ("oauth", "service_auth"):
                if key in fields:
                    record[key] = copy.deepcopy(fields[key])
            record["created_at"] = record["updated_at"] = stamp
            self._insert(record)
            self._persist()
            return public_view(record)

    def update(self, connector_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Apply validated PATCH ``fields`` (only those present); returns the public view."""
        with self._lock:
            record = self._get(connector_id)
            # A present field replaces the stored value whole: a PATCHed oauth object
            # replaces the old one (client_secret included), as a typed backend decodes it.
            for key, value in fields.items():
                record[key] = copy.deepcopy(value)
            # oauth and service_auth stay mutually exclusive: setting one switches auth.
            if "oauth" in fields:
                record.pop("service_auth", None)
            if "service_auth" in fields:
                record.pop("oauth", None)
            record["updated_at"] = self._stamp()
            self._persist()
            return public_view(record)

    def delete(self, connector_id: str) -> None:
        with self._lock:
            self._get(connector_id)
            del self._records[connector_id]
            del self._seq[connector_id]
            self._order = None
            self._persist()

    def get(self, connector_id: str) -> dict[str, Any]:
        """The INTERNAL record (secrets included) as a deep copy."""
        with self._lock:
            return copy.deepcopy(self._get(connector_id))

    def page(self, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        """Newest first (creation time, then creation order); public views."""
        with self._lock:
            if self._order is None:
                self._order = sorted(
                    self._records,
                    key=lambda i: (_parse_time(self._records[i]["created_at"]), self._seq[i]),
                    reverse=True,
                )
            ids = self._order[offset : offset + limit]
            return [public_view(self._records[i]) for i in ids], len(self._records)

    def all(self) -> list[dict[str, Any]]:
        """Every INTERNAL record (secrets included), oldest first, as deep copies."""
        with self._lock:
            return copy.deepcopy(list(self._records.values()))

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._seq.clear()
            self._order = None
            self._persist()
