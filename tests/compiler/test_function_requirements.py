"""`requirements:` on a handler step: pip requirements (a list, or a requirements file) that the function's code
folder carries beside its handler's own, checked at validate time with file:line, and named by a local run
whose environment lacks them (it installs nothing)."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from compiler import compile_project, validate_project
from engine.cli import main

SPEC = """
steps:
  - name: Resize
    handler: resize
    requirements: REQUIREMENTS
"""


def _project(tmp_path: Path, requirements: str, handler: str = "def handler(event, context):\n    return event\n"
             ) -> Path:
    (tmp_path / "workflows").mkdir()
    (tmp_path / "handlers").mkdir()
    (tmp_path / "handlers" / "resize.py").write_text(handler)
    (tmp_path / "handlers" / "resize.requirements.txt").write_text("pyyaml>=6\n")
    (tmp_path / "workflows" / "thumbs.yaml").write_text(textwrap.dedent(SPEC).replace("REQUIREMENTS", requirements))
    return tmp_path


def _errors(root: Path) -> list[str]:
    return [str(error) for error in validate_project(root)]


@pytest.mark.parametrize("form", ["list", "file"])
def test_the_code_folder_carries_the_handlers_and_the_steps_requirements(tmp_path, form):
    if form == "list":
        root = _project(tmp_path, '["jinja2>=3.1", "pyyaml>=6"]')
    else:
        root = _project(tmp_path, "handlers/resize-prod.txt")
        (root / "handlers" / "resize-prod.txt").write_text("# for deploys\njinja2>=3.1  # templates\n\n")
    compile_project(root, root / "build")
    assert (root / "build/functions/ThumbsResizeFunction/requirements.txt").read_text() == \
        "pyyaml>=6\njinja2>=3.1\n"


@pytest.mark.parametrize(("requirements", "file_text", "expected"), [
    ("handlers/missing.txt", None,
     "workflows/thumbs.yaml:5:19: requirements file 'handlers/missing.txt' does not exist"),
    ("handlers/reqs.txt", "jinja2>=3.1\npillow>>10\n",
     "handlers/reqs.txt:2:1: not a pip requirement: 'pillow>>10': "),  # then packaging's words
    ("handlers/reqs.txt", "-r other.txt\n",
     "handlers/reqs.txt:1:1: not a pip requirement: '-r other.txt': '-r' is a pip option, not a requirement"),
    ('["jinja2>=3.1", "pil low"]', None, "workflows/thumbs.yaml:5:35: not a pip requirement: 'pil low'"),
    ("../outside.txt", None, "workflows/thumbs.yaml:5:19: requirements file '../outside.txt' is outside the project"),
    ("requirements.txt", None, ("workflows/thumbs.yaml:5:19: requirements file 'requirements.txt' is outside "
     "workflows/, handlers/, images/")),
])
def test_validate_names_the_file_and_line_of_a_bad_requirement(tmp_path, requirements, file_text, expected):
    root = _project(tmp_path, requirements)
    if file_text is not None:
        (root / "handlers" / "reqs.txt").write_text(file_text)
    errors = _errors(root)
    assert len(errors) == 1 and errors[0].startswith(expected), errors


def test_an_image_function_takes_its_requirements_from_its_dockerfile(tmp_path):
    root = _project(tmp_path, '["jinja2"]')
    (root / "images" / "resize").mkdir(parents=True)
    (root / "images" / "resize" / "Dockerfile").write_text("FROM python:3.11-slim\n")
    spec = root / "workflows" / "thumbs.yaml"
    spec.write_text(spec.read_text().replace("    handler: resize\n", "    handler: resize\n    image: resize\n"))
    errors = _errors(root)
    assert len(errors) == 1 and "an image function installs what its Dockerfile installs" in errors[0], errors


def test_a_local_run_names_a_requirement_this_environment_lacks(tmp_path, monkeypatch):
    root = _project(tmp_path, '["stepsmith-absent-library>=1"]',
                    handler="import stepsmith_absent_library\n\ndef handler(event, context):\n    return event\n")
    monkeypatch.chdir(root)
    result = CliRunner().invoke(main, ["run", "thumbs", "-q"], catch_exceptions=False)
    assert result.exit_code == 1
    note = "ThumbsResizeFunction requires stepsmith-absent-library>=1 (not installed) in "
    assert f"stepsmith: warning: {note}" in result.stderr                        # said at the cold start
    assert "Runtime.ImportModuleError" in result.stderr and "installs nothing: pip install -r " in result.stderr


def test_a_satisfied_requirement_runs_without_a_word(tmp_path, monkeypatch):
    root = _project(tmp_path, '["jinja2>=3.1"]')
    monkeypatch.chdir(root)
    result = CliRunner().invoke(main, ["run", "thumbs", "-q", "--input", '{"ok": true}'], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"ok": True}
    assert "warning" not in result.stderr
