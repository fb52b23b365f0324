"""conn-reconcile benchmark (not a test): `make bench`, or `python bench/bench.py [--quick]`. Every
figure is a whole process timed as a user would see it, next to a *floor* on the same stack (a
minimal program: bench/floor.py, bench/startfloor.py); tool and floor runs alternate after one
untimed warm-up round, medians are reported, and the exit status is 1 when a row misses its target."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import runner
from table import Row, all_passed, render

PLAN_TARGET = 1.5
APPLY_TARGET = 1.15
VALIDATE3_TARGET = 1.2  # x its start-up floor
HELP_TARGET = 1.3  # x a minimal click group
SCHEMA = Path(__file__).resolve().parents[1] / "docs" / "connector.schema.json"
PARALLELISM = 16
UNUSED_ENDPOINT = "http://127.0.0.1:9"  # plan and validate never contact a connector


def bench_startup(work: Path, repeat: int) -> list[Row]:
    """Start-up rows. Targets: validate of 3 files <= 1.2x its start-up floor (bench/startfloor.py:
    the same libraries, no command line) and faster than check-jsonschema with the project's schema
    on the same files; --help <= 1.3x a minimal click group with the same commands."""
    directory = work / "three"
    runner.write_files(directory, 3, UNUSED_ENDPOINT)
    files = [str(p) for p in sorted(directory.rglob("*.yaml"))]
    env = runner.child_env()
    commands: dict[str, runner.Command] = {
        "pass": ([sys.executable, "-c", "pass"], env, (0,)),
        "validate": ([*runner.tool(), "validate", *files], env, (0,)),
        "start floor": (runner.start_floor("validate", *files), env, (0,)),
        "help": ([*runner.tool(), "--help"], env, (0,)),
        "help floor": (runner.start_floor("help"), env, (0,)),
    }
    peer = runner.check_jsonschema()
    if peer is not None:
        commands["check-jsonschema"] = ([*peer, "--schemafile", str(SCHEMA), *files], env, (0,))
    t = runner.alternate(commands, repeat)
    validate, floor = t["validate"].wall, t["start floor"].wall
    rows = [
        Row(
            "validate 3 files (vs its start-up floor)",
            3,
            validate,
            floor,
            f"<= {VALIDATE3_TARGET}x floor",
            validate <= VALIDATE3_TARGET * floor,
            note="floor: bench/startfloor.py (ruamel's C parser, a pydantic model, no CLI)",
        ),
        Row(
            "validate 3 files (vs python -c pass)",
            3,
            validate,
            t["pass"].wall,
            "report",
            None,
            note=f"cpu {t['validate'].cpu * 1000:.0f} ms",
        ),
    ]
    if peer is not None:
        rows.append(
            Row(
                "validate 3 files (vs check-jsonschema)",
                3,
                validate,
                t["check-jsonschema"].wall,
                "< 1.0x peer",
                validate < t["check-jsonschema"].wall,
                note="the peer a user would pick for the hook, with docs/connector.schema.json",
            )
        )
    rows.append(
        Row(
            "--help (vs a minimal click group)",
            None,
            t["help"].wall,
            t["help floor"].wall,
            f"<= {HELP_TARGET}x floor",
            t["help"].wall <= HELP_TARGET * t["help floor"].wall,
            note="floor: bench/startfloor.py help (click, the same commands and global options)",
        )
    )
    return rows


def _ratio_row(check: str, n: int, tool: runner.Timing, floor: runner.Timing, target: float) -> Row:
    ratio = tool.wall / floor.wall
    note = f"cpu {tool.cpu:.2f} s vs {floor.cpu:.2f} s"
    row = Row(check, n, tool.wall, floor.wall, f"<= {target}x floor", ratio <= target, note=note)
    print(render([row]).splitlines()[-1], flush=True)  # progress: one line per row as it is measured
    return row


def bench_plan(sizes: list[int], repeat: int, work: Path) -> list[Row]:
    """validate and plan (no changes, all creates) at every N, one secret variable per connector.
    Target: <= 1.5x the floor (bench/floor.py: ruamel's C parser, a pydantic model, httpx listing
    every page, match by name, dict compare). Peak RSS of plan: reported, to show it grows linearly."""
    rows: list[Row] = []
    rss: list[tuple[int, float]] = []
    with runner.emulator() as api_url:
        ctl = runner.Control(api_url)
        for n in sizes:
            directory = work / f"plan-{n}"
            runner.write_files(directory, n, UNUSED_ENDPOINT)
            env = runner.child_env({**runner.secrets_env(n), "CO_API_KEY": runner.API_KEY, "BENCH_API_URL": api_url})
            plan = [
                *runner.tool(),
                "--api-url",
                api_url,
                "--state",
                str(work / "no-state.json"),
                "plan",
                "--dir",
                str(directory),
                "--detailed-exitcode",
            ]
            t = runner.alternate(
                {
                    "floor": (runner.floor("validate", str(directory)), env, (0,)),
                    "tool": ([*runner.tool(), "validate", str(directory)], env, (0,)),
                },
                repeat,
            )
            rows.append(_ratio_row("validate", n, t["tool"], t["floor"], PLAN_TARGET))
            ctl.reset()
            ctl.seed(runner.remote_bodies(n, UNUSED_ENDPOINT))
            t = runner.alternate(
                {"floor": (runner.floor("plan", str(directory)), env, (0,)), "tool": (plan, env, (0,))}, repeat
            )
            rows.append(_ratio_row("plan, no changes", n, t["tool"], t["floor"], PLAN_TARGET))
            rss.append((n, t["tool"].max_rss_mib))
            rows.append(
                Row(
                    "peak RSS, plan no changes",
                    n,
                    t["tool"].max_rss_mib,
                    t["floor"].max_rss_mib,
                    "report",
                    None,
                    unit="MiB",
                )
            )
            print(render(rows[-1:]).splitlines()[-1], flush=True)
            ctl.reset()
            t = runner.alternate(
                {"floor": (runner.floor("plan", str(directory)), env, (0,)), "tool": (plan, env, (2,))}, repeat
            )
            rows.append(_ratio_row("plan, all creates", n, t["tool"], t["floor"], PLAN_TARGET))
    if len(rss) > 1:
        (n0, m0), (n1, m1) = rss[0], rss[-1]
        rows[-2].note = f"{(m1 - m0) / (n1 - n0) * 1000:.1f} MiB per 1,000 connectors above N={n0:,}"
    return rows


def bench_apply(n: int, latency: float, repeat: int, work: Path) -> list[Row]:
    """apply of N creates, registration latency 50 ms, --parallelism 16. Target: <= 1.15x the floor
    (the same POSTs from a thread pool sharing one httpx client)."""
    state = work / "apply-state.json"
    with runner.endpoint(latency) as endpoint_url, runner.emulator() as api_url:
        ctl = runner.Control(api_url)
        directory = work / f"apply-{n}"
        runner.write_files(directory, n, endpoint_url)
        env = runner.child_env({**runner.secrets_env(n), "CO_API_KEY": runner.API_KEY, "BENCH_API_URL": api_url})

        def before() -> None:
            ctl.reset()
            state.unlink(missing_ok=True)

        def after(name: str) -> None:
            created = ctl.count()
            if created != n:
                raise SystemExit(f"bench: apply ({name}) created {created} of {n}")

        t = runner.alternate(
            {
                "floor": (runner.floor("apply", str(directory), "--parallelism", str(PARALLELISM)), env, (0,)),
                "tool": (
                    [
                        *runner.tool(),
                        "--api-url",
                        api_url,
                        "--state",
                        str(state),
                        "apply",
                        "--auto-approve",
                        "--parallelism",
                        str(PARALLELISM),
                        "--dir",
                        str(directory),
                    ],
                    env,
                    (0,),
                ),
            },
            repeat,
            before=before,
            after=after,
        )
    row = _ratio_row(
        f"apply creates, L={latency * 1000:.0f} ms, p={PARALLELISM}", n, t["tool"], t["floor"], APPLY_TARGET
    )
    row.note += f"; ideal N*L/p {n * latency / PARALLELISM:.2f} s"
    return [row]


def main() -> int:
    """Every row, printed as one table. The tool, the floor and the loopback servers run with this
    interpreter: `make bench` runs it in a virtualenv of its own where the tool is installed as a
    user installs it (its dependencies and check-jsonschema only; no test tooling or editable
    install, whose start-up hooks would be timed too). The emulator and the slow connector endpoint
    run as separate processes on loopback; nothing else is contacted. `--quick` (or BENCH_QUICK=1)
    uses small N."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    parser.add_argument("--quick", action="store_true", default=quick, help="small N: about a minute")
    parser.add_argument("--sizes", help="N for validate/plan, comma-separated (default 1000,5000,20000; empty: skip)")
    parser.add_argument("--apply-n", type=int, help="N creates for apply (default 3000; 0 skips)")
    parser.add_argument("--latency", type=float, default=0.05, help="registration latency in seconds")
    parser.add_argument("--repeat", type=int, help="timed runs per command (default 3; startup 15)")
    args = parser.parse_args()
    default_sizes = "200,1000" if args.quick else "1000,5000,20000"
    sizes = [int(x) for x in (default_sizes if args.sizes is None else args.sizes).split(",") if x]
    apply_n = args.apply_n if args.apply_n is not None else (300 if args.quick else 3000)
    repeat = args.repeat or 3
    print(
        f"conn-reconcile benchmark: {os.cpu_count()} CPU(s), Python {sys.version.split()[0]}, "
        f"load average {runner.load_average()}",
        flush=True,
    )
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="conn-reconcile-bench-") as tmp:
        work = Path(tmp)
        rows += bench_startup(work, args.repeat or (10 if args.quick else 15))
        print(render(rows), flush=True)
        if sizes:
            rows += bench_plan(sizes, repeat, work)
        if apply_n:
            rows += bench_apply(apply_n, args.latency, 2 if repeat > 2 else repeat, work)
    print(f"\nAll rows (medians of alternating runs; load average now {runner.load_average()}):\n")
    print(render(rows))
    ok = all_passed(rows)
    print("\nbench: all targets met" if ok else "\nbench: some targets FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
