"""Apply output on the edge: live progress and the heartbeat of a slow call, the line of each
connector's ``name`` for GitHub annotations, and the job summary file."""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from conn_reconcile.errors import ConfigError
from conn_reconcile.output.applyreport import heartbeat_line, progress_line
from conn_reconcile.plan.model import Action, Plan

if TYPE_CHECKING:
    from conn_reconcile.apply.results import ApplyReport
    from conn_reconcile.model.secrets import Redactor

HEARTBEAT_VAR = "CONN_RECONCILE_HEARTBEAT"
DEFAULT_HEARTBEAT = 10.0
_NAME_LINE = re.compile(r"^name\s*:")


def heartbeat_interval(env: Mapping[str, str]) -> float:
    """``$CONN_RECONCILE_HEARTBEAT`` as seconds (default 10)."""
    raw = env.get(HEARTBEAT_VAR, "").strip()
    if not raw:
        return DEFAULT_HEARTBEAT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:  # also rejects nan and inf
        raise ConfigError(f"{HEARTBEAT_VAR} must be a number of seconds between 0 (excluded) and 3600")
    return value


class Progress:
    """Receives the outcome lines of an apply (from the main thread) and prints them; on a TTY
    with ``[n/N]`` and the time so far, elsewhere (CI logs) as they come, while a daemon thread
    prints a heartbeat line whenever nothing finished for ``interval`` seconds
    (``$CONN_RECONCILE_HEARTBEAT``, default 10). ``emit`` must be thread-safe (a console)."""

    def __init__(
        self,
        emit: Callable[[str], None],
        *,
        tty: bool,
        interval: float = DEFAULT_HEARTBEAT,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.emit = emit
        self.tty = tty
        self.interval = interval
        self.clock = clock
        self.total = 0
        self.done = 0
        self._started = 0.0
        self._last = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, plan: Plan) -> None:
        with self._lock:
            self.total = sum(1 for c in plan.changes if c.action is not Action.NOOP)
            self._started = self._last = self.clock()
        if not self.tty and self._thread is None:
            self._thread = threading.Thread(target=self._beat, name="heartbeat", daemon=True)
            self._thread.start()

    def line(self, text: str) -> None:
        with self._lock:
            self.done += 1
            now = self._last = self.clock()
            done, total, elapsed = self.done, self.total, now - self._started
        self.emit(progress_line(text, done, total, elapsed) if self.tty else text)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval / 4):
            with self._lock:
                now = self.clock()
                quiet_for = now - self._last
                if quiet_for < self.interval or self.done >= self.total:
                    continue
                self._last = now
                text = heartbeat_line(self.done, self.total, now - self._started, quiet_for)
            self.emit(text)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def name_lines(files: Iterable[str | None]) -> dict[str, int]:
    """file -> the line of its top-level ``name:`` key (files that cannot be read are left out)."""
    out: dict[str, int] = {}
    for file in {f for f in files if f}:
        try:
            with open(file, encoding="utf-8", errors="replace") as fh:
                for number, text in enumerate(fh, start=1):
                    if _NAME_LINE.match(text):
                        out[file] = number
                        break
        except OSError:
            continue
    return out


def append_step_summary(text: str, env: Mapping[str, str] | None = None) -> None:
    """Append ``text`` to ``$GITHUB_STEP_SUMMARY`` when it is set (the job summary)."""
    path = (env if env is not None else os.environ).get("GITHUB_STEP_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text)


def final_output(report: ApplyReport, fmt: str, *, colour: bool, redactor: Redactor) -> str:
    """What ``apply --format FMT`` prints on stdout at the end (and appends to the job summary
    for ``markdown``)."""
    from conn_reconcile.output import applyreport as applyreport
    from conn_reconcile.output.render import render_report

    if fmt == "json":
        return applyreport.render_apply_json(report, redactor=redactor)
    if fmt == "markdown":
        text = applyreport.render_apply_markdown(report, redactor=redactor)
        append_step_summary(text)
        return text
    text = render_report(report, colour=colour)
    if fmt == "github":
        lines = name_lines(o.file for o in report.outcomes)
        text += applyreport.render_apply_github(report, lines=lines, redactor=redactor)
    return text
