"""The one results table: every measured row, its figures against the floor, its target and
PASS/FAIL."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Row:
    check: str
    n: int | None
    tool: float  # seconds, or MiB for memory rows
    floor: float | None  # the reference: the floor program, `python -c pass`, or None
    target: str  # e.g. "<= 2.0x floor", "<= 100 ms", "report"
    passed: bool | None  # None: reported only
    unit: str = "s"
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return self.tool / self.floor if self.floor else None


def _amount(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.2f} s" if value >= 1 else f"{value * 1000:.0f} ms"
    return f"{value:.0f} {unit}"


def render(rows: list[Row]) -> str:
    header = ("check", "N", "tool", "floor / ref", "ratio", "target", "result", "note")
    lines = [header]
    for r in rows:
        verdict = "-" if r.passed is None else ("PASS" if r.passed else "FAIL")
        lines.append(
            (
                r.check,
                f"{r.n:,}" if r.n is not None else "-",
                _amount(r.tool, r.unit),
                _amount(r.floor, r.unit),
                f"{r.ratio:.2f}x" if r.ratio is not None else "-",
                r.target,
                verdict,
                r.note,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["| " + " | ".join(c.ljust(w) for c, w in zip(lines[0], widths, strict=True)) + " |"]
    out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    out += ["| " + " | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) + " |" for line in lines[1:]]
    return "\n".join(out)


def all_passed(rows: list[Row]) -> bool:
    return all(r.passed is not False for r in rows)
