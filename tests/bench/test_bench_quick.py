"""Every benchmark runs: each bench/*.py with `--quick` (tiny inputs, one repetition), as a user would run it.

A benchmark that no longer runs (a missing baseline library, a renamed API, a deleted fixture) fails
here, in CI. Timings are never judged: the figures printed in quick mode measure nothing. New files in
bench/ are picked up by name, so every benchmark follows the rule from its first commit.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = sorted((ROOT / "bench").glob("*.py"))


def test_there_are_benchmarks_to_run():
    assert {"engine.py", "saml_login.py"} <= {path.name for path in BENCHMARKS}


@pytest.mark.parametrize("benchmark", BENCHMARKS, ids=[path.name for path in BENCHMARKS])
def test_the_benchmark_runs_in_quick_mode(benchmark: Path, tmp_path: Path):
    # From a scratch folder: a benchmark must not depend on the current directory, and whatever it
    # writes outside its own temporary folders would show up here.
    done = subprocess.run([sys.executable, str(benchmark), "--quick"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600, check=False)
    output = (done.stdout + done.stderr)[-4000:]
    assert done.returncode == 0, f"{benchmark.name} --quick exited {done.returncode}:\n{output}"
    assert done.stdout.strip(), f"{benchmark.name} --quick printed nothing"
    assert list(tmp_path.iterdir()) == [], f"{benchmark.name} --quick left files in the current folder"
