"""The GitHub Action's logic, ``python -I -m conn_reconcile.github.action validate|plan|apply|drift``:
installed and run in isolated mode (never code from the checkout), it runs the CLI the same way,
as child processes, takes its inputs from ``INPUT_*`` variables and reports to ``$GITHUB_OUTPUT``,
the job summary, the pull request comment and the drift issue."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from conn_reconcile.escape import gh_data, md_code, md_fence
from conn_reconcile.github import api as ghapi
from conn_reconcile.github import artifact as ghartifact
from conn_reconcile.github import rest as ghrest
from conn_reconcile.github import reviewed as ghreviewed
from conn_reconcile.github import trust as ghtrust
from conn_reconcile.plan.compare import Difference, render_markdown, render_text

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
    """``python -I -m conn_reconcile ARGS`` (isolated: the installed tool, never a module of the
    checkout); stderr goes straight to the log, stdout is returned."""
    return subprocess.run(
        [sys.executable, "-I", "-m", "conn_reconcile", *args],
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
    try:
        return ghtrust.event_payload(env)
    except ghtrust.TrustError as exc:
        raise ActionError(str(exc)) from None


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
    repo = env.get("GITHUB_REPOSITORY", "")
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", repo):
        raise ActionError("GITHUB_REPOSITORY is not set to OWNER/NAME: cannot post")
    return ghapi.GitHub(env.get("GITHUB_API_URL", "https://api.github.com"), env["GITHUB_TOKEN"], repo)


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
    """On a pull request: against the org snapshot kept with the state, with no secret (the
    run holds none); elsewhere against the live org."""
    plan_path = _input(env, "PLAN_PATH", "conn-reconcile-plan.json")
    snapshot = ("--against-snapshot",) if ghtrust.from_pull_request(env) else ()
    has_changes, md = _plan(env, "--out", plan_path, *snapshot)
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
    if result.returncode != 0:
        keep_state(env)
    return result.returncode


REFUSED_MARKER = "<!-- conn-reconcile-apply-refused -->"


def _comment_refusal(env: Mapping[str, str], numbers: Sequence[int], differences_md: str) -> None:
    """Tell the merged pull requests why the apply was refused (one comment each, kept up to date)."""
    github = _github(env)
    if not numbers or github is None:
        return
    run = _run_url(env)
    where = f" ([run]({run}))" if run else ""
    body = cap(
        f"{REFUSED_MARKER}\n**conn-reconcile apply refused**: the plan made after the merge is not what the "
        f"reviewed plan(s) showed{where}; nothing was applied.\n\n{differences_md}"
    )
    for number in numbers:
        print(f"Refusal comment {github.sticky_comment(number, body, REFUSED_MARKER)} on pull request #{number}.")


def _compare(env: Mapping[str, str], files: Sequence[str], numbers: Sequence[int]) -> None:
    """Refuse, before any write, when the plan made now is not what the reviewed plans show."""
    compare = [arg for path in files for arg in ("--compare", path)]
    proc = run_cli([*global_args(env), "plan", *compare, "--format", "json"], env)
    try:
        doc = json.loads(proc.stdout)
        differences = [Difference(**d) for d in doc["differences"]]
    except (ValueError, KeyError, TypeError):
        raise ActionError(f"conn-reconcile plan --compare failed (exit code {proc.returncode})") from None
    if differences or proc.returncode != 0:
        sys.stdout.write(render_text(differences))
        _append(env, "GITHUB_STEP_SUMMARY", render_markdown(differences))
        _comment_refusal(env, numbers, render_markdown(differences))
        set_outputs(env, {"applied": "false", "plan_matches": "false"})
        raise ActionError(
            f"the plan made now is not what was reviewed ({len(differences)} difference(s)); nothing was applied: "
            "plan again and review the new plan"
        )


def apply(env: Mapping[str, str]) -> int:
    commit = ghtrust.require_trusted_checkout(env, event(env), "apply")
    if env.get("GITHUB_EVENT_NAME") == "workflow_dispatch":
        return apply_fresh(env)
    given = _input(env, "REVIEWED_PLAN")
    if given:
        if not Path(given).is_file():
            raise ActionError(f"no reviewed plan at {given}: plan first, review, then apply")
        files, numbers = [given], list[int]()
    else:
        found = ghreviewed.reviewed_plans(env, commit, _github(env, posting=False), _state_info(env))
        if found is None:
            set_outputs(env, {"applied": "false", "plan_matches": "true"})
            return 0
        files, numbers = found
    _compare(env, files, numbers)
    print("The plan made now is what was reviewed: applying it (the plan made now, not a file).")
    reviewed = [arg for path in files for arg in ("--reviewed-plan", path)]
    result = run_cli([*global_args(env), "apply", "--auto-approve", *reviewed, "--format", "markdown"], env)
    sys.stdout.write(result.stdout)
    set_outputs(env, {"applied": str(result.returncode == 0).lower(), "plan_matches": "true"})
    if result.returncode != 0:
        keep_state(env)
    return result.returncode


def _state_info(env: Mapping[str, str]) -> dict[str, Any]:
    """What the state says of the last apply and the org snapshot (``snapshot --show``)."""
    proc = run_cli([*global_args(env), "snapshot", "--show", "--format", "json"], env)
    try:
        info = json.loads(proc.stdout)
    except ValueError:
        info = None
    if proc.returncode != 0 or not isinstance(info, dict):
        raise ActionError(f"cannot read the state (exit code {proc.returncode})", proc.returncode or 1)
    return info


def keep_state(env: Mapping[str, str]) -> None:
    """After a failed apply: the run's local state (ids it created, intents) copied out of the
    checkout for an artifact (output ``state_dir``) and shown in the job summary, so a state
    that could not be pushed is never lost with the runner."""
    root = Path(ghtrust.SCRATCH)
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()) if root.is_dir() else []
    files = [p for p in files if "repo.git" not in p.parts and not p.name.endswith(".lock")]
    if not files:
        return
    dest = ghartifact.fresh_directory(env, "state")
    parts = ["### conn-reconcile: the state this run kept", ""]
    for path in files:
        data = path.read_bytes()[: 1024 * 1024]
        ghartifact.write_safely(dest, "__".join(path.relative_to(root).parts), data)
        text = data[:20000].decode("utf-8", "replace")
        parts += [f"`{path.as_posix()}`", "", md_fence(text), text, md_fence(text), ""]
    _append(env, "GITHUB_STEP_SUMMARY", "\n".join(parts) + "\n")
    set_outputs(env, {"state_dir": str(dest)})
    print(f"The run's state is kept in the job's artifact (and its summary): {len(files)} file(s).")


def drift(env: Mapping[str, str]) -> int:
    """Plan against the live org with the secrets (rotations, and the probe when configured),
    keep one drift issue, then refresh the org snapshot the pull requests plan against."""
    ghtrust.require_trusted_checkout(env, event(env), "drift")
    has_changes, md = _plan(env)
    outputs = {"drift": str(has_changes).lower(), "issue": "open" if has_changes else "close", "label": DRIFT_LABEL}
    body = drift_body(md, _run_url(env)) if has_changes else ""
    if has_changes:
        dest = ghartifact.fresh_directory(env, "drift")
        outputs["issue_path"] = str(ghartifact.write_safely(dest, DRIFT_FILE, body.encode()))
    set_outputs(env, outputs)
    github = _github(env)
    if github is not None:
        title = "conn-reconcile: the Cohere org differs from the connector files"
        print(f"Drift issue: {github.drift_issue(outputs['issue'], title, body, DRIFT_LABEL)}.")
    snap = run_cli([*global_args(env), "snapshot", "--lock-timeout", "300"], env)
    sys.stdout.write(snap.stdout)
    if snap.returncode != 0:
        raise ActionError(f"conn-reconcile snapshot failed (exit code {snap.returncode})", snap.returncode)
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


def _checked(env: Mapping[str, str]) -> dict[str, str]:
    """The environment the command runs with, once the run may run at all: no scratch
    directory in the checkout; on a pull request, no secret."""
    ghtrust.refuse_planted_scratch()
    ghtrust.refuse_secrets_on_pull_request(env, lambda: needed_variables(env))
    return map_secrets(env)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    env = dict(os.environ if env is None else env)
    if len(args) != 1 or args[0] not in COMMANDS:
        print(f"::error::usage: python -I -m conn_reconcile.github.action {'|'.join(COMMANDS)}", file=sys.stderr)
        return 64  # EX_USAGE, as the CLI's usage errors: 2 is a plan's "there are changes"
    try:
        return COMMANDS[args[0]](_checked(env))
    except (ActionError, ghrest.GitHubError, ghtrust.TrustError, ghreviewed.ReviewError) as exc:
        sys.stdout.flush()
        print(f"::error::{gh_data(str(exc))}", file=sys.stderr)
        return exc.code if isinstance(exc, ActionError) else 1


if __name__ == "__main__":
    sys.exit(main())
