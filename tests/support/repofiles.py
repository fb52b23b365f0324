"""The repository's own files that the workflow tests read: the workflows, the action, and the
example connectors repository's workflows."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
EXPECTED = ("ci.yml", "plan.yml", "apply.yml")
EXAMPLE = ROOT / "examples" / "connectors-repo"
ACTION = ROOT / "action.yml"
ALL_YAML = [*(WORKFLOWS / n for n in EXPECTED), ACTION, *sorted((EXAMPLE / ".github" / "workflows").glob("*.yml"))]
