"""The GitHub Action's logic: ``python -m conn_reconcile.ghaction validate|plan|apply|drift``.

``action.yml`` only installs conn-reconcile and runs this module; everything it decides is
here, tested locally with the emulator as the org. Inputs arrive as ``INPUT_*`` variables
(the composite action maps its inputs to them), results go where GitHub reads them:
``$GITHUB_OUTPUT`` (step outputs), ``$GITHUB_STEP_SUMMARY`` (the job summary) and files
in the working directory (comment and issue bodies). The CLI runs as a child process
(``python -m conn_reconcile``), exactly as a user would run it.

* ``validate``: ``conn-reconcile validate --format github`` (annotations on the diff).
* ``plan``: saves the plan (``INPUT_PLAN_PATH``), adds it to the job summary, writes the
  sticky PR comment body, outputs ``has_changes``, ``plan_path``, ``comment_path``; on a
  pull request with ``INPUT_POST`` true and a token, creates or updates the sticky comment.
* ``apply``: re-plans and compares with the reviewed plan (``INPUT_REVIEWED_PLAN``); applies
  that plan only if they match, else fails before any write with the differences.
* ``drift``: plans; when the org differs from the files, outputs ``drift=true``,
  ``issue=open`` and an issue body (label ``conn-reconcile-drift``); when in sync,
  ``issue=close``. With ``INPUT_POST`` and a token, opens/updates/closes the issue.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from conn_reconcile.escape import gh_data, md_code
from conn_reconcile.planmatch import Difference, render_markdown, render_text

PLAN_MARKER = "<!-- conn-reconcile-plan -->"
DRIFT_MARKER = "<!-- conn-reconcile-drift -->"
DRIFT_LABEL = "conn-reconcile-drift"
COMMENT_LIMIT = 60000  # GitHub rejects comments and issue bodies over 65536 characters
COMMENT_FILE = "conn-reconcile-comment.md"
DRIFT_FILE = "conn-reconcile-drift.md"


class ActionError(Exception):
    """The action fails: a message for an ``::error::`` annotation and an exit code."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def _input(env: Mapping[str, str], name: str, default: str = "") -> str:
    return env.get(f"INPUT_{name}", "").strip() or default


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = _input(env, name, "true" if default else "false").lower()
    if value not in ("true", "false"):
        raise ActionError(f"input {name.lower()} must be true or false")
    return value == "true"


def global_args(env: Mapping[str, str]) -> list[str]:
    """The CLI's global options from the inputs: ``--config``, ``--env``, ``--state``."""
    args: list[str] = []
    for name, option in (("CONFIG", "--config"), ("ENV", "--env"), ("STATE", "--state")):
        value = _input(env, name)
        if value:
            args += [option, value]
    return args


def run_cli(args: Sequence[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m conn_reconcile ARGS``; stderr goes straight to the log, stdout is returned."""
    return subprocess.run(
        [sys.executable, "-m", "conn_reconcile", *args],
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=None,
        text=True,
        check=False,
    )


def _append(env: Mapping[str, str], variable: str, text: str) -> None:
    path = env.get(variable)
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(text)


def set_outputs(env: Mapping[str, str], outputs: Mapping[str, str]) -> None:
    """Single-line values only (ours are flags, paths and numbers): no delimiter syntax needed."""
    for key, value in outputs.items():
        if "\n" in value or "\r" in value:
            raise ActionError(f"output {key} spans lines")
    _append(env, "GITHUB_OUTPUT", "".join(f"{k}={v}\n" for k, v in outputs.items()))


def event(env: Mapping[str, str]) -> dict[str, Any]:
    path = env.get("GITHUB_EVENT_PATH")
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        raise ActionError("cannot read the event payload (GITHUB_EVENT_PATH)") from None
    return data if isinstance(data, dict) else {}


def pull_request(env: Mapping[str, str]) -> tuple[int, str] | None:
    """(number, head sha) of the pull request that triggered the run, validated."""
    pr = event(env).get("pull_request")
    if not isinstance(pr, dict):
        return None
    number, sha = pr.get("number"), (pr.get("head") or {}).get("sha")
    if not isinstance(number, int) or isinstance(number, bool) or number <= 0:
        return None
    return number, sha if isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{40}", sha) else ""


def cap(body: str, limit: int = COMMENT_LIMIT) -> str:
    """Whole lines within ``limit`` characters, with a note when cut."""
    if len(body) <= limit:
        return body
    note = "\n_(truncated: the full plan is in the job summary and the plan file)_\n"
    cut = body[: limit - len(note)].rsplit("\n", 1)[0]
    return cut + note


def comment_body(plan_md: str, has_changes: bool, head_sha: str) -> str:
    verdict = "has changes" if has_changes else "no changes"
    commit = f" for {md_code(head_sha)}" if head_sha else ""
    body = plan_md if plan_md.startswith(PLAN_MARKER) else f"{PLAN_MARKER}\n{plan_md}"
    head, _, rest = body.partition("\n")
    return cap(f"{head}\n**conn-reconcile plan** ({verdict}){commit}\n\n{rest}")


def drift_body(plan_md: str, run_url: str) -> str:
    body = plan_md.replace(PLAN_MARKER, DRIFT_MARKER, 1) if PLAN_MARKER in plan_md else f"{DRIFT_MARKER}\n{plan_md}"
    head, _, rest = body.partition("\n")
    intro = "**The Cohere org differs from the connector files** (drift). Applying the files would:"
    where = f"\n\nFound by {run_url}" if run_url else ""
    return cap(f"{head}\n{intro}{where}\n\n{rest}")


def _run_url(env: Mapping[str, str]) -> str:
    server, repo, run = env.get("GITHUB_SERVER_URL", ""), env.get("GITHUB_REPOSITORY", ""), env.get("GITHUB_RUN_ID", "")
    if re.fullmatch(r"https://[\w.-]+(:\d+)?", server) and re.fullmatch(r"[\w.-]+/[\w.-]+", repo) and run.isdigit():
        return f"{server}/{repo}/actions/runs/{run}"
    return ""


def _github(env: Mapping[str, str], *, posting: bool = True) -> Any:
    """The API client when a token is there (and, to post, posting is on), else None."""
    if (posting and not _flag(env, "POST", True)) or not env.get("GITHUB_TOKEN"):
        return None
    from conn_reconcile.ghapi import GitHub

    repo = env.get("GITHUB_REPOSITORY", "")
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
        raise ActionError("GITHUB_REPOSITORY is not set to OWNER/NAME: cannot post")
    return GitHub(env.get("GITHUB_API_URL", "https://api.github.com"), env["GITHUB_TOKEN"], repo)


# -- the commands ---------------------------------------------------------------------------------


def validate(env: Mapping[str, str]) -> int:
    paths = _input(env, "PATHS").split()
    proc = run_cli([*global_args(env), "validate", "--format", "github", *paths], env)
    sys.stdout.write(proc.stdout)
    return proc.returncode


def _plan(env: Mapping[str, str], *extra: str) -> tuple[bool, str]:
    """(has changes, the markdown plan); the CLI adds the plan to the job summary itself."""
    proc = run_cli([*global_args(env), "plan", "--detailed-exitcode", "--format", "markdown", *extra], env)
    sys.stdout.write(proc.stdout)
    if proc.returncode not in (0, 2):
        raise ActionError(f"conn-reconcile plan failed (exit code {proc.returncode})", proc.returncode)
    return proc.returncode == 2, proc.stdout


def plan(env: Mapping[str, str]) -> int:
    plan_path = _input(env, "PLAN_PATH", "conn-reconcile-plan.json")
    has_changes, md = _plan(env, "--out", plan_path)
    pr = pull_request(env)
    Path(COMMENT_FILE).write_text(comment_body(md, has_changes, pr[1] if pr else ""), encoding="utf-8")
    set_outputs(
        env,
        {"has_changes": str(has_changes).lower(), "plan_path": plan_path, "comment_path": COMMENT_FILE},
    )
    github = _github(env)
    if pr and github is not None:
        done = github.sticky_comment(pr[0], Path(COMMENT_FILE).read_text(encoding="utf-8"), PLAN_MARKER)
        print(f"Plan comment {done} on pull request #{pr[0]}.")
    return 0


def fetch_reviewed(env: Mapping[str, str], dest: str) -> int:
    """On a push, the plan reviewed on the pull request merged as this commit: the newest
    ``INPUT_ARTIFACT_PREFIX``NUMBER artifact of the plan workflow (``plan`` uploads it)."""
    github = _github(env, posting=False)
    sha = env.get("GITHUB_SHA", "")
    if github is None or not re.fullmatch(r"[0-9a-f]{40}", sha):
        raise ActionError(
            "no reviewed plan: give the reviewed-plan input, or run on a push to main with a token "
            "(the plan of the merged pull request is downloaded)"
        )
    number = github.pull_request_of(sha)
    if number is None:
        raise ActionError(f"no pull request was merged as {sha}: there is no reviewed plan to apply")
    artifact = _input(env, "ARTIFACT_PREFIX", "conn-reconcile-plan-pr") + str(number)
    data = github.download_file(artifact, Path(dest).name)
    if data is None:
        raise ActionError(f"no artifact {artifact}: the plan of pull request #{number} is gone or was never made")
    Path(dest).write_bytes(data)
    print(f"The reviewed plan: {Path(dest).name} of artifact {artifact} (pull request #{number}).")
    return int(number)


#: What a person types into the manual run's ``confirm`` input to apply a plan nobody reviewed.
FRESH_CONFIRMATION = "apply a fresh plan"


def apply_fresh(env: Mapping[str, str]) -> int:
    """A manual run (``workflow_dispatch``): plan now and apply that plan, only when the person
    who started the run typed :data:`FRESH_CONFIRMATION` (there is no reviewed plan)."""
    if _input(env, "CONFIRM").strip() != FRESH_CONFIRMATION:
        raise ActionError(
            f"a manual apply carries out a plan nobody reviewed: type {FRESH_CONFIRMATION!r} into the "
            "confirm input to do so; nothing was applied"
        )
    print("Manual run, confirmed: planning now and applying that plan.")
    result = run_cli([*global_args(env), "apply", "--auto-approve", "--format", "markdown"], env)
    sys.stdout.write(result.stdout)
    set_outputs(env, {"applied": str(result.returncode == 0).lower(), "plan_matches": "false"})
    return result.returncode


REFUSED_MARKER = "<!-- conn-reconcile-apply-refused -->"


def _comment_refusal(env: Mapping[str, str], number: int | None, differences_md: str) -> None:
    """Tell the merged pull request why its plan was not applied (one comment, kept up to date)."""
    github = _github(env)
    if number is None or github is None:
        return
    run = _run_url(env)
    where = f" ([run]({run}))" if run else ""
    body = cap(
        f"{REFUSED_MARKER}\n**conn-reconcile apply refused**: the plan reviewed on this pull request no longer "
        f"matches the org and the files{where}; nothing was applied.\n\n{differences_md}"
    )
    print(f"Refusal comment {github.sticky_comment(number, body, REFUSED_MARKER)} on pull request #{number}.")


def apply(env: Mapping[str, str]) -> int:
    if env.get("GITHUB_EVENT_NAME") == "workflow_dispatch":
        return apply_fresh(env)
    # Never a file that happens to be in the checkout: the given reviewed plan, or the artifact.
    reviewed = _input(env, "REVIEWED_PLAN")
    merged: int | None = None
    if not reviewed:
        reviewed = _input(env, "PLAN_PATH", "conn-reconcile-plan.json")
        merged = fetch_reviewed(env, reviewed)
    if not Path(reviewed).is_file():
        raise ActionError(f"no reviewed plan at {reviewed}: plan first, review, then apply that plan")
    proc = run_cli([*global_args(env), "plan", "--compare", reviewed, "--format", "json"], env)
    try:
        doc = json.loads(proc.stdout)
        differences = [Difference(**d) for d in doc["differences"]]
    except (ValueError, KeyError, TypeError):
        raise ActionError(f"conn-reconcile plan --compare failed (exit code {proc.returncode})") from None
    if differences or proc.returncode != 0:
        sys.stdout.write(render_text(differences))
        _append(env, "GITHUB_STEP_SUMMARY", render_markdown(differences))
        _comment_refusal(env, merged, render_markdown(differences))
        set_outputs(env, {"applied": "false", "plan_matches": "false"})
        raise ActionError(
            f"the reviewed plan is out of date ({len(differences)} difference(s)); nothing was applied: "
            "plan again and review the new plan"
        )
    print("The current plan matches the reviewed plan: applying it.")
    result = run_cli([*global_args(env), "apply", reviewed, "--format", "markdown"], env)
    sys.stdout.write(result.stdout)
    set_outputs(env, {"applied": str(result.returncode == 0).lower(), "plan_matches": "true"})
    return result.returncode


def drift(env: Mapping[str, str]) -> int:
    has_changes, md = _plan(env)
    outputs = {"drift": str(has_changes).lower(), "issue": "open" if has_changes else "close", "label": DRIFT_LABEL}
    if has_changes:
        Path(DRIFT_FILE).write_text(drift_body(md, _run_url(env)), encoding="utf-8")
        outputs["issue_path"] = DRIFT_FILE
    set_outputs(env, outputs)
    github = _github(env)
    if github is not None:
        title = "conn-reconcile: the Cohere org differs from the connector files"
        body = Path(DRIFT_FILE).read_text(encoding="utf-8") if has_changes else ""
        print(f"Drift issue: {github.drift_issue(outputs['issue'], title, body, DRIFT_LABEL)}.")
    return 0


COMMANDS: dict[str, Callable[[Mapping[str, str]], int]] = {
    "validate": validate,
    "plan": plan,
    "apply": apply,
    "drift": drift,
}


def needed_variables(env: Mapping[str, str]) -> set[str]:
    """The variables the connector files (and the API key) need, from ``conn-reconcile secrets``."""
    proc = run_cli([*global_args(env), "secrets", "--format", "json"], env)
    try:
        doc = json.loads(proc.stdout)
        names = {e["api_key_env"] for e in doc["environments"]}
        names |= {v["name"] for e in doc["environments"] for v in e["variables"]}
    except (ValueError, KeyError, TypeError):
        raise ActionError(f"conn-reconcile secrets failed (exit code {proc.returncode})") from None
    return {n for n in names if isinstance(n, str)} | {"CONN_RECONCILE_FINGERPRINT_KEY"}


def map_secrets(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` plus, from the ``secrets`` input (the workflow's ``toJSON(secrets)``), every
    secret whose name is a variable the files need and that the step's env does not set
    already. The others never reach conn-reconcile; the input itself is dropped."""
    raw = env.get("INPUT_SECRETS", "")
    out = {k: v for k, v in env.items() if k != "INPUT_SECRETS"}
    if not raw.strip():
        return out
    try:
        available = json.loads(raw)
    except ValueError:
        raise ActionError("the secrets input is not JSON: pass ${{ toJSON(secrets) }}") from None
    if not isinstance(available, dict):
        raise ActionError("the secrets input is not a JSON object: pass ${{ toJSON(secrets) }}")
    for name in sorted(needed_variables(out)):
        value = available.get(name)
        if isinstance(value, str) and value and not out.get(name):
            out[name] = value
    return out


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    env = dict(os.environ if env is None else env)
    if len(args) != 1 or args[0] not in COMMANDS:
        print(f"::error::usage: python -m conn_reconcile.ghaction {'|'.join(COMMANDS)}", file=sys.stderr)
        return 2
    from conn_reconcile.ghapi import GitHubError

    try:
        return COMMANDS[args[0]](map_secrets(env))
    except (ActionError, GitHubError) as exc:
        sys.stdout.flush()
        print(f"::error::{gh_data(str(exc))}", file=sys.stderr)
        return exc.code if isinstance(exc, ActionError) else 1


if __name__ == "__main__":
    sys.exit(main())
