"""Plan a day: find its reviews, check each, and write what the rest of the run reads from S3.

Input: {"input": <the execution input>, "execution": name}. The execution input is {"date": "YYYY-MM-DD"}
(a manual run or backfill) or {"scheduled": "<ISO time>"} (the daily schedule: the day before it).

Reads reviews/dt=<date>/*.json in REVIEW_UPLOADS_BUCKET (one per review: review_id, type, user_id,
images: keys under the same date prefix). Writes to REVIEW_PREDICTIONS_BUCKET, under
runs/dt=<date>/<execution>/: `transform.manifest` (the batch transform's ManifestFile of every good photo)
and `reviews.jsonl` (one line per review for the map; a bad review carries its `error`). Returns only
those locations and counts, so the state stays small whatever the day's size.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor

import boto3

from review_inspection.rules import CreditRules

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_REVIEW_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_EXECUTION = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
# The first bytes of the formats the classifier reads (application/x-image: JPEG or PNG).
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")
_READERS = 16


class InvalidInput(Exception):
    """The execution input names no valid day (the workflow fails with BadInput and this text)."""


def day_of(event: object) -> str:
    """The day to inspect: `date` as given, or the day before `scheduled`."""
    if not isinstance(event, dict):
        raise InvalidInput("the input must be a JSON object: {\"date\": \"YYYY-MM-DD\"}")
    if "date" in event:
        date = event["date"]
        if not isinstance(date, str) or not _DATE.match(date):
            raise InvalidInput(f"date must be YYYY-MM-DD, not {str(date)[:40]!r}")
        try:
            dt.date.fromisoformat(date)
        except ValueError:
            raise InvalidInput(f"date {date!r} is not a day of the calendar") from None
        return date
    if "scheduled" in event:
        try:
            fired = dt.datetime.fromisoformat(str(event["scheduled"]))   # Python 3.11 reads "Z"
        except ValueError:
            raise InvalidInput(f"scheduled must be an ISO 8601 time, not {str(event['scheduled'])[:40]!r}") from None
        return (fired.date() - dt.timedelta(days=1)).isoformat()
    raise InvalidInput("give the day to inspect: {\"date\": \"YYYY-MM-DD\"} (the schedule gives {\"scheduled\": …})")


def check_review(document: object, prefix: str, objects: set[str], rules: CreditRules) -> dict:
    """One review as the map sees it: id, type, user, photo keys; `error` when it cannot be inspected."""
    if not isinstance(document, dict):
        return {"error": "the metadata is not a JSON object"}
    review = {"review_id": document.get("review_id"), "type": document.get("type"),
              "user_id": document.get("user_id"), "photos": document.get("images")}
    if not isinstance(review["review_id"], str) or not _REVIEW_ID.match(review["review_id"]):
        return {**review, "review_id": None, "error": "review_id is missing or not letters, digits, . _ -"}
    if not rules.knows(review["type"]):
        return {**review, "error": f"unknown review type {str(review['type'])[:40]!r} (known: {', '.join(rules.types)})"}
    photos = review["photos"]
    if not isinstance(photos, list) or not photos or not all(isinstance(key, str) for key in photos):
        return {**review, "error": "images must be a non-empty list of S3 keys"}
    for key in photos:
        if not key.startswith(prefix) or "/../" in f"/{key}/" or key.endswith(".json"):
            return {**review, "error": f"image {key[:200]!r} is not a photo under {prefix}"}
        if key not in objects:
            return {**review, "error": f"image {key} is missing"}
    return review


def _readable(s3, bucket: str, key: str) -> bool:
    head = s3.get_object(Bucket=bucket, Key=key, Range="bytes=0-15")["Body"].read()
    return head.startswith(_SIGNATURES)


def handler(event, context):
    date = day_of(event.get("input"))
    execution = str(event.get("execution", ""))
    if not _EXECUTION.match(execution):
        raise InvalidInput(f"execution name {execution[:80]!r} cannot name a folder")
    rules = CreditRules.from_environment()
    uploads = os.environ["REVIEW_UPLOADS_BUCKET"]
    work = os.environ["REVIEW_PREDICTIONS_BUCKET"]
    s3 = boto3.client("s3")
    prefix = f"reviews/dt={date}/"
    objects: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=uploads, Prefix=prefix):
        objects.update(item["Key"] for item in page.get("Contents", []))
    metadata = sorted(key for key in objects if key.endswith(".json"))

    def load(key: str) -> dict:
        try:
            document = json.loads(s3.get_object(Bucket=uploads, Key=key)["Body"].read())
        except ValueError:
            return {"metadata": key, "review_id": None, "error": "the metadata is not JSON"}
        return {"metadata": key, **check_review(document, prefix, objects, rules)}

    with ThreadPoolExecutor(_READERS) as pool:
        reviews = list(pool.map(load, metadata))
        seen: set[str] = set()
        for review in reviews:
            if review.get("error") is None and review["review_id"] in seen:
                review["error"] = f"review_id {review['review_id']} is used by another review of the day"
            seen.add(review.get("review_id") or "")
        photos = sorted({key for review in reviews if review.get("error") is None for key in review["photos"]})
        readable = dict(zip(photos, pool.map(lambda key: _readable(s3, uploads, key), photos), strict=True))
    for review in reviews:
        if review.get("error") is None:
            bad = [key for key in review["photos"] if not readable[key]]
            if bad:
                review["error"] = f"image {bad[0]} is not a JPEG or PNG photo"
        if review.get("review_id") is None:   # still gets a row, under the name of its metadata object
            review["review_id"] = "unnamed:" + review["metadata"].removeprefix(prefix)
    good = sorted({key for review in reviews if review.get("error") is None for key in review["photos"]})
    run = f"runs/dt={date}/{execution}"
    manifest = [{"prefix": f"s3://{uploads}/{prefix}"}, *[key.removeprefix(prefix) for key in good]]
    s3.put_object(Bucket=work, Key=f"{run}/transform.manifest", Body=json.dumps(manifest).encode(),
                  ContentType="application/json")
    lines = "".join(json.dumps({**review, "date": date}, separators=(",", ":")) + "\n" for review in reviews)
    s3.put_object(Bucket=work, Key=f"{run}/reviews.jsonl", Body=lines.encode(), ContentType="application/jsonl")
    bad = sum(review.get("error") is not None for review in reviews)
    return {
        "date": date, "photos": len(good), "uploads": uploads,
        "transform_manifest": f"s3://{work}/{run}/transform.manifest",
        "predictions": f"s3://{work}/{run}/predictions/",
        "reviews_key": f"{run}/reviews.jsonl",
        "counts": {"reviews": len(reviews), "bad": bad},
    }

