"""Stepsmith's local engine: run compiled workflows offline (``execute`` is the ASL interpreter)."""
from .asl import DefinitionError, ExecutionResult, execute

__all__ = ["DefinitionError", "ExecutionResult", "execute"]
