"""A pytest plugin for mutation runs: each mutant's tests see only the mutant's code.

mutmut forks each mutant's test run from a process that already imported the project and ran the
tests. Two things would outlive the fork and hide the mutant: tables the mutated module built at
import time by calling its own functions (so the module named in MUTATED_MODULE_RELOAD is imported
again before each test), and what the engine compiled and memoised by text (forgotten before each
test).
"""
from __future__ import annotations

import importlib
import os
import sys

import pytest


@pytest.fixture(autouse=True)
def _mutated_module_imported_again():
    # Per test, so that mutmut's coverage run sees every test call what the import calls. Only for
    # modules whose import builds tables with its own functions and that define no class other modules
    # hold on to (a reloaded exception class would no longer match the old one in their `except`).
    name = os.environ.get("MUTATED_MODULE_RELOAD", "")
    if name in sys.modules:
        importlib.reload(sys.modules[name])
    yield


@pytest.fixture(autouse=True)
def _fresh_caches(_mutated_module_imported_again):
    for name, module in list(sys.modules.items()):
        if not name.startswith(("engine", "compiler")) or module is None:
            continue
        for value in list(vars(module).values()):
            if callable(getattr(value, "cache_clear", None)):
                value.cache_clear()
    definition = sys.modules.get("engine.asl.definition")
    if definition is not None:
        definition.clear_cache()
    yield
