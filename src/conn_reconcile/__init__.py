"""conn-reconcile: a declarative GitOps reconciler for Cohere connector definitions."""

__version__ = "0.1.0"
