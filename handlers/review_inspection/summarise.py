"""Summarise a day: add up every batch's counts, write the summary and people's labels.

Input: {"date", "planned": plan.py's counts, "results": the map's ResultWriterDetails ({Bucket, Key} of
its manifest.json), "transform": the transform step's result (or its error), "package"}.

Writes REVIEW_RESULTS_BUCKET summaries/dt=<date>.json, and — when people classed photos — the day's
Ground Truth manifest DATASETS_BUCKET manifests/human-review-<date>.manifest (lines of an earlier run of
the same day kept, one per photo), which starts retrain-and-promote. Returns the summary's counts.
"""
from __future__ import annotations

import json
import os

import boto3

OUTCOMES = ("auto_credited", "auto_refused", "person_credited", "person_refused", "unanswered", "errors")


def _batches(s3, results: dict) -> list[dict]:
    """Every batch's output, from the distributed map's ResultWriter files."""
    manifest = json.loads(s3.get_object(Bucket=results["Bucket"], Key=results["Key"])["Body"].read())
    files = manifest.get("ResultFiles", {})
    if files.get("FAILED"):
        raise RuntimeError(f"{len(files['FAILED'])} result file(s) of failed batches in {results['Key']}")
    outputs = []
    for entry in files.get("SUCCEEDED", []):
        body = s3.get_object(Bucket=manifest["DestinationBucket"], Key=entry["Key"])["Body"].read().decode()
        records = [json.loads(line) for line in body.splitlines() if line.strip()] \
            if entry["Key"].endswith(".jsonl") else json.loads(body)
        outputs += [json.loads(record["Output"]) for record in records]
    return outputs


def summary(date: str, planned: dict, batches: list[dict], transform: dict, package: str) -> dict:
    """The day in numbers: each outcome, what went to people, the share the model decided."""
    counts = dict.fromkeys(OUTCOMES, 0) | {"sent_to_people": 0, "already_recorded": 0}
    errors = []
    for batch in batches:
        for key, value in batch["counts"].items():
            counts[key] = counts.get(key, 0) + value
        errors += batch.get("errors", [])
    inspected = sum(counts[key] for key in OUTCOMES if key != "errors")
    automated = counts["auto_credited"] + counts["auto_refused"]
    return {"date": date, "reviews": planned["reviews"], **counts,
            "share_automated": round(automated / inspected, 4) if inspected else None,
            "model_package": package,
            "transform": {key: transform[key] for key in ("job", "status", "Error") if key in transform}
            or transform, "error_reviews": sorted(errors, key=lambda e: e["review_id"])}


def _write_labels(s3, datasets: str, date: str, labels: list[dict]) -> str | None:
    key = f"manifests/human-review-{date}.manifest"
    lines: dict[str, dict] = {}
    try:
        earlier = s3.get_object(Bucket=datasets, Key=key)["Body"].read().decode()
        lines = {line["source-ref"]: line for line in map(json.loads, filter(str.strip, earlier.splitlines()))}
    except s3.exceptions.NoSuchKey:
        pass
    fresh = {line["source-ref"]: line for line in labels}
    if all(lines.get(ref, {}).get("review-class") == line["review-class"] for ref, line in fresh.items()):
        return None     # nothing new: rewriting it would start a retraining for nothing
    lines.update(fresh)
    body = "".join(json.dumps(lines[ref], separators=(",", ":")) + "\n" for ref in sorted(lines))
    s3.put_object(Bucket=datasets, Key=key, Body=body.encode())
    return f"s3://{datasets}/{key}"


def handler(event, context):
    s3 = boto3.client("s3")
    batches = _batches(s3, event["results"])
    day = summary(event["date"], event["planned"], batches, event.get("transform") or {}, event["package"])
    labels = [line for batch in batches for line in batch.get("labels", [])]
    day["labels_manifest"] = _write_labels(s3, os.environ["DATASETS_BUCKET"], event["date"], labels) \
        if labels else None
    day["labelled_photos"] = len(labels)
    key = f"summaries/dt={event['date']}.json"
    s3.put_object(Bucket=os.environ["REVIEW_RESULTS_BUCKET"], Key=key,
                  Body=json.dumps(day, indent=2).encode(), ContentType="application/json")
    return {**{k: v for k, v in day.items() if k != "error_reviews"},
            "summary": f"s3://{os.environ['REVIEW_RESULTS_BUCKET']}/{key}"}
