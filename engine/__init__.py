"""Stepsmith's local engine: run compiled workflows offline (``execute`` is the ASL interpreter)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .asl import DefinitionError, ExecutionResult, execute

__all__ = ["DefinitionError", "ExecutionResult", "execute"]


def __getattr__(name: str) -> Any:
    # Loaded on first use: the `stepsmith` CLI imports this package and must start fast.
    if name in __all__:
        from . import asl

        return getattr(asl, name)
    raise AttributeError(f"module 'engine' has no attribute {name!r}")
