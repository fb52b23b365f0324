"""The state kept on a git branch: a private scratch repository, pull and publish with
compare-and-swap, and the lock as a ref on the remote."""
