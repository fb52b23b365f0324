"""The floor: the least work `validate`, `plan` and `apply` must do, with the fastest ordinary tools.

A separate, minimal program, timed as a whole process exactly like the tool:

* ``floor.py validate DIR`` - parse every ``*.yaml``/``*.yml`` under DIR with libyaml
  (PyYAML's ``CSafeLoader``) and check each is a mapping with a name;
* ``floor.py plan DIR`` - the same, then list every page of ``/v1/connectors`` with
  ``http.client`` (one keep-alive connection), match by name, compare the fields as dicts and
  print one line per change;
* ``floor.py apply DIR --parallelism P`` - the same plan, then POST every create from P
  threads (one keep-alive connection each), with each ``${VAR}`` secret resolved from the
  environment.

The API URL is ``$BENCH_API_URL``, the key ``$CO_API_KEY``. Exit 0 on success.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import yaml

PAGE = 100


def load_dir(directory: str) -> list[dict]:
    docs = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.endswith((".yaml", ".yml")) and not name.startswith("."):
                with open(os.path.join(root, name), "rb") as fh:
                    doc = yaml.load(fh, Loader=yaml.CSafeLoader)
                if not isinstance(doc, dict) or not isinstance(doc.get("name"), str):
                    raise SystemExit(f"floor: {name}: not a connector mapping")
                docs.append(doc)
    return docs


class Api:
    def __init__(self) -> None:
        parts = urlsplit(os.environ["BENCH_API_URL"])
        self.host, self.port = parts.hostname, parts.port
        self.headers = {"Authorization": f"Bearer {os.environ['CO_API_KEY']}", "Content-Type": "application/json"}
        self.local = threading.local()

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        conn.request(method, path, None if body is None else json.dumps(body), self.headers)
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise SystemExit(f"floor: {method} {path}: HTTP {response.status}")
        return json.loads(data)

    def list_all(self) -> list[dict]:
        out: list[dict] = []
        while True:
            page = self.call("GET", f"/v1/connectors?limit={PAGE}&offset={len(out)}")
            out.extend(page["connectors"])
            if len(page["connectors"]) < PAGE or len(out) >= page["total_count"]:
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
    body = json.loads(json.dumps(doc))
    auth = body.get("service_auth")
    if isinstance(auth, dict) and str(auth.get("token", "")).startswith("${"):
        auth["token"] = os.environ[auth["token"][2:-1]]
    return body


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("validate", "plan", "apply"))
    parser.add_argument("directory")
    parser.add_argument("--parallelism", type=int, default=16)
    args = parser.parse_args()
    docs = load_dir(args.directory)
    if args.command == "validate":
        print(f"{len(docs)} valid")
        return 0
    api = Api()
    creates, updates = plan(docs, api.list_all())
    print(f"{len(creates)} to create, {updates} to update, {len(docs) - len(creates) - updates} unchanged")
    if args.command == "apply":
        with ThreadPoolExecutor(args.parallelism) as pool:
            list(pool.map(lambda d: api.call("POST", "/v1/connectors", resolve(d)), creates))
    return 0


if __name__ == "__main__":
    sys.exit(main())
