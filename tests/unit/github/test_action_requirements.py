"""The action installs from requirements/action.txt with --require-hashes: that file must pin exactly the
runtime dependency tree of conn-reconcile (plus the build backend), within pyproject.toml's ranges, each
with sha256 hashes; and action.yml must install that way and nothing unpinned."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[3]
PINNED = ROOT / "requirements" / "action.txt"
PIN_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\]+) \\$")
HASH_RE = re.compile(r"^ {4}--hash=sha256:[0-9a-f]{64}( \\)?$")


def parse_pins(text: str) -> dict[str, tuple[Version, int]]:
    """name -> (version, number of hashes); every requirement line must be `name==version \\` followed
    by hash lines only."""
    pins: dict[str, tuple[Version, int]] = {}
    current: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            current = None
            continue
        if m := PIN_RE.match(line):
            current = canonicalize_name(m.group(1))
            assert current not in pins, f"line {number}: {current} pinned twice"
            pins[current] = (Version(m.group(2)), 0)
        elif HASH_RE.match(line) and current is not None:
            version, count = pins[current]
            pins[current] = (version, count + 1)
        else:
            raise AssertionError(f"line {number}: neither a pin nor a sha256 hash: {line!r}")
    return pins


def runtime_tree(pins: dict[str, tuple[Version, int]]) -> tuple[set[str], set[str]]:
    """conn-reconcile's runtime requirements, recursively (no extras; markers evaluated), read from the
    installed distributions' metadata. A dependency whose installed version is not the pinned one may
    require other things at the pinned version: its own requirements are not followed (second set)."""
    seen: set[str] = set()
    unfollowed: set[str] = set()
    todo = ["conn-reconcile"]
    while todo:
        name = todo.pop()
        dist = distribution(name)
        if name in pins and dist.version != str(pins[name][0]):
            unfollowed.add(name)
            continue
        for spec in dist.requires or ():
            req = Requirement(spec)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            dep = canonicalize_name(req.name)
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen, unfollowed


def test_every_line_is_a_pin_with_hashes() -> None:
    pins = parse_pins(PINNED.read_text(encoding="utf-8"))
    assert pins, "no pins"
    for name, (_, hashes) in pins.items():
        assert hashes >= 1, f"{name} has no hash"


def test_the_parser_rejects_an_unhashed_or_unpinned_line() -> None:
    good = "click==8.1.0 \\\n    --hash=sha256:" + "a" * 64 + "\n"
    assert parse_pins(good) == {"click": (Version("8.1.0"), 1)}
    for bad in ("click>=8\n", "click==8.1.0\n", good + "httpx\n", good.replace("a" * 64, "a" * 63)):
        try:
            parse_pins(bad)
        except AssertionError:
            continue
        raise AssertionError(f"accepted: {bad!r}")
    assert parse_pins("click==8.1.0 \\\n")["click"][1] == 0  # counted, then refused by the test above


def test_it_pins_exactly_the_runtime_tree_and_the_build_backend_within_pyprojects_ranges() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pins = parse_pins(PINNED.read_text(encoding="utf-8"))
    direct = [Requirement(s) for s in pyproject["project"]["dependencies"]]
    build = [Requirement(s) for s in pyproject["build-system"]["requires"]]
    for req in direct + build:
        name = canonicalize_name(req.name)
        assert name in pins, f"{name} is not pinned"
        assert req.specifier.contains(pins[name][0], prereleases=True), f"{name}=={pins[name][0]} is outside {req}"
    tree, unfollowed = runtime_tree(pins)
    expected = tree | {canonicalize_name(r.name) for r in build}
    assert expected <= set(pins), f"not pinned: {sorted(expected - set(pins))} (make requirements)"
    if not unfollowed:  # the installed tree is the pinned one: nothing else may be pinned
        assert set(pins) == expected, f"pinned but not needed: {sorted(set(pins) - expected)}"
    build_in = (ROOT / "requirements" / "build.in").read_text(encoding="utf-8")
    assert {str(Requirement(line)) for line in build_in.splitlines() if line and not line.startswith("#")} == {
        str(r) for r in build
    }


def test_the_action_installs_only_from_the_hashed_file() -> None:
    import yaml

    action = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
    steps = [s for s in action["runs"]["steps"] if "pip" in s.get("run", "")]
    assert len(steps) == 1
    commands = [line.strip() for line in steps[0]["run"].splitlines() if line.strip()]
    assert commands == [
        "python -I -m pip install --disable-pip-version-check --quiet --require-hashes --no-deps"
        ' -r "$ACTION_PATH/requirements/action.txt"',
        "python -I -m pip install --disable-pip-version-check --quiet --no-deps --no-build-isolation --no-index"
        ' "$ACTION_PATH"',
    ]
