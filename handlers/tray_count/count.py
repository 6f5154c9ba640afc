"""Count the trays per bin in one packing-line video from its per-frame detections, and record the count.

Event: {"line": "3", "video": {"bucket", "key"}, "detections": {"bucket", "key"}}. The detections object
holds {"frames": [[{"box": [x0, y0, x1, y1], "score": s}, ...], ...], "fps": "15/1"}: one list per frame.

Environment: the counter's knobs MIN_CONFIDENCE, DROP_FRAMES, MIN_BIN_FRAMES (see counter.py);
EXPECTED_TRAYS_PER_BIN (0 or unset: no expectation); TRAY_COUNT_RESULTS_BUCKET and TRAY_COUNTS_TABLE.

Writes counts/line=<line>/<video key>.json to TRAY_COUNT_RESULTS_BUCKET and one item per video to TRAY_COUNTS_TABLE
(id "<line>#<video key>", so a re-run of the same video replaces its row rather than adding one).
Returns the counts and the bins off the expected count, for the workflow to alarm on.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from decimal import Decimal

import boto3

from tray_count.counter import count_trays

LINE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class BadEvent(ValueError):
    """The event or the detections object is not of the documented shape."""


def _knob(name: str, default: str, cast: type) -> int | float:
    raw = os.environ.get(name, default)
    try:
        return cast(raw)
    except ValueError:
        raise BadEvent(f"environment {name}={raw!r} is not a {cast.__name__}") from None


def _location(event: dict, field: str) -> tuple[str, str]:
    place = event.get(field)
    if not isinstance(place, dict) or not isinstance(place.get("bucket"), str) \
            or not isinstance(place.get("key"), str):
        raise BadEvent(f"event.{field} must be {{\"bucket\": ..., \"key\": ...}}")
    return place["bucket"], place["key"]


def handler(event: dict, context: object) -> dict:
    """Count one video's trays; write the result object and the table row; report bins off the expected."""
    line = event.get("line")
    if not isinstance(line, str) or not LINE_ID.match(line):
        raise BadEvent("event.line must be a line id: letters, digits, '_', '.', '-' (at most 64)")
    video_bucket, video_key = _location(event, "video")
    detections_bucket, detections_key = _location(event, "detections")
    s3 = boto3.client("s3")
    detections = json.loads(s3.get_object(Bucket=detections_bucket, Key=detections_key)["Body"].read())
    if not isinstance(detections, dict) or "frames" not in detections:
        raise BadEvent(f"s3://{detections_bucket}/{detections_key} has no \"frames\"")
    counts = count_trays(detections["frames"],
                         min_confidence=_knob("MIN_CONFIDENCE", "0.5", float),
                         drop_frames=_knob("DROP_FRAMES", "4", int),
                         min_bin_frames=_knob("MIN_BIN_FRAMES", "15", int))
    expected = _knob("EXPECTED_TRAYS_PER_BIN", "0", int)
    off = [{"bin": number, "trays": trays, "expected": expected}
           for number, trays in enumerate(counts["bins"], start=1) if expected and trays != expected]
    counted_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = {"line": line, "video": f"s3://{video_bucket}/{video_key}", "frames": len(detections["frames"]),
              "fps": detections.get("fps"), "bins": counts["bins"], "total": counts["total"],
              "expected_per_bin": expected or None, "off_bins": off, "counted_at": counted_at}
    results_bucket = os.environ["TRAY_COUNT_RESULTS_BUCKET"]
    result_key = f"counts/line={line}/{video_key}.json"
    s3.put_object(Bucket=results_bucket, Key=result_key, Body=json.dumps(result).encode(),
                  ContentType="application/json")
    boto3.resource("dynamodb").Table(os.environ["TRAY_COUNTS_TABLE"]).put_item(Item={
        "id": f"{line}#{video_key}", "line": line, "video": result["video"], "counted_at": counted_at,
        "bins": [Decimal(n) for n in counts["bins"]], "total": Decimal(counts["total"]),
        "off_bins": Decimal(len(off)),
    })
    return {"bins": counts["bins"], "total": counts["total"], "off_bins": off, "off_count": len(off),
            "result": {"bucket": results_bucket, "key": result_key}}
