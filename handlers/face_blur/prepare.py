"""First step: accept the uploaded video (or refuse it clearly) and derive the detection job's
idempotency token, so duplicate S3 events never start duplicate Rekognition jobs.

Event: EventBridge "Object Created" ({"detail": {"bucket": {"name"}, "object": {"key", ...}}}) or, for
a manual start, {"bucket": ..., "key": ...}. Environment: VIDEOS_OUT_BUCKET.
"""

from __future__ import annotations

import hashlib
import os

import boto3
from botocore.exceptions import ClientError

from face_blur.guard import refuse_recursion

VIDEO_SUFFIXES = (".mp4", ".mov")


class VideoNotFound(Exception):
    """The object named by the event does not exist (any more)."""


class NotAVideo(Exception):
    """The object is not an .mp4/.mov video."""


def request_token(bucket: str, key: str, version: str) -> str:
    """A ClientRequestToken (1-64 of [a-zA-Z0-9-_]) fixed by bucket, key and object version or ETag."""
    return hashlib.sha256(f"{bucket}\n{key}\n{version}".encode()).hexdigest()[:64]


def object_named_by(event: dict) -> tuple[str, str]:
    """(bucket, key) from an EventBridge S3 event or a plain {"bucket", "key"} input."""
    detail = event.get("detail")
    if isinstance(detail, dict) and "bucket" in detail:
        return detail["bucket"]["name"], detail["object"]["key"]
    if "bucket" in event and "key" in event:
        return event["bucket"], event["key"]
    raise ValueError('expected an S3 "Object Created" event or {"bucket": ..., "key": ...}')


def handler(event: dict, context: object) -> dict:
    """Check the upload and return {bucket, key, version, etag, size, s3_object, token} for the next steps."""
    bucket, key = object_named_by(event)
    if not key.lower().endswith(VIDEO_SUFFIXES):
        raise NotAVideo(f"s3://{bucket}/{key} is not an .mp4 or .mov video")
    refuse_recursion(bucket, os.environ["VIDEOS_OUT_BUCKET"])
    try:
        head = boto3.client("s3").head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            raise VideoNotFound(f"s3://{bucket}/{key} does not exist (deleted before processing?)") from None
        raise
    refuse_recursion(bucket, os.environ["VIDEOS_OUT_BUCKET"], key, head.get("Metadata"))
    etag = head.get("ETag", "").strip('"')
    version = head.get("VersionId") or ""
    if version == "null":  # an object written before versioning was enabled
        version = ""
    # Rekognition's S3Object, pinned to this upload when the bucket is versioned, so a newer upload
    # under the same key cannot swap the video between detection and blur.
    s3_object = {"Bucket": bucket, "Name": key, **({"Version": version} if version else {})}
    # The version id names one upload exactly; unversioned buckets fall back to the content's ETag.
    return {"bucket": bucket, "key": key, "version": version, "etag": etag,
            "size": head.get("ContentLength", 0), "s3_object": s3_object,
            "token": request_token(bucket, key, version or etag)}
