"""The floor: the least work `validate`, `plan` and `apply` must do, on the tool's own stack. A
separate, minimal program (``floor.py validate|plan|apply DIR [--parallelism P]``), timed as a whole
process exactly like the tool; the API URL is ``$BENCH_API_URL``, the key ``$CO_API_KEY``."""

from __future__ import annotations

import argparse
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Literal

from _ruamel_yaml import CParser  # ruamel.yaml.clib: libyaml's parser, as the tool uses it
from pydantic import BaseModel, ConfigDict
from ruamel.yaml.events import MappingEndEvent, MappingStartEvent, ScalarEvent, SequenceEndEvent, SequenceStartEvent

if TYPE_CHECKING:
    import httpx

PAGE = 100


class ServiceAuth(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    type: Literal["bearer", "basic", "noscheme"]
    token: str


class OAuth(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    client_id: str | None = None
    client_secret: str | None = None
    authorize_url: str | None = None
    token_url: str | None = None
    scope: str | None = None


class Connector(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: str
    url: str
    description: str | None = None
    excludes: list[str] | None = None
    active: bool = True
    continue_on_failure: bool = False
    service_auth: ServiceAuth | None = None
    oauth: OAuth | None = None


def _scalar(event: ScalarEvent) -> object:
    value = event.value
    if event.style:  # quoted
        return value
    return {"true": True, "false": False, "null": None, "~": None}.get(value, value)


def load(text: str) -> object:
    """The document's plain data from libyaml's events (no tags, anchors or type resolution
    beyond booleans and null: the least any loader on this parser does)."""
    parser = CParser(text)
    stack: list[list | dict] = []
    keys: list[object] = []
    root: object = None
    try:
        while (event := parser.get_event()) is not None:
            if isinstance(event, (MappingStartEvent, SequenceStartEvent)):
                node: list | dict = {} if isinstance(event, MappingStartEvent) else []
                stack.append(node)
                keys.append(None)
                continue
            if isinstance(event, (MappingEndEvent, SequenceEndEvent)):
                value: object = stack.pop()
                keys.pop()
            elif isinstance(event, ScalarEvent):
                value = _scalar(event)
            else:
                continue
            if not stack:
                root = value
            elif isinstance(stack[-1], list):
                stack[-1].append(value)
            elif keys[-1] is None:
                keys[-1] = value
            else:
                stack[-1][keys[-1]] = value
                keys[-1] = None
    finally:
        parser.dispose()
    return root


def load_dir(directory: str) -> list[dict]:
    docs = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.endswith((".yaml", ".yml")) and not name.startswith("."):
                with open(os.path.join(root, name), "rb") as fh:
                    doc = load(fh.read().decode("utf-8"))
                Connector.model_validate(doc)
                docs.append(doc)  # type: ignore[arg-type]
    return docs


def list_all(client: httpx.Client) -> list[dict]:
    out: list[dict] = []
    while True:
        page = client.get("/v1/connectors", params={"limit": PAGE, "offset": len(out)})
        page.raise_for_status()
        data = page.json()
        out.extend(data["connectors"])
        if len(data["connectors"]) < PAGE or len(out) >= data["total_count"]:
            return out


def _without_secrets(doc: dict) -> dict:
    plain = dict(doc)
    for block, key in (("service_auth", "token"), ("oauth", "client_secret")):
        if isinstance(plain.get(block), dict):
            plain[block] = {k: v for k, v in plain[block].items() if k != key}
    return plain


def plan(docs: list[dict], remote: list[dict]) -> tuple[list[dict], int]:
    """The creates, and the number of updates (printed one line per change)."""
    by_name = {r["name"]: r for r in remote}
    creates, updates = [], 0
    for doc in docs:
        current = by_name.get(doc["name"])
        if current is None:
            creates.append(doc)
            print(f"+ {doc['name']}")
        elif any(current.get(k) != v for k, v in _without_secrets(doc).items()):
            updates += 1
            print(f"~ {doc['name']}")
    return creates, updates


def resolve(doc: dict) -> dict:
    body = {k: (dict(v) if isinstance(v, dict) else v) for k, v in doc.items()}
    auth = body.get("service_auth")
    if isinstance(auth, dict) and str(auth.get("token", "")).startswith("${"):
        auth["token"] = os.environ[auth["token"][2:-1]]
    return body


def create(client: httpx.Client, doc: dict) -> None:
    client.post("/v1/connectors", json=resolve(doc)).raise_for_status()


def main() -> int:
    """Run one command:

    * ``validate DIR`` - parse every ``*.yaml``/``*.yml`` under DIR with ruamel's C parser
      (``YAML(typ="safe")``) and validate each with a pydantic model of the connector file;
    * ``plan DIR`` - the same, then list every page of ``/v1/connectors`` with one
      ``httpx.Client``, match by name, compare the fields as dicts and print one line per change;
    * ``apply DIR --parallelism P`` - the same plan, then POST every create from P threads
      sharing that client, with each ``${VAR}`` secret resolved from the environment.

    Exit 0 on success."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("validate", "plan", "apply"))
    parser.add_argument("directory")
    parser.add_argument("--parallelism", type=int, default=16)
    args = parser.parse_args()
    docs = load_dir(args.directory)
    if args.command == "validate":
        print(f"{len(docs)} valid")
        return 0
    import httpx  # not loaded by the start-up floor, which imports this module for its model

    headers = {"Authorization": f"Bearer {os.environ['CO_API_KEY']}"}
    limits = httpx.Limits(max_connections=args.parallelism, max_keepalive_connections=args.parallelism)
    with httpx.Client(base_url=os.environ["BENCH_API_URL"], headers=headers, limits=limits, timeout=60) as client:
        creates, updates = plan(docs, list_all(client))
        print(f"{len(creates)} to create, {updates} to update, {len(docs) - len(creates) - updates} unchanged")
        if args.command == "apply":
            with ThreadPoolExecutor(args.parallelism) as pool:
                list(pool.map(lambda d: create(client, d), creates))
    return 0


if __name__ == "__main__":
    sys.exit(main())
