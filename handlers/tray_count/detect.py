"""Detect the trays in every frame of a packing-line video with the tray detector's SageMaker endpoint.

Event: an S3 Object Created event (EventBridge) or {"bucket", "key"}. The video's packing line is named in
its key: a `line=<id>/` folder, or a folder or file name `line-<id>` (`line-3.mp4`, `line-3/clip.mp4`).

Environment: DETECTOR_ENDPOINT (the endpoint serving images/tray-detector), TRAY_DETECTIONS_BUCKET, SCORE_THRESHOLD
(default 0.2: what the endpoint returns; the counter applies its own, higher, MIN_CONFIDENCE),
CONCURRENT_REQUESTS (default 4: frames in flight to the endpoint at once).

Writes detections/<video key>.json to TRAY_DETECTIONS_BUCKET: {"frames": [[{"box": [x0, y0, x1, y1], "score": s}]],
"fps", "width", "height"} with boxes in pixels; only that location travels on in the state.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import av
import boto3
import cv2

LINE_IN_KEY = re.compile(r"(?:^|/)line(?:=|-)([A-Za-z0-9][A-Za-z0-9_.]{0,63})(?:/|\.[A-Za-z0-9]+$|-)")


class BadVideo(ValueError):
    """The event names no video we can read, or its key names no packing line."""


def line_of(key: str) -> str:
    """The packing line a video's key names (`line=3/…`, `line-3/…`, `…/line-3.mp4`)."""
    match = LINE_IN_KEY.search(key)
    if not match:
        raise BadVideo(f"cannot tell the packing line of {key!r}: put it under line=<id>/ or name it line-<id>.mp4")
    return match.group(1)


def video_of(event: dict) -> tuple[str, str]:
    detail = event.get("detail", event)
    bucket = detail.get("bucket")
    bucket = bucket.get("name") if isinstance(bucket, dict) else bucket
    key = detail.get("object", {}).get("key") if isinstance(detail.get("object"), dict) else detail.get("key")
    if not isinstance(bucket, str) or not isinstance(key, str):
        raise BadVideo("event needs the video's bucket and key (an S3 Object Created event or {bucket, key})")
    return bucket, key


def open_video(path: Path) -> av.container.InputContainer:
    try:
        container = av.open(str(path))
    except av.error.InvalidDataError:
        raise BadVideo("the object is not a video") from None
    if not container.streams.video:
        container.close()
        raise BadVideo("the object has no video stream")
    return container


def jpegs(container: av.container.InputContainer) -> Iterator[bytes]:
    """Every frame, in display order, as the JPEG the endpoint is sent."""
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    for frame in container.decode(stream):
        yield cv2.imencode(".jpg", frame.to_ndarray(format="bgr24"), [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()


def detect(runtime, endpoint: str, jpeg: bytes, width: int, height: int, threshold: float) -> list[dict]:
    response = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="image/jpeg", Body=jpeg,
                                       Accept=f"application/json;score_threshold={threshold}")
    prediction = json.loads(response["Body"].read())["prediction"]
    return [{"box": [round(x0 * width, 1), round(y0 * height, 1), round(x1 * width, 1), round(y1 * height, 1)],
             "score": score} for _cls, score, x0, y0, x1, y1 in prediction if x1 > x0 and y1 > y0]


def handler(event: dict, context: object) -> dict:
    """Detections for every frame of the video, written to the work bucket; returns where, and the line."""
    bucket, key = video_of(event)
    line = line_of(key)
    endpoint = os.environ["DETECTOR_ENDPOINT"]
    threshold = float(os.environ.get("SCORE_THRESHOLD", "0.2"))
    s3 = boto3.client("s3")
    runtime = boto3.client("sagemaker-runtime")
    in_flight = int(os.environ.get("CONCURRENT_REQUESTS", "4"))
    frames: list[list[dict]] = []
    with tempfile.TemporaryDirectory() as folder:
        local = Path(folder) / "video"
        s3.download_file(bucket, key, str(local))
        with open_video(local) as container, ThreadPoolExecutor(in_flight) as pool:
            stream = container.streams.video[0]
            fps = stream.average_rate or Fraction(30)
            width, height = stream.codec_context.width, stream.codec_context.height
            pending: deque = deque()  # frames sent and not yet answered, oldest first: at most 2 × in_flight
            for jpeg in jpegs(container):
                pending.append(pool.submit(detect, runtime, endpoint, jpeg, width, height, threshold))
                if len(pending) >= 2 * in_flight:
                    frames.append(pending.popleft().result())
            frames.extend(future.result() for future in pending)
    work = os.environ["TRAY_DETECTIONS_BUCKET"]
    detections_key = f"detections/{key}.json"
    s3.put_object(Bucket=work, Key=detections_key, ContentType="application/json", Body=json.dumps(
        {"frames": frames, "fps": f"{fps.numerator}/{fps.denominator}", "width": width, "height": height}).encode())
    return {"line": line, "video": {"bucket": bucket, "key": key},
            "detections": {"bucket": work, "key": detections_key}, "frames": len(frames)}
