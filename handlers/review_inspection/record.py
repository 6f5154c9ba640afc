"""Record a batch's decisions: people's answers decided by the same rules, rows written once, labels kept.

Input: {"date", "rows": [decide.py's rows], "answers": [each doubtful review with `answer` (the person's
task output, {"classes": [one class per photo sent]} or {"class": c} for one photo) or `timed_out`]}.

Every photo a person classed is copied to DATASETS_BUCKET as images/human-review/dt=<date>/<review>-<n>.<ext>
and returned as a Ground Truth image-classification manifest line (summarise.py writes the day's
manifest). Returns the batch's counts and those lines.
"""
from __future__ import annotations

import datetime as dt
import os
from collections import Counter

import boto3

from review_inspection import decisions
from review_inspection.rules import CLASSES, CreditRules, Photo

LABEL = "review-class"     # the label attribute retrain-and-promote trains on
JOB_NAME = "labeling-job/review-inspection"


def people_classes(answer: object, sent: int) -> list[str]:
    """The classes a person gave, one per photo sent; ValueError saying what a good answer is."""
    if isinstance(answer, dict) and "class" in answer and sent == 1:
        answer = {"classes": [answer["class"]]}
    classes = answer.get("classes") if isinstance(answer, dict) else None
    if not isinstance(classes, list) or len(classes) != sent or not all(c in CLASSES for c in classes):
        raise ValueError(f"the answer {str(answer)[:200]} is not {{\"classes\": [{sent} of {', '.join(CLASSES)}]}}")
    return classes


def answered_row(item: dict, rules: CreditRules) -> tuple[dict, list[tuple[int, str]]]:
    """The row for a review people were asked about, and the (photo index, class) they gave."""
    base = {key: item[key] for key in ("review_id", "date", "type", "user_id", "model_package", "model_version",
                                       "execution")}
    if "timed_out" in item or "answer" not in item:
        return {**base, "decision": "unanswered", "decided_by": "none",
                "reason": "no answer from a person in time"}, []
    try:
        classes = people_classes(item["answer"], len(item["photos"]))
    except ValueError as error:
        return {**base, "decision": "unanswered", "decided_by": "none", "reason": str(error)}, []
    photos = [Photo(p["label"], p["confidence"]) for p in item["all_photos"]]
    given = [(sent["n"], cls) for sent, cls in zip(item["photos"], classes, strict=True)]
    for n, cls in given:
        photos[n] = Photo(cls, 1.0, "person")
    verdict = rules.judge(item["type"], photos)
    deciding = verdict.deciding(photos)
    return {**base, "decision": verdict.decision, "decided_by": verdict.decided_by,
            "class": deciding.label, "confidence": deciding.confidence,
            "photos": [{"key": p["key"], "label": photo.label, "confidence": photo.confidence, "by": photo.by}
                       for p, photo in zip(item["all_photos"], photos, strict=True)]}, given


def _label(s3, item: dict, n: int, cls: str, uploads: str, datasets: str) -> dict:
    """Copy a person-classed photo into the datasets bucket; its Ground Truth manifest line."""
    source = item["all_photos"][n]["key"]
    extension = source.rsplit(".", 1)[-1].lower() if "." in source.rsplit("/", 1)[-1] else "jpg"
    key = f"images/human-review/dt={item['date']}/{item['review_id']}-{n}.{extension}"
    s3.copy_object(Bucket=datasets, Key=key, CopySource={"Bucket": uploads, "Key": source})
    return {"source-ref": f"s3://{datasets}/{key}", LABEL: CLASSES.index(cls), f"{LABEL}-metadata": {
        "class-name": cls, "confidence": 1.0, "type": "groundtruth/image-classification", "job-name": JOB_NAME,
        "human-annotated": "yes", "creation-date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")}}


def outcome(row: dict) -> str:
    """The summary's name for a row: auto_credited, person_refused, unanswered, errors, …"""
    if row["decision"] in decisions.FINAL:
        return f"{'auto' if row.get('decided_by') == 'model' else 'person'}_{row['decision']}"
    return "errors" if row["decision"] == "error" else "unanswered"


def handler(event, context):
    rules = CreditRules.from_environment()
    table = os.environ["REVIEW_DECISIONS_TABLE"]
    uploads, datasets = os.environ["REVIEW_UPLOADS_BUCKET"], os.environ["DATASETS_BUCKET"]
    s3, dynamodb = boto3.client("s3"), boto3.client("dynamodb")
    counts: Counter[str] = Counter()
    rows: list[dict] = []
    for row in event.get("rows") or []:
        if "already" in row:
            counts[outcome(row["already"])] += 1
            counts["already_recorded"] += 1
        else:
            rows.append(row)
    labels = []
    for item in event.get("answers") or []:
        counts["sent_to_people"] += 1
        row, given = answered_row(item, rules)
        rows.append(row)
        labels += [_label(s3, item, n, cls, uploads, datasets) for n, cls in given]
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    written, kept = decisions.write(dynamodb, table, [{**row, "recorded_at": now} for row in rows])
    for row in written:
        counts[outcome(row)] += 1
    if kept:   # decided for good by an earlier run (or an earlier try of this step): count what is stored
        earlier = decisions.stored(dynamodb, table, [row["review_id"] for row in kept])
        for row in kept:
            counts[outcome(earlier[row["review_id"]])] += 1
            counts["already_recorded"] += 1
    errors = [{"review_id": row["review_id"], "reason": row.get("reason", "")} for row in written
              if row["decision"] == "error"]
    return {"counts": dict(counts), "labels": labels, "errors": errors}
