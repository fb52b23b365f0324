"""The shapes of the data: connector files, remote connectors, the state, secrets' references and
the registration test's messages, as pydantic models and plain values. Pure: no I/O."""
