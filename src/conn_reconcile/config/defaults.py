"""The defaults every layer shares (CLI options, workflow settings, client, plan options),
written once. Pure core: constants only."""

from __future__ import annotations

TYPE_CHECKING = False  # as typing's, which --help does not import
if TYPE_CHECKING:
    from typing import Final

#: the Cohere API base URL (``--api-url``, env ``CO_API_URL``)
API_URL: Final = "https://api.cohere.com"
#: the variable holding the API key (an environment's ``api_key_env`` names another)
API_KEY_ENV: Final = "CO_API_KEY"
#: the directory of connector files (``--dir``, ``dir:``)
DIR: Final = "connectors"
#: the tool's scratch directory (the default local state, its journal and lock, the git state's
#: scratch repository): beside conn-reconcile.yaml, else at the git root, else in the working directory
SCRATCH_DIR: Final = ".conn-reconcile"
#: the state file (``--state``) in the scratch directory (strings: the CLI's ``--help`` imports
#: this module, and not pathlib)
STATE_NAME: Final = "state.json"
STATE_PATH: Final = f"{SCRATCH_DIR}/{STATE_NAME}"
#: seconds per HTTP request as a whole (``--timeout``)
TIMEOUT: Final = 10.0
#: seconds the whole command may take (``--deadline``): a hung API ends the command in CI
DEADLINE: Final = 1800.0
#: seconds apply waits for the state lock held by another run (``--lock-timeout``; 0: fail at once)
LOCK_TIMEOUT: Final = 0.0
#: attempts per request, the first included
MAX_ATTEMPTS: Final = 4
#: seconds: the first retry waits a random time up to this, doubling per retry ...
BACKOFF_BASE: Final = 0.5
#: ... up to this many seconds
BACKOFF_CAP: Final = 30.0
#: prune refuses to delete more connectors than this without ``--force`` (``--max-deletes``)
MAX_DELETES: Final = 5
#: concurrent API calls during apply (``--parallelism``)
PARALLELISM: Final = 4
#: the port ``conn-reconcile emulator`` listens on (``--port``; the demo's, scripts/demo.sh)
EMULATOR_PORT: Final = 8765
