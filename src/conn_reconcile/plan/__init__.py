"""Deciding what to do: matching, diffing, the frozen plan and its saved shape, recovery from an
interrupted apply, preflight targets, comparison with reviewed plans. Pure: no I/O."""
