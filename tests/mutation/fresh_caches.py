"""A pytest plugin for mutation runs: each mutant's tests see only the mutant's code.

mutmut forks each mutant's test run from a process that already imported the project and ran the
tests. Two things would outlive the fork and hide the mutant: tables the mutated module built at
import time by calling its own functions (so the module named in MUTATED_MODULE_RELOAD is imported
again before each test), what the engine compiled and memoised by text (forgotten before each test), and what the
SAML-login handler keeps per process: its Validators (dropped before each test, so that every test
builds one with the mutant's code) and python3-saml's schema hook, which the first Validator wraps
with a schema cache (put back as the library defines it, cache emptied, once per run of the tests).
"""
from __future__ import annotations

import importlib
import os
import sys

import pytest

try:  # recorded when pytest loads this plugin, before any test has built a Validator
    from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

    _LIBRARY_SCHEMA_HOOK = OneLogin_Saml2_XML.__dict__["_schema_class"]
except ImportError:  # the flows extra is not installed: nothing to put back
    OneLogin_Saml2_XML = _LIBRARY_SCHEMA_HOOK = None


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


@pytest.fixture(autouse=True, scope="session")
def _saml_schema_hook_as_the_library_defines_it():
    if _LIBRARY_SCHEMA_HOOK is not None:
        OneLogin_Saml2_XML._schema_class = _LIBRARY_SCHEMA_HOOK
    validation = sys.modules.get("saml_login_validation")
    if validation is not None:
        validation._schemas.__dict__.clear()
    yield


@pytest.fixture(autouse=True)
def _no_saml_validator_kept(_saml_schema_hook_as_the_library_defines_it):
    handler = sys.modules.get("saml_login")
    if handler is not None:
        handler._validators.clear()
    yield
