"""The registration test Cohere runs against a connector's URL before storing a create: a query
POSTed with the Authorization header ``service_auth`` describes, passed by a 200 holding JSON
``{"results": [...]}``. OAuth connectors are not tested (each user authorises them later)."""

from __future__ import annotations

from typing import Any

import httpx

from conn_reconcile.api.deadline import verifying_ssl_context
from conn_reconcile.model.registration import REGISTRATION_QUERY, authorization_header, shape_problem

__all__ = [
    "REGISTRATION_QUERY",
    "REGISTRATION_TIMEOUT",
    "authorization_header",
    "new_http_client",
    "registration_failure",
]

REGISTRATION_TIMEOUT = 10.0


def new_http_client() -> httpx.Client:
    # trust_env=False: a proxy configured in the environment must not see loopback traffic.
    # One SSL context per process, not per emulator: a connector URL may be https.
    return httpx.Client(
        timeout=REGISTRATION_TIMEOUT,
        trust_env=False,
        verify=verifying_ssl_context(),
        follow_redirects=False,
        limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
    )


def registration_failure(http: httpx.Client, fields: dict[str, Any]) -> str | None:
    """Run the registration test for validated create ``fields``; the reason it failed, or None."""
    if "oauth" in fields:
        return None
    headers = {"Content-Type": "application/json"}
    service_auth = fields.get("service_auth")
    token = service_auth["token"] if service_auth else None
    if service_auth:
        headers["Authorization"] = authorization_header(service_auth["type"], service_auth["token"])
    reason = _probe(http, fields["url"], headers)
    if reason is not None and token:
        reason = reason.replace(token, "***")  # defence in depth: never echo the token
    return reason


def _probe(http: httpx.Client, url: str, headers: dict[str, str]) -> str | None:
    try:
        response = http.post(url, json={"query": REGISTRATION_QUERY}, headers=headers)
    except httpx.TimeoutException:
        return f"the connector did not answer within {REGISTRATION_TIMEOUT:g}s"
    except httpx.HTTPError as exc:
        return f"could not reach the connector ({type(exc).__name__})"
    if response.status_code != 200:
        return f"the connector answered HTTP {response.status_code}"
    try:
        payload = response.json()
    except ValueError:
        return "the connector's answer is not JSON"
    problem = shape_problem(payload)
    return None if problem is None else problem.replace("the answer", "the connector's answer")
