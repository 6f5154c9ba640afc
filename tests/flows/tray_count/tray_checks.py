"""Helpers for the tray-count flow tests."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def load_packing_line():
    """bench/packing_line.py as a module (bench/ is no package, and its tray_count.py would shadow the handlers')."""
    if "bench_packing_line" not in sys.modules:
        spec = importlib.util.spec_from_file_location("bench_packing_line", ROOT / "bench" / "packing_line.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_packing_line"] = module
        spec.loader.exec_module(module)
    return sys.modules["bench_packing_line"]


# What the tray-count tests' detector is trained on and with: enough to count a generated line exactly,
# small enough to train in a couple of CPU minutes.
DETECTOR_LINES = ("1", "2", "3", "4", "5", "6", "7", "8")
DETECTOR_FRAMES = 60
DETECTOR_SETTINGS = "DetectorEpochs=20 DetectorImageSize=128 MinTestMap=0.9"


def training_project(root: Path) -> Path:
    """A scratch project holding the training flow's spec, the tray handlers and the detector image."""
    (root / "workflows").mkdir(parents=True)
    shutil.copy(ROOT / "workflows" / "tray-detector-training.yaml", root / "workflows")
    shutil.copytree(ROOT / "handlers" / "tray_count", root / "handlers" / "tray_count",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (root / "images").mkdir()
    (root / "images" / "tray-detector").symlink_to(ROOT / "images" / "tray-detector")
    return root


def invoke(command, *args: str):
    from click.testing import CliRunner

    return CliRunner().invoke(command, list(args), catch_exceptions=False)


def upload_labelled_frames(project: Path, data: Path, lines: dict[str, int], frames: int) -> Path:
    """Labelled stills of `lines` (id → seed) in the project's tray-datasets bucket; returns the manifest."""
    from engine.s3_commands import s3

    bucket = next(name for name in invoke(s3, "ls").stdout.split() if name.endswith("traydatasetsbucket"))
    manifest = load_packing_line().labelled_frames(data, lines, frames_per_line=frames, bucket=bucket, prefix="")
    assert invoke(s3, "cp", "--recursive", "--quiet", str(data / "images"), f"s3://{bucket}/images/").exit_code == 0
    return manifest


def trained_detector(scratch: Path) -> Path:
    """model.tar.gz of a tray detector the training flow trained on generated frames (DETECTOR_*).

    Trained once per version of the code that makes it (trainer, generator, bundler, spec) and kept in
    Stepsmith's cache, as image environments are: a couple of CPU minutes the first time, nothing later."""
    from engine.aws.providers.sagemaker_images import cache_root
    from engine.commands import run

    digest = hashlib.sha256(DETECTOR_SETTINGS.encode() + f"{DETECTOR_LINES}{DETECTOR_FRAMES}".encode())
    for path in ("images/tray-detector/code/train.py", "bench/packing_line.py", "handlers/tray_count/bundle.py",
                 "workflows/tray-detector-training.yaml"):
        digest.update((ROOT / path).read_bytes())
    cached = cache_root() / "test-models" / f"tray-detector-{digest.hexdigest()[:16]}.tar.gz"
    if cached.exists():
        return cached
    project = training_project(scratch / "project")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(project)
        manifest = upload_labelled_frames(project, scratch / "data",
                                          {line: 1000 + n for n, line in enumerate(DETECTOR_LINES)}, DETECTOR_FRAMES)
        result = invoke(run, "tray-detector-training", "--file", str(manifest), "--key", "manifests/output.manifest",
                        "--name", "detector", "--parameter-overrides", DETECTOR_SETTINGS)
    try:
        assert result.exit_code == 0, result.output
        history = json.loads((project / ".stepsmith" / "executions" / "detector.json").read_text())
        model = re.match(r"s3://([^/]+)/(.+)$", json.loads(history["output"])["model_data"])
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".partial")
        shutil.copyfile(project / ".stepsmith" / "s3" / model.group(1) / model.group(2), partial)
        partial.rename(cached)
    finally:
        shutil.rmtree(project / ".stepsmith" / "sagemaker", ignore_errors=True)   # its endpoint's server stops
    return cached
