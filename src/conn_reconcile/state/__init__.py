"""Where the state lives: the local snapshot and journal, the state lock, the org snapshot, and the
state kept on a git branch."""
