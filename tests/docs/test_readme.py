"""Every shell block of the README runs as written on a fresh clone, or says why it cannot here.

A block is skipped only with `<!-- readme-test: skip (reason) -->` on the line before it. The others run
with `bash -e -o pipefail` in a fresh copy of the checkout (the files a clone would have), which shares
this checkout's virtual environment (`make setup` has nothing to do there) and has its `bin/` on PATH,
as after `source .venv/bin/activate`.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
VENV = REPO / ".venv"
_BLOCK = re.compile(r"(?:<!-- readme-test: skip \((?P<reason>[^)]+)\) -->\n)?^```(?P<lang>sh|bash|shell)\n"
                    r"(?P<body>.*?)^```", re.DOTALL | re.MULTILINE)


def shell_blocks() -> list[tuple[int, str | None, str]]:
    """(line, skip reason or None, text) of each shell block."""
    text = README.read_text(encoding="utf-8")
    return [(text.count("\n", 0, found.start("body")) + 1, found.group("reason"), found.group("body"))
            for found in _BLOCK.finditer(text)]


RUNNABLE = [(line, body) for line, reason, body in shell_blocks() if reason is None]


def test_every_shell_block_runs_or_says_why_not():
    blocks = shell_blocks()
    fenced = len(re.findall(r"^```(?:sh|bash|shell)\n", README.read_text(encoding="utf-8"), re.MULTILINE))
    assert len(blocks) == fenced      # none escapes the parser (and so this test)
    assert len(RUNNABLE) >= 2          # the tour and the local face blur at least


def _fresh_clone(target: Path) -> None:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO,
                            capture_output=True, check=False)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: cannot tell which files a clone has")
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to(VENV)
    # `make setup` must find the environment current, never reinstall it from the copy.
    installed = (VENV / ".installed").stat().st_mtime
    os.utime(target / "pyproject.toml", (installed - 1, installed - 1))


@pytest.mark.parametrize("line, body", RUNNABLE, ids=[f"README.md:{line}" for line, _ in RUNNABLE])
def test_readme_block_runs_as_written_on_a_fresh_clone(line: int, body: str, tmp_path: Path):
    if not (VENV / ".installed").is_file():
        pytest.skip("needs this checkout's .venv (make setup)")
    if shutil.which("make") is None:
        pytest.skip("needs make")
    clone = tmp_path / "clone"
    _fresh_clone(clone)
    environment = {**os.environ, "PATH": f"{VENV / 'bin'}{os.pathsep}{os.environ['PATH']}",
                   "VIRTUAL_ENV": str(VENV)}
    environment.pop("PYTHONPATH", None)
    try:
        done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", body], cwd=clone, env=environment,
                              capture_output=True, text=True, timeout=1200, check=False)
    finally:
        # A block's local SageMaker endpoints outlive it, as endpoints do; their model servers stop when
        # their folders go, so none outlives the test.
        shutil.rmtree(clone / ".stepsmith" / "sagemaker", ignore_errors=True)
    assert done.returncode == 0, f"README.md:{line} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
