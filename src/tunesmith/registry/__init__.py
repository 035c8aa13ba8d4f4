"""The run registry: every training run, failed or not, recorded in SQLite under tunesmith home."""

from tunesmith.registry.store import Registry

__all__ = ["Registry"]
