"""The face-blur workflow end to end in the engine: compiled ASL, real handlers, local S3 + Rekognition.

Runs `stepsmith run face-blur --file CLIP --out-dir OUT` in a scratch project holding this flow's spec,
handlers and image, exactly as the README's main job does.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from face_blur.video import probe
from face_blur_checks import ROOT, assert_faces_blurred, blur_report, media

from engine.commands import run


def new_project(root: Path) -> Path:
    """A scratch project holding this flow's spec, handlers and image, with no local state yet."""
    (root / "workflows").mkdir(parents=True)
    shutil.copy(ROOT / "workflows" / "face-blur.yaml", root / "workflows")
    shutil.copytree(ROOT / "handlers" / "face_blur", root / "handlers" / "face_blur",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "images" / "face-blur", root / "images" / "face-blur")
    return root


# Each test runs in a project of its own (its local S3, executions and --out-dir), so none depends on
# what another ran before it: `--out-dir` copies only what a run changed, and an earlier run in a shared
# project would have written the very same output already.
@pytest.fixture
def project(tmp_path: Path) -> Path:
    return new_project(tmp_path / "project")


def stepsmith_run(project: Path, *args: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(project)
    monkeypatch.setenv("X264_PRESET", "ultrafast")
    return CliRunner().invoke(run, ["face-blur", *args], catch_exceptions=False)


@dataclass(frozen=True)
class FirstRun:
    """The sample clip run once through a fresh project (shared by the tests that only read what it left)."""

    project: Path
    result: Result


@pytest.fixture(scope="module")
def first_run(clip, tmp_path_factory: pytest.TempPathFactory) -> FirstRun:
    project = new_project(tmp_path_factory.mktemp("first") / "project")
    with pytest.MonkeyPatch.context() as monkeypatch:
        result = stepsmith_run(project, "--file", str(clip.path), "--out-dir", str(project / "out"),
                               "--name", "first", monkeypatch=monkeypatch)
    return FirstRun(project, result)


def history(project: Path, name: str) -> dict:
    return json.loads((project / ".stepsmith" / "executions" / f"{name}.json").read_text())


def test_uploaded_clip_comes_out_with_every_face_blurred(clip, ground_truth, first_run):
    project, result = first_run.project, first_run.result
    assert result.exit_code == 0, result.output
    output = json.loads(result.stdout[result.stdout.index("{"):])
    assert output["output"].endswith("/faces.mp4") and output["frames"] == 90 and output["face_tracks"] == 2
    target = project / "out" / "faces.mp4"
    assert assert_faces_blurred(clip.path, target, ground_truth) > 150
    out = probe(target)
    assert (out.width, out.height, out.fps, out.frames) == (320, 240, Fraction(30000, 1001), 90)
    assert out.audio_codecs == ("aac",)


def test_only_the_detections_location_travels_in_the_state(first_run):
    project = first_run.project
    assert first_run.result.exit_code == 0, first_run.result.output
    detections = list((project / "out" / "detections").glob("*.json"))
    assert len(detections) == 1 and len(json.loads(detections[0].read_text())["Faces"]) > 20
    # Every payload in the history (inputs, outputs, parameters): at most GetFaceDetection's one-face
    # status page (MaxResults 1) ever appears, never the list of detections.
    def face_lists(value):
        if isinstance(value, str) and value[:1] in "{[":
            try:
                value = json.loads(value)
            except ValueError:
                return
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "Faces":
                    yield item
                yield from face_lists(item)
        elif isinstance(value, list):
            for item in value:
                yield from face_lists(item)

    lists = list(face_lists(history(project, "first")))
    assert lists and max(len(faces) for faces in lists) <= 1


def test_a_duplicate_event_reuses_the_detection_job(clip, first_run, tmp_path, monkeypatch):
    assert first_run.result.exit_code == 0, first_run.result.output
    project = tmp_path / "project"  # a copy of the first run's project: its state stays the first run's
    shutil.copytree(first_run.project, project)
    result = stepsmith_run(project, "--file", str(clip.path), "--name", "again", monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output

    def job_id(name):
        for event in history(project, name)["events"]:
            details = event.get("taskSucceededEventDetails") or {}
            if "JobId" in str(details.get("output", "")) and "startFaceDetection" in details.get("resource", ""):
                return json.loads(details["output"])["JobId"]
        raise AssertionError("no StartFaceDetection result in the history")

    assert job_id("first") == job_id("again")


def test_a_corrupt_video_fails_the_execution_with_the_reason(project, tmp_path, monkeypatch):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"not really a video" * 300)
    result = stepsmith_run(project, "--file", str(broken), monkeypatch=monkeypatch)
    assert result.exit_code == 1
    assert "FaceDetectionFailed" in result.stderr and "Unsupported" in result.stderr


def test_throttling_is_retried_and_a_job_that_never_ends_times_out(project, clip, monkeypatch):
    from engine.aws import providers
    from engine.aws.providers import rekognition as local_rekognition

    real = local_rekognition.rekognition_for
    calls: list[str] = []

    def throttled_once(params, aws):
        calls.append(params["JobId"])
        if len(calls) == 1:
            raise providers.ServiceError("ThrottlingException", "Rate exceeded")
        return real(aws).get_face_detection(params)

    monkeypatch.setitem(providers._registry, ("rekognition", "GetFaceDetection"), throttled_once)
    result = stepsmith_run(project, "--file", str(clip.path), "--name", "throttled", monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    assert len(calls) >= 2
    failed = [e for e in history(project, "throttled")["events"] if e["type"] == "TaskFailed"]
    assert failed and "ThrottlingException" in json.dumps(failed[0])

    def never_done(params, aws):
        return {"JobStatus": "IN_PROGRESS", "JobId": params["JobId"]}

    monkeypatch.setitem(providers._registry, ("rekognition", "GetFaceDetection"), never_done)
    result = stepsmith_run(project, "--file", str(clip.path), "--name", "stuck", monkeypatch=monkeypatch)
    assert result.exit_code == 1
    assert "FaceDetectionTimedOut" in result.stderr


def test_a_video_without_faces_is_written_unchanged_in_content(project, tmp_path, monkeypatch):
    empty = tmp_path / "street.mp4"
    subprocess.run([media.ffmpeg(), "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(empty)], check=True)
    result = stepsmith_run(project, "--file", str(empty), "--out-dir", str(tmp_path / "out"), monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    output = json.loads(result.stdout[result.stdout.index("{"):])
    assert output["faces_detected"] == 0 and output["frames"] == 25
    out = probe(tmp_path / "out" / "street.mp4")
    assert (out.frames, out.fps, out.audio_codecs) == (25, 25, ())


def test_faces_crossing_the_edges_are_blurred_in_every_frame_they_show(project, tmp_path, monkeypatch):
    # The reported case: a face walks out on the right and back in; another crosses the left and top edges.
    clip = media.make_clip(tmp_path / "edges.mp4", 320, 240, 3.0, audio=False, scene="out-and-back")
    truth = json.loads(clip.path.with_suffix(".faces.json").read_text())
    result = stepsmith_run(project, "--file", str(clip.path), "--out-dir", str(tmp_path / "out"),
                           monkeypatch=monkeypatch)
    assert result.exit_code == 0, result.output
    report = blur_report(clip.path, tmp_path / "out" / "edges.mp4", truth)
    print(f"out-and-back end to end: {report.checked} face regions, longest unblurred run {report.longest_run}")
    assert report.longest_run == 0 and not report.readable, report.readable[:12]
    assert not report.damaged and report.checked > 100
