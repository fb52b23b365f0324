"""The settings: their defaults, their sources (flags, environment, conn-reconcile.yaml) and
the model of conn-reconcile.yaml."""
