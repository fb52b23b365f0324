"""Run the CLI in this process, as a subprocess would see it: stdin, stdout and stderr are
pipes (not terminals), ``os.environ`` is overlaid for the run and restored after it.

``invoke(args, env=..., input=...)`` returns a :class:`Result` with the exit code, stdout,
stderr, and ``output``: both streams interleaved in the order they were written, as a
terminal shows them.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from conn_reconcile.cli import cli


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str
    output: str
    exception: BaseException | None = None


class _Tee(io.TextIOBase):
    """One stream that also copies what it gets into the interleaved ``output``."""

    def __init__(self, own: io.StringIO, both: io.StringIO):
        self.own, self.both = own, both

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def write(self, text: str) -> int:
        self.own.write(text)
        self.both.write(text)
        return len(text)

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise io.UnsupportedOperation("fileno")


@contextlib.contextmanager
def environment(overlay: Mapping[str, str | None]) -> Iterator[None]:
    """Set the variables of ``overlay`` (None: unset) and restore them afterwards."""
    saved = {k: os.environ.get(k) for k in overlay}
    try:
        _set(overlay)
        yield
    finally:
        _set(saved)


def _set(values: Mapping[str, str | None]) -> None:
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def invoke(
    args: Sequence[str],
    *,
    env: Mapping[str, str | None] | None = None,
    input: str | None = None,
    catch_exceptions: bool = True,
) -> Result:
    out, err, both = io.StringIO(), io.StringIO(), io.StringIO()
    streams = (sys.stdin, sys.stdout, sys.stderr)
    exception: BaseException | None = None
    sys.stdin = io.StringIO(input or "")
    sys.stdout, sys.stderr = _Tee(out, both), _Tee(err, both)  # type: ignore[assignment]
    try:
        with environment(env or {}):
            code = cli(list(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except Exception as exc:
        if not catch_exceptions:
            raise
        exception, code = exc, 1
    finally:
        sys.stdin, sys.stdout, sys.stderr = streams
    return Result(code, out.getvalue(), err.getvalue(), both.getvalue(), exception)
