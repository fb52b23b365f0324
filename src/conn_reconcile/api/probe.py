"""``plan --probe``: Cohere's registration test (:mod:`conn_reconcile.model.registration`) run now against
each connector URL, in a bounded thread pool: the token sent to that URL only (no redirects, no
proxy), each probe bounded by ``timeout`` as a whole and its answer by :data:`MAX_ANSWER` bytes."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import httpx

from conn_reconcile.api.deadline import ACCEPT_ENCODING, AnswerTooLarge, Deadline, send_bounded, verifying_ssl_context
from conn_reconcile.model.binding import BoundSecrets
from conn_reconcile.model.registration import REGISTRATION_QUERY, authorization_header, shape_problem
from conn_reconcile.model.secrets import Redactor
from conn_reconcile.plan.preflight import ProbeResult, ProbeStatus, ProbeTarget

MAX_PARALLEL = 8
MAX_ANSWER = 1 << 20  # bytes of an answer read at most: a connector answer is small


def new_client(parallel: int) -> httpx.Client:
    """No keep-alive (each probe opens its connection, which its deadline can then cut off), no
    proxy (``trust_env`` off), no redirects; connector URLs may be https."""
    limits = httpx.Limits(max_connections=parallel, max_keepalive_connections=0)
    transport = httpx.HTTPTransport(limits=limits, verify=verifying_ssl_context())
    headers = {"Accept-Encoding": ACCEPT_ENCODING}
    return httpx.Client(transport=transport, headers=headers, trust_env=False, follow_redirects=False)


def run_probes(
    targets: Sequence[ProbeTarget],
    bound: BoundSecrets,
    *,
    redactor: Redactor,
    timeout: float,
    parallel: int = MAX_PARALLEL,
) -> list[ProbeResult]:
    """Probe every target with its token's ``bound`` value (the redactor knows it: the binding
    taught it), at most ``parallel`` at once; results in the targets' order."""
    if not targets:
        return []
    workers = max(1, min(parallel, len(targets)))
    with new_client(workers) as http, ThreadPoolExecutor(workers, thread_name_prefix="probe") as pool:
        futures = [pool.submit(probe_one, http, t, bound.value(t.token_var), timeout) for t in targets]
        results = [f.result() for f in futures]
    return [_redacted(r, redactor) for r in results]


def _redacted(result: ProbeResult, redactor: Redactor) -> ProbeResult:
    from dataclasses import replace

    return replace(result, detail=redactor(result.detail))


def probe_one(http: httpx.Client, target: ProbeTarget, token: str | None, timeout: float) -> ProbeResult:
    started = time.monotonic()

    def result(status: ProbeStatus, detail: str = "", http_status: int | None = None) -> ProbeResult:
        return ProbeResult(target, status, detail, http_status, time.monotonic() - started)

    if token is None:
        return result(ProbeStatus.UNBOUND, f"${{{target.token_var}}} is not set; nothing was sent")
    headers = {"Authorization": authorization_header(target.auth_type, token), "Content-Type": "application/json"}
    body = json.dumps({"query": REGISTRATION_QUERY}).encode()
    deadline = Deadline(started + timeout)
    try:
        request = http.build_request(
            "POST", target.url, content=body, headers=headers, timeout=timeout, extensions=deadline.extensions
        )
        response = send_bounded(http, request, deadline, MAX_ANSWER)
    except AnswerTooLarge as exc:
        if exc.response.status_code != 200:
            return result(ProbeStatus.HTTP_STATUS, _status_detail(exc.response), exc.response.status_code)
        return result(ProbeStatus.BAD_RESPONSE, f"the answer is larger than {MAX_ANSWER} bytes")
    except httpx.TimeoutException:
        return result(ProbeStatus.TIMEOUT, f"no complete answer within {timeout:g}s")
    except httpx.HTTPError as exc:
        return result(ProbeStatus.CONNECTION_FAILED, f"could not reach the connector ({type(exc).__name__})")
    if response.status_code != 200:
        return result(ProbeStatus.HTTP_STATUS, _status_detail(response), response.status_code)
    try:
        payload = json.loads(response.content)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        return result(ProbeStatus.BAD_RESPONSE, "the answer is not JSON")
    problem = shape_problem(payload)
    if problem is not None:
        return result(ProbeStatus.BAD_RESPONSE, problem)
    return result(ProbeStatus.OK)


def _status_detail(response: httpx.Response) -> str:
    if response.is_redirect:
        # only where it points, as data (escaped when shown); the token is never sent there
        location = response.headers.get("location", "")[:200]
        return f"a redirect to {location!r}, not followed: the token is only ever sent to the connector's own URL"
    if response.status_code in (401, 403):
        return "the connector refused the token"
    return ""
