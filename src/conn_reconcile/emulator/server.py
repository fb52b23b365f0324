"""The emulated Cohere connectors API: a real HTTP/1.1 server on loopback with the routes of the
published spec (tests/data/cohere-connectors-openapi.yaml), bearer auth, ``{"message": ...}``
errors and no secret in any answer, plus the unauthenticated ``/_emulator/*`` test control."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import httpx

from conn_reconcile.config import defaults
from conn_reconcile.emulator.faults import Fault, Faults, RequestLog, RequestRecord
from conn_reconcile.emulator.registration import new_http_client, registration_failure
from conn_reconcile.emulator.store import ApiProblem, Store, masked_view, public_view, validate_body
from conn_reconcile.emulator.wire import BadBody, JsonHandler, Served, ServerThread

#: Where Cohere sends users back after they authorise at the provider.
OAUTH_REDIRECT_URI = "https://api.cohere.com/v1/connectors/oauth/token"
_ITEM = re.compile(r"^/v1/connectors/([^/]+)$")
_AUTHORIZE = re.compile(r"^/v1/connectors/([^/]+)/oauth/authorize$")

Answer = tuple[int, Any, dict[str, str]]


def _ok(payload: Any) -> Answer:
    return 200, payload, {}


class Emulator(Served):
    """A local Cohere connectors API. ``with Emulator() as emu: ... emu.url ...``.

    ``connectors`` is the INTERNAL view of the stored records (oldest first, deep copies):
    it includes the secrets that were sent (``service_auth.token``, ``oauth.client_secret``)
    so tests can assert on exactly what the tool sent. The HTTP API never returns them.
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, api_key: str | None = None, data_file: Path | None = None
    ):
        self.api_key = api_key
        self.faults = Faults()
        self.requests = RequestLog()
        self._store = Store(data_file)
        self._thread = ServerThread(host, port, _Handler, self)
        self._http: httpx.Client | None = None  # for registration tests, made on first use
        self._http_lock = threading.Lock()
        #: (connector id, digest of an API key, or "*": every key) -> the user's auth_status
        self._grants: dict[tuple[str, str], str] = {}

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def organization_id(self) -> str:
        return self._store.organization_id

    def stop(self) -> None:
        super().stop()
        with self._http_lock:
            if self._http is not None:
                self._http.close()
                self._http = None

    # -- test helpers --------------------------------------------------------------------
    @property
    def dribbling(self) -> int:
        """How many responses are being dribbled right now (see the ``dribble`` fault)."""
        server = self._thread.server
        return server.dribbling if server is not None else 0

    @property
    def connectors(self) -> list[dict[str, Any]]:
        return self._store.all()

    def seed(self, body: dict[str, Any], *, id: str | None = None, created_at: str | None = None) -> dict[str, Any]:
        """Store a connector WITHOUT the registration test; returns its public (API) view.

        ``body`` is a create body (validated the same way; ``ValueError`` when invalid).
        ``id`` pins the id (default: generated); ``created_at`` (RFC 3339) backdates it.
        """
        if id is not None and (not isinstance(id, str) or not id or "/" in id):
            raise ValueError("id must be a non-empty string without '/'")
        if created_at is not None and not isinstance(created_at, str):
            raise ValueError("created_at must be an RFC 3339 string")
        try:
            return self._store.create(validate_body(dict(body), update=False), id=id, created_at=created_at)
        except ApiProblem as exc:
            raise ValueError(exc.message) from None

    def set_auth_status(self, connector_id: str, status: str, *, api_key: str | None = None) -> None:
        """The OAuth grant of the user of ``api_key`` (default: the emulator's key; with none, every
        key) for an OAuth connector: ``valid``, ``expired``, or ``""`` (not authorized: the API omits
        ``auth_status``). ``ValueError`` for an unknown or non-OAuth connector or another status."""
        if status not in ("valid", "expired", ""):
            raise ValueError("status must be one of: valid, expired, '' (not authorized)")
        try:
            record = self._store.get(connector_id)
        except ApiProblem as exc:
            raise ValueError(exc.message) from None
        if "oauth" not in record:
            raise ValueError(f"connector {connector_id!r} does not use oauth")
        key = (connector_id, _digest(api_key or self.api_key))
        with self._http_lock:
            if status:
                self._grants[key] = status
            else:
                self._grants.pop(key, None)

    def reset(self) -> None:
        """Forget every connector, pending fault and logged request."""
        self._store.clear()
        with self._http_lock:
            self._grants.clear()
        self.faults.clear()
        self.requests.clear()

    # -- the API -------------------------------------------------------------------------
    def _authorized(self, header: str | None) -> bool:
        scheme, _, token = (header or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return False
        return self.api_key is None or hmac.compare_digest(token.encode(), self.api_key.encode())

    def api(self, method: str, path: str, query: dict[str, str], raw: bytes, authorization: str | None) -> Answer:
        """The answer of an API route; every route requires ``Authorization: Bearer <key>`` (401
        otherwise; any non-empty key when ``api_key`` is None)::

            GET    /v1/connectors?limit&offset   newest first; limit 0..100 (default 30)
            POST   /v1/connectors                validates, runs the registration test, stores
            GET    /v1/connectors/{id}
            PATCH  /v1/connectors/{id}           only the fields present change; no description
            DELETE /v1/connectors/{id}           -> {}
            POST   /v1/connectors/{id}/oauth/authorize[?after_token_redirect=URL]

        Errors (:class:`ApiProblem`) are ``{"message": ...}``: 400 bad body/params, 401, 404 unknown
        id or path, 405 wrong method. Answers never hold ``service_auth`` or ``oauth.client_secret``.
        """
        if path != "/v1" and not path.startswith("/v1/"):
            raise ApiProblem(404, "not found")
        if not self._authorized(authorization):
            raise ApiProblem(401, "invalid api token")
        if path == "/v1/connectors":
            allowed = {"GET": lambda: self._list(query), "POST": lambda: self._create(raw)}
        elif m := _ITEM.match(path):
            cid = unquote(m.group(1))
            allowed = {
                "GET": lambda: _ok({"connector": public_view(self._store.get(cid))}),
                "PATCH": lambda: self._update(cid, raw),
                "DELETE": lambda: self._delete(cid),
            }
        elif m := _AUTHORIZE.match(path):
            cid = unquote(m.group(1))
            allowed = {"POST": lambda: self._authorize(cid, query)}
        else:
            raise ApiProblem(404, "not found")
        if method not in allowed:
            return 405, {"message": f"method {method} not allowed"}, {"Allow": ", ".join(allowed)}
        return self._with_auth_status(allowed[method](), authorization)

    def _with_auth_status(self, answer: Answer, authorization: str | None) -> Answer:
        """``auth_status`` of each OAuth connector of the answer, for the requesting key's user;
        omitted when that user has not authorized it (as the spec says)."""
        status, payload, headers = answer
        if not isinstance(payload, dict):
            return answer
        connectors = [payload["connector"]] if "connector" in payload else payload.get("connectors")
        key = _digest((authorization or "").partition(" ")[2].strip())
        with self._http_lock:  # (a test may make the answer any shape: only connectors are touched)
            for c in connectors if isinstance(connectors, list) else ():
                if not isinstance(c, dict) or c.get("auth_type") != "oauth":
                    continue
                grant = self._grants.get((str(c.get("id")), key)) or self._grants.get((str(c.get("id")), "*"))
                if grant:
                    c["auth_status"] = grant
        return status, payload, headers

    def _list(self, query: dict[str, str]) -> Answer:
        limit = _int_param(query, "limit", 30)
        offset = _int_param(query, "offset", 0)
        if not 0 <= limit <= 100:
            raise ApiProblem(400, "limit must be between 0 and 100")
        if offset < 0:
            raise ApiProblem(400, "offset must be >= 0")
        connectors, total = self._store.page(limit, offset)
        return _ok({"connectors": connectors, "total_count": total})

    def _create(self, raw: bytes) -> Answer:
        fields = validate_body(_json(raw), update=False)
        with self._http_lock:
            if self._http is None:
                self._http = new_http_client()
        reason = registration_failure(self._http, fields)
        if reason is not None:
            raise ApiProblem(400, f"connector registration test failed: {reason}")
        return _ok({"connector": self._store.create(fields)})

    def _update(self, connector_id: str, raw: bytes) -> Answer:
        fields = validate_body(_json(raw), update=True)
        # Deliberately NO registration test on PATCH, even when url or service_auth change:
        # whether real Cohere re-tests on update is undocumented, and not testing is the
        # more permissive choice (the tool must not rely on a PATCH being tested).
        return _ok({"connector": self._store.update(connector_id, fields)})

    def _delete(self, connector_id: str) -> Answer:
        self._store.delete(connector_id)
        with self._http_lock:  # the users' grants go with the connector
            self._grants = {k: v for k, v in self._grants.items() if k[0] != connector_id}
        return _ok({})

    def _authorize(self, connector_id: str, query: dict[str, str]) -> Answer:
        record = self._store.get(connector_id)
        oauth = record.get("oauth")
        if not oauth:
            raise ApiProblem(400, f"connector {connector_id!r} does not use oauth")
        state = {"connector_id": connector_id, "nonce": secrets.token_urlsafe(12)}
        redirect = query.get("after_token_redirect")
        if redirect:
            parts = urlsplit(redirect)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ApiProblem(400, "after_token_redirect must be an absolute http(s) URL")
            state["after_token_redirect"] = redirect
        params = {
            "response_type": "code",
            "redirect_uri": OAUTH_REDIRECT_URI,
            "state": base64.urlsafe_b64encode(json.dumps(state).encode()).decode().rstrip("="),
        }
        if oauth.get("client_id"):
            params["client_id"] = oauth["client_id"]
        if oauth.get("scope"):
            params["scope"] = oauth["scope"]
        base = oauth["authorize_url"]
        return _ok({"redirect_url": base + ("&" if "?" in base else "?") + urlencode(params)})

    # -- control -------------------------------------------------------------------------
    def control(self, method: str, path: str, raw: bytes) -> Answer:
        """The answer of a test-control route: emulator only, without auth, never faulted, never
        in ``requests``::

            POST       /_emulator/faults       the keyword arguments of Faults.add, plus method and path_regex
            GET|DELETE /_emulator/faults
            POST       /_emulator/seed         a create body, plus optional "id" and "created_at"
            POST       /_emulator/auth_status  {"id", "status", "api_key"?}: a user's OAuth grant
            GET        /_emulator/connectors   the internal records, secrets masked "***"
            GET        /_emulator/requests
            POST       /_emulator/reset
        """

        def clear_faults() -> Answer:
            self.faults.clear()
            return _ok({})

        def reset() -> Answer:
            self.reset()
            return _ok({})

        routes: dict[tuple[str, str], Callable[[], Answer]] = {
            ("POST", "/_emulator/faults"): lambda: _ok({"fault": self._add_fault(raw)}),
            ("GET", "/_emulator/faults"): lambda: _ok({"faults": self.faults.pending()}),
            ("DELETE", "/_emulator/faults"): clear_faults,
            ("POST", "/_emulator/seed"): lambda: _ok({"connector": self._seed_json(raw)}),
            ("POST", "/_emulator/auth_status"): lambda: self._auth_status_json(raw),
            ("GET", "/_emulator/connectors"): lambda: _ok({"connectors": [masked_view(c) for c in self.connectors]}),
            ("GET", "/_emulator/requests"): lambda: _ok({"requests": [r.as_dict() for r in self.requests]}),
            ("POST", "/_emulator/reset"): reset,
        }
        if (method, path) in routes:
            return routes[(method, path)]()
        allowed = [m for (m, p) in routes if p == path]
        if allowed:
            return 405, {"message": f"method {method} not allowed"}, {"Allow": ", ".join(allowed)}
        raise ApiProblem(404, "not found")

    def _add_fault(self, raw: bytes) -> dict[str, Any]:
        try:
            return self.faults.add_from_json(_json(raw)).describe()
        except ValueError as exc:
            raise ApiProblem(400, str(exc)) from None

    def _auth_status_json(self, raw: bytes) -> Answer:
        body = _json(raw)
        if not isinstance(body, dict) or not all(isinstance(body.get(k, ""), str) for k in ("id", "status", "api_key")):
            raise ApiProblem(400, 'expected {"id": ..., "status": ..., "api_key": ...} with string values')
        try:
            self.set_auth_status(str(body.get("id", "")), body.get("status", ""), api_key=body.get("api_key"))
        except ValueError as exc:
            raise ApiProblem(400, str(exc)) from None
        return _ok({})

    def _seed_json(self, raw: bytes) -> dict[str, Any]:
        body = _json(raw)
        if not isinstance(body, dict):
            raise ApiProblem(400, "request body must be a JSON object")
        body = dict(body)
        cid, created_at = body.pop("id", None), body.pop("created_at", None)
        try:
            return self.seed(body, id=cid, created_at=created_at)
        except ValueError as exc:
            raise ApiProblem(400, str(exc)) from None


def _digest(api_key: str | None) -> str:
    """How a grant names its user: a digest of the API key, or ``*`` (every key) for none."""
    return hashlib.sha256(api_key.encode()).hexdigest() if api_key else "*"


def _json(raw: bytes) -> Any:
    try:
        return JsonHandler.parse_json(raw)
    except BadBody as exc:
        raise ApiProblem(400, str(exc)) from None


def _int_param(query: dict[str, str], name: str, default: int) -> int:
    if name not in query:
        return default
    try:
        value = float(query[name])  # the spec types these as "number"; SDKs may send 10.0
    except ValueError:
        raise ApiProblem(400, f"{name} must be a number") from None
    if not value.is_integer():
        raise ApiProblem(400, f"{name} must be a whole number")
    return int(value)


class _Handler(JsonHandler):
    def _any(self) -> None:
        app: Emulator = self.server.app
        parts = urlsplit(self.path)
        path = parts.path
        control = path == "/_emulator" or path.startswith("/_emulator/")
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        if not control:
            app.requests.append(RequestRecord(self.command, path, query, self.headers.get("X-Client-Name")))
        raw = self.body_or_reject()
        if raw is None:
            return
        fault = None if control else app.faults.take(self.command, path)
        self.dribble = fault.dribble if fault is not None else 0.0
        if fault is not None and not fault.after and self._fault_answered(fault):
            return
        try:
            if control:
                status, payload, headers = app.control(self.command, path, raw)
            else:
                status, payload, headers = app.api(self.command, path, query, raw, self.headers.get("Authorization"))
        except ApiProblem as exc:
            status, payload, headers = exc.status, {"message": exc.message}, {}
        except Exception as exc:  # never leak details: they could hold request values
            print(f"emulator: internal error {type(exc).__name__}", file=sys.stderr)
            status, payload, headers = 500, {"message": "internal emulator error"}, {}
        if fault is not None and fault.after and self._fault_answered(fault):
            return
        self.send_json(status, payload, headers)

    def _fault_answered(self, fault: Fault) -> bool:
        """Wait the fault's delay; answer in its stead when it replaces the response."""
        self.wait(fault.delay)
        if fault.replaces_response:
            self._inject(fault)
        return fault.replaces_response

    def _inject(self, fault: Fault) -> None:
        if fault.drop:
            self.drop()
        elif fault.garbage:
            self.send_bytes(200, b"<html><body>502 Bad Gateway (not JSON)</body>", "text/html")
        elif fault.body is not None:
            self.send_json(fault.status or 200, fault.body, fault.retry_after_header())
        else:
            assert fault.status is not None
            self.send_json(
                fault.status, {"message": f"injected fault: HTTP {fault.status}"}, fault.retry_after_header()
            )

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = do_OPTIONS = _any


def serve(
    host: str = "127.0.0.1",
    port: int = defaults.EMULATOR_PORT,
    data_file: Path | None = None,
    api_key: str | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM; announce the URL with one line on stderr."""
    Emulator(host, port, api_key=api_key, data_file=data_file).serve_until_signalled("emulator")
