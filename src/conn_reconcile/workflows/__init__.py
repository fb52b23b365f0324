"""One function per command, joining the layers below: settings, files, state, plan, apply, API."""
