"""Each mutant of a module run alone, in a fresh process: the verdict mutmut's time limit cannot give.

Usage: .venv/bin/python tests/mutation/one_by_one.py MODULE [MUTANT_NAME_GLOB ...]
       e.g. `one_by_one.py choice 'engine.asl.choice.x_compile_rule__mutmut_*'`; no glob: every mutant.

mutmut forks every mutant's run from one process that has already imported the project, which is
why `fresh_caches.py` must import choice again and clear every cache before each test; for choice that
makes a passing run slow enough that mutmut's time limit cuts off mutants whose tests all pass, and
counts them killed. Here each mutant gets its own `pytest -x` process with the mutant switched on
before anything is imported: the import-time tables and every cache are built by the mutant's code
and nothing else, so no reload is needed, and a run takes the tests' own time (about 2 s for choice).

Verdicts, written to build/mutate/<module>/one_by_one.tsv (name, verdict, seconds, first failing test):
killed (a test failed), survived (every test passed), timeout (still running after TIMEOUT seconds:
look at the mutant, a loop is a kill only once seen), error (pytest could not run: the output says why).
Before the mutants, a clean run must pass and a run with mutmut's "fail" switch must fail, or the
mutated copy is not the one the tests import.
"""
from __future__ import annotations

import fnmatch
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from mutate import MODULES, ROOT, WORK, _scratch

TIMEOUT = float(os.environ.get("ONE_BY_ONE_TIMEOUT", "60"))

GENERATE = """
import sys
from mutmut.__main__ import create_mutants
from mutmut.mutation.trampoline import set_mutant_under_test
from mutmut.utils.file_utils import copy_also_copy_files, copy_src_dir
set_mutant_under_test("mutant_generation")
copy_src_dir()
copy_also_copy_files()
create_mutants(1)
"""


def _generate(work: Path, target: str) -> list[str]:
    subprocess.run([sys.executable, "-c", GENERATE], cwd=work, check=True, stdout=subprocess.DEVNULL)
    meta = json.loads((work / "mutants" / f"{target.removeprefix('handlers/')}.meta").read_text())
    return sorted(meta["exit_code_by_key"], key=lambda n: (n.rpartition("_")[0], int(n.rpartition("_")[2])))


def _pytest(work: Path, tests: list[str], mutant: str) -> tuple[str, float, str]:
    env = dict(os.environ, MUTANT_UNDER_TEST=mutant, PYTHONDONTWRITEBYTECODE="1",
               PYTHONPATH=f"{work / 'mutants'}:{ROOT}")
    command = [sys.executable, "-m", "pytest", "-x", "-q", "--tb=line", "-p", "no:randomly", "-p", "no:cacheprovider",
               "-p", "no:xdist", "--rootdir=.", *tests]
    start = time.monotonic()
    process = subprocess.Popen(command, cwd=work / "mutants", env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        return "timeout", time.monotonic() - start, ""
    seconds = time.monotonic() - start
    failed = next((line.removeprefix("FAILED ").split(" - ")[0] for line in out.splitlines()
                   if line.startswith(("FAILED ", "ERROR "))), "")
    if process.returncode == 0:
        return "survived", seconds, ""
    if process.returncode == 1:
        return "killed", seconds, failed
    return "error", seconds, out.strip().splitlines()[-1] if out.strip() else f"exit {process.returncode}"


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in MODULES:
        print(f"usage: one_by_one.py MODULE [GLOB ...]; modules: {', '.join(MODULES)}", file=sys.stderr)
        return 2
    name, globs = argv[0], argv[1:]
    target, tests = MODULES[name]
    tests = os.environ.get("MUTATE_TESTS", "").split() or tests
    work = _scratch(name, target, tests)
    mutants = [m for m in _generate(work, target) if not globs or any(fnmatch.fnmatch(m, g) for g in globs)]
    clean, _, why = _pytest(work, tests, "")
    forced, _, _ = _pytest(work, tests, "fail")
    if clean != "survived" or forced != "killed":
        print(f"{name}: the set-up is wrong (clean run: {clean} {why}; forced failure: {forced})", file=sys.stderr)
        return 1
    report = WORK / name / "one_by_one.tsv"
    counts: dict[str, int] = {}
    with report.open("w") as out:
        for mutant in mutants:
            verdict, seconds, detail = _pytest(work, tests, mutant)
            counts[verdict] = counts.get(verdict, 0) + 1
            out.write(f"{mutant}\t{verdict}\t{seconds:.1f}\t{detail}\n")
            out.flush()
            if verdict != "killed":
                print(f"{mutant}: {verdict} {detail}", flush=True)
    print(f"{name}: {len(mutants)} mutants, " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
          + f"; verdicts in {report.relative_to(ROOT)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
