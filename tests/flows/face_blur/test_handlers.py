"""The face-blur handlers as Lambda runs them: plain boto3 against (moto's) S3, Rekognition via the provider."""

from __future__ import annotations

import json
import threading
from types import SimpleNamespace

import boto3
import pytest
from face_blur import blur, collect, prepare
from face_blur.guard import MARKER_KEY, RecursionRefused
from moto import mock_aws

from engine.aws.providers import ServiceError
from engine.aws.providers import rekognition as local_rekognition


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("VIDEOS_OUT_BUCKET", "videos-out")
    monkeypatch.setenv("WORK_BUCKET", "work")
    monkeypatch.setenv("X264_PRESET", "ultrafast")
    with mock_aws():
        client = boto3.client("s3")
        for bucket in ("videos-in", "videos-out", "work"):
            client.create_bucket(Bucket=bucket)
        yield client


def s3_event(bucket: str, key: str) -> dict:
    return {"version": "0", "source": "aws.s3", "detail-type": "Object Created",
            "detail": {"bucket": {"name": bucket}, "object": {"key": key, "size": 1}}}


class FakeRekognition:
    """A boto3-shaped client answering from the local provider (as LocalAWS would route it)."""

    def __init__(self, service: local_rekognition.LocalRekognition) -> None:
        self.service = service
        self.calls = 0

    def get_face_detection(self, **params):
        self.calls += 1
        return self.service.get_face_detection(params)


# -- prepare: idempotency token, recursion guard, clear refusals ------------------------------------

def test_token_is_deterministic_valid_and_tied_to_the_object_version(s3):
    s3.put_object(Bucket="videos-in", Key="a b/Clip.MP4", Body=b"v1")
    first = prepare.handler(s3_event("videos-in", "a b/Clip.MP4"), None)
    again = prepare.handler(s3_event("videos-in", "a b/Clip.MP4"), None)  # a duplicate event
    assert first["token"] == again["token"]
    assert len(first["token"]) == 64 and first["token"].isalnum()
    s3.put_object(Bucket="videos-in", Key="a b/Clip.MP4", Body=b"v2")  # a new upload under the same key
    assert prepare.handler(s3_event("videos-in", "a b/Clip.MP4"), None)["token"] != first["token"]
    assert prepare.request_token("b", "k", "1") != prepare.request_token("b", "k", "2")


def test_manual_input_is_accepted_too(s3):
    s3.put_object(Bucket="videos-in", Key="x.mov", Body=b"v")
    assert prepare.handler({"bucket": "videos-in", "key": "x.mov"}, None)["key"] == "x.mov"


def test_output_bucket_as_input_is_refused(s3):
    s3.put_object(Bucket="videos-out", Key="x.mp4", Body=b"v")
    with pytest.raises(RecursionRefused, match="also the output bucket"):
        prepare.handler(s3_event("videos-out", "x.mp4"), None)


def test_our_own_output_copied_back_is_refused(s3):
    s3.put_object(Bucket="videos-in", Key="x.mp4", Body=b"v", Metadata={MARKER_KEY: "anonymised"})
    with pytest.raises(RecursionRefused, match="already an anonymised output"):
        prepare.handler(s3_event("videos-in", "x.mp4"), None)


def test_missing_object_and_non_video_are_refused_clearly(s3):
    with pytest.raises(prepare.VideoNotFound, match="s3://videos-in/gone.mp4 does not exist"):
        prepare.handler(s3_event("videos-in", "gone.mp4"), None)
    with pytest.raises(prepare.NotAVideo, match="not an .mp4 or .mov"):
        prepare.handler(s3_event("videos-in", "notes.txt"), None)


# -- the local Rekognition provider ----------------------------------------------------------------

@pytest.fixture
def rekognition(s3):
    return local_rekognition.rekognition_for(SimpleNamespace(store={}))


def start(service, key="faces.mp4", token=None):
    params = {"Video": {"S3Object": {"Bucket": "videos-in", "Name": key}}}
    if token:
        params["ClientRequestToken"] = token
    return service.start_face_detection(params)["JobId"]


def test_detects_the_known_faces_every_200_ms_like_the_service(s3, rekognition, clip, ground_truth):
    s3.upload_file(str(clip.path), "videos-in", "faces.mp4")
    answer = rekognition.get_face_detection({"JobId": start(rekognition)})
    assert answer["JobStatus"] == "SUCCEEDED"
    meta = answer["VideoMetadata"]
    assert meta["Codec"] == "h264" and meta["FrameWidth"] == 320 and meta["FrameHeight"] == 240
    assert meta["FrameRate"] == pytest.approx(30000 / 1001) and meta["DurationMillis"] == 3003
    stamps = sorted({f["Timestamp"] for f in answer["Faces"]})
    # Sampled on a 200 ms grid: each timestamp is the first frame at or after a multiple of 200 ms.
    assert len(stamps) >= 12 and all(s % 200 < 1001 / 30 for s in stamps)
    # Each reported box lies on a true face (centre inside its ground-truth box) at that moment.
    for face in answer["Faces"]:
        box = face["Face"]["BoundingBox"]
        cx, cy = (box["Left"] + box["Width"] / 2) * 320, (box["Top"] + box["Height"] / 2) * 240
        frame = round(face["Timestamp"] * 30 / 1001)
        assert any(t["box"][0] <= cx <= t["box"][2] and t["box"][1] <= cy <= t["box"][3]
                   for t in ground_truth["faces"][frame]), face
        assert 0 < face["Face"]["Confidence"] <= 100
    # Both faces are found in most samples where they are wholly in the frame.
    assert len(answer["Faces"]) >= 0.8 * 2 * len(stamps) * 0.7


def test_paging_returns_every_face_once(s3, rekognition, clip):
    s3.upload_file(str(clip.path), "videos-in", "faces.mp4")
    job = start(rekognition)
    everything = rekognition.get_face_detection({"JobId": job})["Faces"]
    client = FakeRekognition(rekognition)
    collected = collect.all_faces(client, job, page_size=4)
    assert collected["Faces"] == everything and collected["JobStatus"] == "SUCCEEDED"
    assert client.calls == -(-len(everything) // 4)
    with pytest.raises(ServiceError, match="InvalidPaginationTokenException"):
        rekognition.get_face_detection({"JobId": job, "NextToken": "bm9wZTo0"})


def test_same_token_same_job_and_a_reused_token_with_other_video_is_refused(s3, rekognition, clip):
    s3.upload_file(str(clip.path), "videos-in", "faces.mp4")
    s3.upload_file(str(clip.path), "videos-in", "other.mp4")
    assert start(rekognition, token="tok-1") == start(rekognition, token="tok-1")
    assert start(rekognition, token="tok-2") != start(rekognition, token="tok-1")
    with pytest.raises(ServiceError, match="IdempotentParameterMismatchException"):
        start(rekognition, key="other.mp4", token="tok-1")
    with pytest.raises(ServiceError, match="InvalidParameterException"):
        start(rekognition, token="not a valid token!")


def test_missing_object_and_unknown_job_are_service_errors(rekognition):
    with pytest.raises(ServiceError, match="InvalidS3ObjectException"):
        start(rekognition, key="gone.mp4")
    with pytest.raises(ServiceError, match="ResourceNotFoundException"):
        rekognition.get_face_detection({"JobId": "0" * 64})


def test_corrupt_video_fails_the_job_with_a_status_message(s3, rekognition):
    s3.put_object(Bucket="videos-in", Key="broken.mp4", Body=b"\x00\x00\x00\x18ftypmp42" + b"junk" * 500)
    answer = rekognition.get_face_detection({"JobId": start(rekognition, key="broken.mp4")})
    assert answer["JobStatus"] == "FAILED" and "Unsupported" in answer["StatusMessage"]
    with pytest.raises(collect.FaceDetectionIncomplete, match="FAILED"):
        collect.all_faces(FakeRekognition(rekognition), answer["JobId"])


def test_job_is_in_progress_until_the_analysis_ends(s3, rekognition, monkeypatch):
    release = threading.Event()

    def slow_analysis(path):
        release.wait(10)
        return {"Codec": "h264"}, []

    monkeypatch.setattr(local_rekognition, "analyse_video", slow_analysis)
    monkeypatch.setattr(rekognition, "answer_wait_s", 0.0)
    s3.put_object(Bucket="videos-in", Key="x.mp4", Body=b"x")
    job = start(rekognition, key="x.mp4")
    assert rekognition.get_face_detection({"JobId": job}) == {
        "JobStatus": "IN_PROGRESS", "JobId": job, "Video": {"S3Object": {"Bucket": "videos-in", "Name": "x.mp4"}}}
    release.set()
    rekognition.jobs[job].done.wait(5)
    assert rekognition.get_face_detection({"JobId": job})["JobStatus"] == "SUCCEEDED"


# -- collect + blur: detections through S3, output under the same key, source untouched ------------

def test_collect_then_blur_writes_the_anonymised_video_under_the_same_key(s3, rekognition, clip, monkeypatch):
    s3.upload_file(str(clip.path), "videos-in", "trip/Faces.MP4")
    source_etag = s3.head_object(Bucket="videos-in", Key="trip/Faces.MP4")["ETag"]
    video = prepare.handler(s3_event("videos-in", "trip/Faces.MP4"), None)
    job = rekognition.start_face_detection(
        {"Video": {"S3Object": {"Bucket": "videos-in", "Name": video["key"]}}, "ClientRequestToken": video["token"]})
    real_client = boto3.client
    monkeypatch.setattr(collect.boto3, "client", lambda name: FakeRekognition(rekognition) if name == "rekognition"
                        else real_client(name))
    detections = collect.handler({"JobId": job["JobId"], "video": video}, None)
    stored = json.loads(s3.get_object(Bucket="work", Key=detections["key"])["Body"].read())
    assert detections["faces"] == len(stored["Faces"]) > 20 and "VideoMetadata" in stored

    result = blur.handler({"video": video, "detections": detections}, None)
    assert result["bucket"] == "videos-out" and result["key"] == "trip/Faces.MP4" and result["frames"] == 90
    head = s3.head_object(Bucket="videos-out", Key="trip/Faces.MP4")
    assert head["Metadata"][MARKER_KEY] == "anonymised" and head["ContentType"] == "video/mp4"
    assert s3.head_object(Bucket="videos-in", Key="trip/Faces.MP4")["ETag"] == source_etag


def test_blur_refuses_to_write_into_the_bucket_it_reads(s3, monkeypatch):
    monkeypatch.setenv("VIDEOS_OUT_BUCKET", "videos-in")
    with pytest.raises(RecursionRefused):
        blur.handler({"video": {"bucket": "videos-in", "key": "x.mp4"},
                      "detections": {"bucket": "work", "key": "d.json"}}, None)


def test_versioned_upload_is_pinned_from_detection_to_blur(s3, rekognition, clip, monkeypatch):
    s3.put_bucket_versioning(Bucket="videos-in", VersioningConfiguration={"Status": "Enabled"})
    s3.upload_file(str(clip.path), "videos-in", "v.mp4")
    video = prepare.handler(s3_event("videos-in", "v.mp4"), None)
    assert video["s3_object"] == {"Bucket": "videos-in", "Name": "v.mp4", "Version": video["version"]}
    s3.put_object(Bucket="videos-in", Key="v.mp4", Body=b"a newer upload, not a video")  # replaces "latest"
    job = rekognition.start_face_detection({"Video": {"S3Object": video["s3_object"]}})["JobId"]
    assert rekognition.get_face_detection({"JobId": job})["JobStatus"] == "SUCCEEDED"
    s3.put_object(Bucket="work", Key="d.json", Body=b'{"Faces": []}')
    result = blur.handler({"video": video, "detections": {"bucket": "work", "key": "d.json"}}, None)
    assert result["frames"] == 90
