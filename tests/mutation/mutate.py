"""Mutation testing of the core modules with mutmut, one module at a time (`make mutate`).

Usage: .venv/bin/python tests/mutation/mutate.py [MODULE[:GLOB,...] ...]   (no names: every module below)
       e.g. `iam:compiler.iam.x__resource_scope*` mutates only the functions whose mutant names match;
       MUTATE_JOBS=2 runs two mutants at a time, MUTATE_TESTS="tests/x.py …" replaces the module's tests.

Each module gets its own scratch copy of the project under build/mutate/<module>/ (the working tree
is never mutated) and runs only the test files that exercise it, so one module takes minutes, not
the whole suite per mutant. Prints `module: killed/total (score)` per module and writes the
surviving mutants of each to build/mutate/<module>/survivors.txt; `mutmut show <name>` run in
build/mutate/<module>/ prints one as a diff. What survives and why goes in
tests/mutation/survivors.md.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "build" / "mutate"

ASL = "tests/engine/asl"
# The executions recorded on AWS (tests/conformance): AWS's own answer for every state type, cheap to run.
AWS = "tests/conformance/test_aws_recorded.py"
# Modules whose import builds tables by calling their own functions: imported again before each test.
RELOADED = {"choice"}
# module → (file to mutate, the test files that exercise it)
MODULES: dict[str, tuple[str, list[str]]] = {
    "choice": ("engine/asl/choice.py", [f"{ASL}/test_choice.py", AWS]),
    "retry": ("engine/asl/retry.py", [f"{ASL}/test_task.py", f"{ASL}/test_map_parallel.py"]),
    "payload": ("engine/asl/payload.py", [f"{ASL}/test_pass.py", f"{ASL}/test_task.py",
                                          f"{ASL}/test_map_parallel.py", f"{ASL}/test_jsonata.py",
                                          f"{ASL}/test_choice.py", f"{ASL}/test_templates.py", AWS]),
    "jsonpath": ("engine/asl/jsonpath.py", [f"{ASL}/test_jsonpath.py", f"{ASL}/test_pass.py", AWS]),
    "intrinsics": ("engine/asl/intrinsics.py", [f"{ASL}/test_intrinsics.py", AWS]),
    "iam": ("compiler/iam.py", ["tests/compiler/test_iam.py"]),
    "sam": ("compiler/sam.py", ["tests/compiler/test_sam.py"]),
    # Handlers are imported as Lambda does, from the function's code directory (`face_blur.tracks`),
    # so they are mutated at the top level of the scratch copy.
    "saml_validation": ("handlers/saml_login_validation.py", ["tests/flows/saml_login/test_saml_handler.py",
                                                              "tests/flows/saml_login/test_saml_validation.py"]),
    "face_blur_tracks": ("handlers/face_blur/tracks.py", ["tests/flows/face_blur/test_tracks.py"]),
}

# What the tests read besides the code (workflows to compile, the handlers they run, the clip maker).
PROJECT_FILES = ["workflows", "templates", "images", "bench", "samconfig.toml"]


def _scratch(name: str, target: str, tests: list[str]) -> Path:
    work = WORK / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    handler = target.startswith("handlers/")
    if handler:
        source = target.removeprefix("handlers/")
        top = source.split("/")[0]
        copy = ROOT / "handlers" / top
    else:
        source = target
        top = target.split("/")[0]
        copy = ROOT / top
    if copy.is_dir():
        shutil.copytree(copy, work / top, ignore=shutil.ignore_patterns("__pycache__"))
    else:
        shutil.copy2(copy, work / top)
    shutil.copy2(Path(__file__).with_name("fresh_caches.py"), work / "fresh_caches.py")
    also_copy = [*PROJECT_FILES, "fresh_caches.py", *([] if handler else ["handlers"])]
    if handler:  # the handlers next to it, importable as Lambda imports them, unmutated
        for other in sorted((ROOT / "handlers").iterdir()):
            if other.name != top and other.name != "__pycache__":
                (shutil.copytree if other.is_dir() else shutil.copy2)(other, work / other.name)
                also_copy.append(other.name)
    # mutmut copies only the Python files of the package it mutates; its data files (schema.json …) too.
    also_copy += sorted(str(path.relative_to(work)) for path in (work / top).rglob("*")
                        if path.is_file() and path.suffix not in (".py", ".pyc")) if (work / top).is_dir() else []
    for path in PROJECT_FILES + ([] if handler else ["handlers"]):
        (shutil.copytree if (ROOT / path).is_dir() else shutil.copy2)(ROOT / path, work / path)
    config = {
        "source_paths": [top],
        "only_mutate": [source],
        "also_copy": also_copy,
        "pytest_add_cli_args_test_selection": tests,
        # One order, one process: a mutant's verdict must not depend on the seed or on a worker.
        "pytest_add_cli_args": ["-x", "--tb=no", "-p", "no:randomly", "-p", "no:cacheprovider", "-p", "fresh_caches"],
        # A mutant that loops is cut off at 4 times its tests' measured time (plus 5 s), not mutmut's 15
        # times: on 2 shared cores the default spends minutes on each looping mutant. Not for choice:
        # re-imported before each test, its passing runs outlast 4x (109 cut-offs, some survivors, 2026-12-04).
        "timeout_constant": 5.0,
        "timeout_multiplier": 15.0 if name in RELOADED else 4.0,
    }
    lines = ["[tool.mutmut]"] + [f"{key} = {json.dumps(value)}" for key, value in config.items()]
    lines += ["", "[tool.pytest.ini_options]", 'testpaths = ["tests"]', 'addopts = "-q"', ""]
    (work / "pyproject.toml").write_text("\n".join(lines))
    shutil.copytree(ROOT / "tests", work / "tests", ignore=shutil.ignore_patterns("__pycache__", "mutation"))
    return work


def run_module(name: str, children: int, only: list[str]) -> dict:
    target, tests = MODULES[name]
    # MUTATE_TESTS="a.py b.py" narrows the tests for a partial run (say so in survivors.md).
    tests = os.environ.get("MUTATE_TESTS", "").split() or tests
    work = _scratch(name, target, tests)
    mutmut = [str(Path(sys.executable).with_name("mutmut"))]
    module = target.removeprefix("handlers/").removesuffix(".py").replace("/", ".")  # as the tests import it
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", MUTATED_MODULE_RELOAD=module if name in RELOADED else "",
               # The packages not copied come from the project: mutmut's copy stays first on the path, and
               # the project's regular packages win over the tests/engine folder pytest puts on it.
               PYTHONPATH=str(ROOT))
    log = (work / "mutmut.log").open("w")
    subprocess.run([*mutmut, "run", "--max-children", str(children), *only], cwd=work, env=env, stdout=log,
                   stderr=subprocess.STDOUT, check=False)
    subprocess.run([*mutmut, "export-cicd-stats"], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT,
                   check=False)
    stats_file = work / "mutants" / "mutmut-cicd-stats.json"
    if not stats_file.exists():
        return {"module": name, "error": f"no results; see {work / 'mutmut.log'}"}
    stats = json.loads(stats_file.read_text())
    results = subprocess.run([*mutmut, "results"], cwd=work, env=env, capture_output=True, text=True,
                             check=False).stdout
    survivors = [line.strip().split(":")[0] for line in results.splitlines() if line.strip().endswith("survived")]
    (work / "survivors.txt").write_text("".join(f"{s}\n" for s in survivors))
    stats["module"] = name
    return stats


def main(argv: list[str]) -> int:
    picks = [(arg.partition(":")[0], [g for g in arg.partition(":")[2].split(",") if g]) for arg in argv]
    picks = picks or [(name, []) for name in MODULES]
    unknown = [n for n, _ in picks if n not in MODULES]
    if unknown:
        print(f"unknown module(s) {', '.join(unknown)}; choose from {', '.join(MODULES)}", file=sys.stderr)
        return 2
    children = int(os.environ.get("MUTATE_JOBS", "1"))
    for name, only in picks:
        stats = run_module(name, children, only)
        if "error" in stats:
            print(f"{name}: {stats['error']}", flush=True)
            continue
        total = sum(stats.get(k, 0) for k in ("killed", "survived", "timeout", "suspicious", "no_tests", "segfault"))
        caught = stats["killed"] + stats.get("timeout", 0)
        part = f" (only {', '.join(only)})" if only else ""
        print(f"{name}{part}: {caught}/{total} killed ({100 * caught / max(total, 1):.1f} %), "
              f"{stats['survived']} survived, {stats.get('no_tests', 0)} not covered by the selected tests; "
              f"survivors in {(WORK / name / 'survivors.txt').relative_to(ROOT)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
