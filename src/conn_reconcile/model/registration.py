"""What Cohere's registration test sends and expects (pure core), in one place for the emulator
(which performs the test before storing a create) and ``plan --probe`` (which performs it before
apply does): ``{"query": ...}`` POSTed with the Authorization header ``service_auth`` describes,
accepted when the answer is a 200 holding a JSON object with a ``results`` list."""

from __future__ import annotations

from typing import Any

REGISTRATION_QUERY = "registration test"
_SCHEMES = {"bearer": "Bearer ", "basic": "Basic ", "noscheme": ""}


def authorization_header(auth_type: str | None, token: str) -> str:
    """The Authorization header Cohere sends for a service_auth ``(type, token)``: ``bearer``
    -> ``Bearer <token>``, ``basic`` -> ``Basic <token>`` (the token is sent as given: it is
    the base64 credential), ``noscheme`` (and no type) -> the token alone."""
    return _SCHEMES[auth_type or "noscheme"] + token


def shape_problem(payload: Any) -> str | None:
    """Why a decoded 200 answer is not what Cohere accepts, or None when it is."""
    if not isinstance(payload, dict):
        return "the answer is not a JSON object"
    if not isinstance(payload.get("results"), list):
        return "the answer has no 'results' list"
    return None
