"""Once per command, through the CLI against the emulator: the Settings are built once, and each
secret variable is read from the environment once (bound, then handed to the planner's
fingerprints, the probe, the applier's request bodies and the redactor)."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from e2e import TOKEN, remote_by_name

from conn_reconcile.cli.options import Invocation
from conn_reconcile.config.settings import Settings

pytestmark = pytest.mark.e2e

OTHER = "CANARY-other-token-51d2"


class CountingEnv(Mapping[str, str]):
    """``os.environ`` as the CLI reads it, counting each variable looked up."""

    def __init__(self, counts: Counter[str]):
        self.counts = counts

    def __getitem__(self, name: str) -> str:
        self.counts[name] += 1
        return os.environ[name]

    def __iter__(self) -> Iterator[str]:
        return iter(os.environ)

    def __len__(self) -> int:
        return len(os.environ)


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    counts: Counter[str] = Counter()
    monkeypatch.setattr(Invocation, "env", property(lambda self: CountingEnv(counts)))
    return counts


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    made: list[Settings] = []
    real = Settings.__init__

    def spy(self: Settings, **values: Any) -> None:
        real(self, **values)
        made.append(self)

    monkeypatch.setattr(Settings, "__init__", spy)
    return made


def test_settings_are_built_once_per_command(project, builds):
    project.write("a.yaml", project.service("a"))
    for args in (
        ["validate"],
        ["config"],
        ["secrets"],
        ["plan", "--probe"],
        ["plan", "--out", "plan.json"],
        ["apply", "--auto-approve"],
        ["apply", "plan.json"],
        ["snapshot"],
        ["import", "--dir", "imported"],
    ):
        builds.clear()
        run = project.run(*args)
        assert run.code in (0, 1), run.both  # plan.json is stale once the first apply ran
        assert len(builds) == 1, args
    builds.clear()
    assert project.run("show", "plan.json").code == 0 and builds == []


def test_each_secret_is_read_once_per_apply(project, lookups):
    (project.root / "conn-reconcile.yaml").write_text("probe: true\n", encoding="utf-8")  # apply probes first
    project.env.update({"OTHER_TOKEN": OTHER, "CONN_RECONCILE_FINGERPRINT_KEY": "k" * 32})
    project.write("a.yaml", project.service("a"))
    project.write("b.yaml", project.service("b"))
    oauth = {
        "client_id": "id",
        "client_secret": "${OTHER_TOKEN}",
        "authorize_url": "https://auth.example.com/authorize",
        "token_url": "https://auth.example.com/token",
    }
    project.write("c.yaml", project.connector("c", oauth=oauth))
    applied = project.run("apply", "--auto-approve", "--format", "json")
    assert applied.code == 0, applied.both
    assert set(remote_by_name(project)) == {"a", "b", "c"}
    assert (lookups["CONN_TOKEN"], lookups["OTHER_TOKEN"]) == (1, 1)

    project.env["OTHER_TOKEN"] = OTHER + "-rotated"  # seen through its fingerprint: sent again
    lookups.clear()
    planned = project.run("plan", "--out", "plan.json")
    assert planned.code == 0 and "(sensitive, changed, from ${OTHER_TOKEN})" in planned.out, planned.both
    assert (lookups["CONN_TOKEN"], lookups["OTHER_TOKEN"]) == (1, 1)
    sent = json.loads((project.root / "plan.json").read_text())["changes"]
    assert [c["name"] for c in sent if c["action"] != "noop"] == ["c"]

    lookups.clear()
    again = project.run("apply", "plan.json")
    assert again.code == 0, again.both
    # the variables the plan's payloads reference, bound once: c's (a and b are unchanged: not sent)
    assert (lookups["OTHER_TOKEN"], lookups["CONN_TOKEN"]) == (1, 0)
    for text in project.outputs:
        assert TOKEN not in text and OTHER not in text
