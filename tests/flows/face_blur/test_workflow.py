"""The face-blur workflow end to end in the engine: compiled ASL, real handlers, local S3 + Rekognition.

Runs `stepsmith run face-blur --file CLIP --out-dir OUT` in a scratch project holding this flow's spec,
handlers and image, exactly as the README's main job does.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner
from face_blur.video import probe
from face_blur_checks import ROOT, assert_faces_blurred, media

from engine.commands import run


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    (root / "workflows").mkdir()
    shutil.copy(ROOT / "workflows" / "face-blur.yaml", root / "workflows")
    shutil.copytree(ROOT / "handlers" / "face_blur", root / "handlers" / "face_blur",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "images" / "face-blur", root / "images" / "face-blur")
    return root


def stepsmith_run(project: Path, *args: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(project)
    monkeypatch.setenv("X264_PRESET", "ultrafast")
    return CliRunner().invoke(run, ["face-blur", *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def first_run(project, clip):
    with pytest.MonkeyPatch.context() as monkeypatch:
        result = stepsmith_run(project, "--file", str(clip.path), "--out-dir", str(project / "out"),
                               "--name", "first", monkeypatch=monkeypatch)
    return result


def history(project: Path, name: str) -> dict:
    return json.loads((project / ".stepsmith" / "executions" / f"{name}.json").read_text())


def test_uploaded_clip_comes_out_with_every_face_blurred(project, clip, ground_truth, first_run):
    assert first_run.exit_code == 0, first_run.output
    output = json.loads(first_run.stdout[first_run.stdout.index("{"):])
    assert output["output"].endswith("/faces.mp4") and output["frames"] == 90 and output["face_tracks"] == 2
    target = project / "out" / "faces.mp4"
    assert assert_faces_blurred(clip.path, target, ground_truth) > 150
    out = probe(target)
    assert (out.width, out.height, out.fps, out.frames) == (320, 240, Fraction(30000, 1001), 90)
    assert out.audio_codecs == ("aac",)


def test_only_the_detections_location_travels_in_the_state(project, first_run):
    assert first_run.exit_code == 0, first_run.output
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


def test_a_duplicate_event_reuses_the_detection_job(project, clip, first_run, monkeypatch):
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
