"""The GitHub Action: its commands, what a run may trust, which reviewed plans an apply is checked
against, and the GitHub REST calls, artifacts read as hostile data."""
