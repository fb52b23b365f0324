"""Reading the repository: finding connector files without trusting the file system, hardened YAML
with a line and column per key, loading files into validated connectors; atomic writes."""
