"""Helpers for the tray-count flow tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def load_packing_line():
    """bench/packing_line.py as a module (bench/ is no package, and its tray_count.py would shadow the handlers')."""
    if "bench_packing_line" not in sys.modules:
        spec = importlib.util.spec_from_file_location("bench_packing_line", ROOT / "bench" / "packing_line.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_packing_line"] = module
        spec.loader.exec_module(module)
    return sys.modules["bench_packing_line"]
