"""Compiled templates pass the AWS tools: cfn-lint (zero errors), `sam validate --lint`, `sam build`.

The tools live in the tool venv (.venv-sam/, created by the README's test command) because
aws-sam-cli pins its own boto3 and click. Two projects are compiled: the repository's own
workflows and a fixture project that uses every construct (tests/compiler/fixtures/backend/project).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

import compiler
from compiler.serialize import dump_template, load_template

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".venv-sam" / "bin"
FIXTURE_PROJECT = Path(__file__).parent / "fixtures" / "backend" / "project"

pytestmark = pytest.mark.skipif(
    not (TOOLS / "sam").exists() or not (TOOLS / "cfn-lint").exists(),
    reason="the SAM tool venv .venv-sam/ is missing (the README's test command creates it)")

ENV = {**os.environ, "SAM_CLI_TELEMETRY": "0", "AWS_DEFAULT_REGION": "us-east-1"}


def run(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(c) for c in command], check=False, cwd=cwd, env=ENV, capture_output=True,
                          text=True, timeout=300)


def _compile(source: Path, target: Path) -> Path:
    """Compile `source`'s workflows into target/build, with handlers/ and images/ beside it like in a project
    (template paths such as CodeUri ../handlers/ are relative to build/)."""
    target.mkdir(parents=True)
    for folder in ("workflows", "handlers", "images"):
        if (source / folder).is_dir():
            (target / folder).symlink_to(source / folder)
    compiler.compile_project(target, "build")
    return target


@pytest.fixture(scope="module")
def projects(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("sam-tools")
    found = {"fixture": _compile(FIXTURE_PROJECT, base / "fixture")}
    if compiler.workflow_files(ROOT):
        found["repository"] = _compile(ROOT, base / "repository")
    return found


def _zip_only(project: Path) -> list[str]:
    """Write build/zip-only.yaml without container-image functions (building those needs Docker, which CI
    lacks); returns the zip functions' logical ids."""
    template = load_template((project / "build" / "template.yaml").read_text())
    zipped = {key: value for key, value in template["Resources"].items()
              if value.get("Properties", {}).get("PackageType") != "Image"}
    (project / "build" / "zip-only.yaml").write_text(dump_template({**template, "Resources": zipped}))
    return sorted(key for key, value in zipped.items() if value["Type"] == "AWS::Serverless::Function")


@pytest.fixture(scope="module")
def tools(projects, tmp_path_factory) -> dict[str, Future[subprocess.CompletedProcess[str]]]:
    """Every tool run, started at once: each is slow to start, and together they fit the test budget."""
    builds = tmp_path_factory.mktemp("sam-build")
    pool = ThreadPoolExecutor(max_workers=8)
    runs: dict[str, Future[subprocess.CompletedProcess[str]]] = {}
    templates = [project / "build" / "template.yaml" for project in projects.values()]
    runs["cfn-lint"] = pool.submit(run, TOOLS / "cfn-lint", *templates, cwd=ROOT)
    script = ("import json, sys; from cfnlint.decode import cfn_yaml; "
              "print(json.dumps(cfn_yaml.load(sys.argv[1])))")
    runs["decode"] = pool.submit(run, TOOLS / "python", "-c", script, templates[0], cwd=ROOT)
    for name, project in projects.items():
        # The root samconfig.toml says which template to validate and to lint it, as for a user.
        shutil.copy(ROOT / "samconfig.toml", project / "samconfig.toml")
        runs[f"validate {name}"] = pool.submit(run, TOOLS / "sam", "validate", "--debug", cwd=project)
        if shutil.which("python3.11"):
            _zip_only(project)
            runs[f"build {name}"] = pool.submit(run, TOOLS / "sam", "build", "-t", "build/zip-only.yaml",
                                                "--build-dir", builds / name, cwd=project)
        # sam build pip-installs each function's requirements from a package index: can pip reach them here?
        requirements = sorted((project / "handlers").glob("requirements*.txt"))
        if shutil.which("python3.11") and requirements:
            runs[f"requirements {name}"] = pool.submit(
                run, "python3.11", "-m", "pip", "download", "--no-deps", "--dest", builds / f"{name}-pip",
                *[arg for path in requirements for arg in ("-r", path)], cwd=project)
    runs["build dir"] = pool.submit(lambda: builds)  # type: ignore[arg-type,return-value]
    yield runs
    pool.shutdown(wait=True)


def test_cfn_lint_finds_no_errors(tools):
    result = tools["cfn-lint"].result()
    # cfn-lint's exit code is a bit mask: 2 = errors, 4 = warnings, 8 = informational.
    assert result.returncode & 2 == 0, result.stdout + result.stderr


def test_sam_validate_lint_accepts_every_template(projects, tools):
    for name, project in projects.items():
        result = tools[f"validate {name}"].result()
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{name}: {output}"
        assert f"{project}/build/template.yaml is a valid SAM Template" in output
        assert "--lint" in output  # samconfig.toml turned cfn-lint on


def test_cfn_lints_own_yaml_loader_reads_our_short_form_tags_the_same(projects, tools):
    result = tools["decode"].result()
    assert result.returncode == 0, result.stderr
    text = (projects["fixture"] / "build" / "template.yaml").read_text()
    assert json.loads(result.stdout) == load_template(text)
    assert "!GetAtt" in text and "!Sub" in text and "!Ref" in text


@pytest.mark.skipif(shutil.which("python3.11") is None, reason="sam build needs python3.11 on PATH")
def test_sam_build_builds_every_zip_function(projects, tools):
    builds = tools["build dir"].result()
    for name, project in projects.items():
        fetched = tools.get(f"requirements {name}")
        if fetched is not None and fetched.result().returncode != 0:
            problem = (fetched.result().stderr.strip().splitlines() or ["pip failed"])[-1]
            pytest.skip(f"sam build pip-installs the {name} project's handlers/requirements*.txt from a package "
                        f"index, and pip cannot get them here (no index reachable?): {problem}")
        result = tools[f"build {name}"].result()
        assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"
        functions = _zip_only(project)
        assert functions, f"{name} has no zip function to build"
        for function in functions:
            assert any((builds / name / function).rglob("*.py")), f"{name}: {function} was not built"
