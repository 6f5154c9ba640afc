"""Collect every page of a finished face-detection job into ONE detections object in S3.

Only that object's location travels on in the execution's state: a long video's detections would
overflow Step Functions' 256 KiB payload limit.

Event: {"JobId": ..., "video": {"bucket", "key", "token"}}. Environment: WORK_BUCKET.
"""

from __future__ import annotations

import json
import os

import boto3


class FaceDetectionIncomplete(Exception):
    """The detection job has not succeeded, so there are no complete results to collect."""


def all_faces(rekognition: object, job_id: str, page_size: int = 1000) -> dict:
    """GetFaceDetection followed through every NextToken: the first page's fields with all Faces."""
    response = rekognition.get_face_detection(JobId=job_id, MaxResults=page_size)
    if response.get("JobStatus") != "SUCCEEDED":
        raise FaceDetectionIncomplete(
            f"face detection job {job_id} is {response.get('JobStatus')}: {response.get('StatusMessage', '')}")
    result = {k: v for k, v in response.items() if k not in ("NextToken", "ResponseMetadata")}
    faces = list(response.get("Faces", []))
    while response.get("NextToken"):
        response = rekognition.get_face_detection(JobId=job_id, MaxResults=page_size,
                                                  NextToken=response["NextToken"])
        faces.extend(response.get("Faces", []))
    result["Faces"] = faces
    return result


def handler(event: dict, context: object) -> dict:
    """Write detections/<token>.json to the work bucket; return its location and a summary."""
    detections = all_faces(boto3.client("rekognition"), event["JobId"])
    video = event["video"]
    detections["Source"] = {"Bucket": video["bucket"], "Key": video["key"]}
    bucket = os.environ["WORK_BUCKET"]
    key = f"detections/{video['token']}.json"
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=json.dumps(detections).encode(),
                                  ContentType="application/json")
    meta = detections.get("VideoMetadata", {})
    return {"bucket": bucket, "key": key, "faces": len(detections["Faces"]),
            "duration_ms": meta.get("DurationMillis"), "frame_rate": meta.get("FrameRate")}
