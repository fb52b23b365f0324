"""Secret values: keyed fingerprints (HMAC-SHA256, never the value) and the one :class:`Redactor`,
which masks every known value in every form a server may echo it back in. Pure core.
"""

from __future__ import annotations

import json
import re
import threading
from binascii import b2a_base64
from collections.abc import Iterable, Mapping
from typing import Any

import ahocorasick  # C extension: linear multi-pattern search

from conn_reconcile.escape import escape
from conn_reconcile.model.connector import SECRET_PATHS, env_ref_name

MASK = "(sensitive)"
#: Values shorter than this are not replaced in free text (it would mangle ordinary words);
#: they are still masked wherever they appear in a known secret field.
MIN_REDACT_LEN = 4
#: Characters that JSON strings, URL-encoding (``quote``, ``quote_plus``) and :func:`escape` all
#: leave as they are: a value made only of them has no other form than itself and its base64.
_UNCHANGED_RE = re.compile(r"[A-Za-z0-9_.~-]+")

FINGERPRINT_KEY_VAR = "CONN_RECONCILE_FINGERPRINT_KEY"
FINGERPRINT_PREFIX = "hmac-sha256:"


def fingerprint(key: str, value: str) -> str:
    """A keyed fingerprint of a secret value; without the key it reveals nothing."""
    import hashlib  # here: OpenSSL's start-up is not for commands that fingerprint nothing
    import hmac

    digest = hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()
    return FINGERPRINT_PREFIX + digest


def secret_forms(value: str) -> set[str]:
    """``value`` as a server may echo it: raw, JSON-escaped (ASCII and not), URL-encoded
    (``quote`` and ``quote_plus``), base64 (standard and URL-safe, with and without padding),
    and as our own output escaping prints it. Forms shorter than :data:`MIN_REDACT_LEN` are
    left out."""
    return set(_forms(value))


def _forms(value: str) -> list[str]:
    """:func:`secret_forms` in a fixed order, perhaps with repeats."""
    if len(value) >= MIN_REDACT_LEN and _UNCHANGED_RE.fullmatch(value):
        # the usual token: JSON, URL and our escaping keep it as it is, and its base64 is longer
        return [value, *_base64_forms(value.encode("ascii"))]
    forms = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1], escape(value)}
    try:  # an environment value may hold lone surrogates (undecodable bytes): skip byte forms then
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = None
    if raw is not None:
        from urllib.parse import quote, quote_plus

        forms |= {quote(raw, safe=""), quote_plus(raw, safe=""), *_base64_forms(raw)}
    return sorted(f for f in forms if len(f) >= MIN_REDACT_LEN)


def _base64_forms(raw: bytes) -> list[str]:
    encoded = b2a_base64(raw, newline=False).decode("ascii")
    forms = [encoded, encoded.rstrip("=")]
    if "+" in encoded or "/" in encoded:  # else the URL-safe alphabet writes it the same
        safe = encoded.translate(_URLSAFE)
        forms += (safe, safe.rstrip("="))
    return forms


#: base64's two characters the URL-safe alphabet writes differently
_URLSAFE = str.maketrans("+/", "-_")


class Redactor:
    """The one place secrets are masked: known values (in every form of :func:`secret_forms`)
    in any text, and secret fields in data. Thread-safe. Masking is one Aho-Corasick pass over
    the text (leftmost, longest match first), linear in the text whatever the number of secrets;
    the automaton is rebuilt lazily after :meth:`add`. The text the last call returned is not
    masked again by the same automaton (a renderer's output, printed by the console).

    Files hold ``${VAR}`` references only; :mod:`conn_reconcile.model.binding` reads their values,
    once per command, and teaches them to the Redactor. Values are never stored: the state keeps
    HMAC-SHA256 fingerprints keyed with ``CONN_RECONCILE_FINGERPRINT_KEY`` (itself never stored).
    Every known value (and the API key) is masked in every form a server may echo it back in.
    Pure core.
    """

    def __init__(self, values: Iterable[str | None] = ()):
        self._values: set[str] = set()
        self._pending: list[str] = []  # values added since the forms were last computed
        self._forms: dict[str, None] = {}  # every form, in the order first seen
        self._automaton: Any = None
        #: the text the last call returned, and the automaton that masked it
        self._last: tuple[str, Any] | None = None
        self._lock = threading.Lock()
        self.add(*values)

    def add(self, *values: str | None) -> None:
        with self._lock:
            for value in values:
                if value and len(value) >= MIN_REDACT_LEN and value not in self._values:
                    self._values.add(value)
                    self._pending.append(value)

    def _compiled(self) -> Any:
        """The automaton of every form of every value; forms are computed when first needed
        (a redactor that never masks anything, like most of one request's, costs nothing)."""
        with self._lock:
            if self._pending:
                forms = self._forms
                fresh = [f for value in self._pending for f in _forms(value) if f not in forms]
                self._pending.clear()
                if fresh:
                    forms.update(dict.fromkeys(fresh))
                    self._automaton = None
            if self._automaton is None and self._forms:
                automaton = ahocorasick.Automaton(ahocorasick.STORE_LENGTH)
                for form in self._forms:  # in the order first seen; iter_long then yields (end, length)
                    automaton.add_word(form)
                automaton.make_automaton()
                self._automaton = automaton
            return self._automaton

    def __call__(self, text: str) -> str:
        automaton = self._compiled()
        if automaton is None:
            return text
        last = self._last
        if last is not None and last[0] is text and last[1] is automaton:
            return text  # this very text is what the same automaton just masked (a renderer's, printed)
        masked = self._masked(text, automaton)
        self._last = (masked, automaton)
        return masked

    @staticmethod
    def _masked(text: str, automaton: Any) -> str:
        parts: list[str] = []
        done = 0
        for end, length in automaton.iter_long(text):
            start = end - length + 1
            parts.append(text[done:start])
            parts.append(MASK)
            done = end + 1
        if not parts:
            return text
        parts.append(text[done:])
        return "".join(parts)

    def data(self, obj: Any, _path: str = "") -> Any:
        """A copy of ``obj`` with secret fields masked (``${VAR}`` references are kept)."""
        if isinstance(obj, Mapping):
            out = {}
            for key, value in obj.items():
                sub = f"{_path}.{key}" if _path else str(key)
                if sub.endswith(SECRET_PATHS) and isinstance(value, str) and env_ref_name(value) is None:
                    out[key] = MASK
                else:
                    out[key] = self.data(value, sub)
            return out
        if isinstance(obj, (list, tuple)):
            return [self.data(v, _path) for v in obj]
        if isinstance(obj, str):
            return self(obj)
        return obj
