"""Running conn-reconcile as a program: ``python -m conn_reconcile`` (as the GitHub Action and the
tests' CLI subprocesses do) is the ``conn-reconcile`` command."""

from conn_reconcile.cli.main import main

if __name__ == "__main__":
    main()
