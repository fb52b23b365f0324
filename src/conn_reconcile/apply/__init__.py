"""Carrying a plan out: phases and parallelism, an intent recorded before every remote write, the
Ctrl-C protocol, the results, and saved plan files."""
