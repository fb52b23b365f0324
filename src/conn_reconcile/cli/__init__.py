"""The ``conn-reconcile`` command line on click: the program, its global options, the commands."""
