"""Decide a batch of reviews by the credit rules, from the batch transform's answers.

Input (a distributed map's batch): {"Items": [review, …], "BatchInput": {date, predictions, package,
version, execution}}; each review as plan.py wrote it. Returns {"rows": [...], "doubtful": [...]}:
rows for the reviews decided here (by the model, or an error, or `already` decided by an earlier run),
and the reviews a person must look at, each with the photos to class and HUMAN_REVIEW_TIMEOUT.
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor

import boto3

from review_inspection import decisions
from review_inspection.rules import CLASSES, DOUBTFUL, CreditRules, Photo, prediction


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _answers(s3, predictions: str, keys: list[str], date: str) -> dict[str, dict | str]:
    """Each photo's classifier answer (its `<key>.out`), or why there is none."""
    bucket, base = _split(predictions)
    prefix = f"reviews/dt={date}/"

    def read(key: str) -> dict | str:
        try:
            body = s3.get_object(Bucket=bucket, Key=f"{base}{key.removeprefix(prefix)}.out")["Body"].read()
        except s3.exceptions.NoSuchKey:
            return "the model gave no answer for it (see the transform job's log)"
        try:
            return json.loads(body)
        except ValueError:
            return "the model's answer is not JSON"

    with ThreadPoolExecutor(8) as pool:
        return dict(zip(keys, pool.map(read, keys), strict=True))


def base_row(review: dict, batch: dict) -> dict:
    return {"review_id": review["review_id"], "date": batch["date"], "type": review.get("type"),
            "user_id": review.get("user_id"), "model_package": batch["package"],
            "model_version": batch["version"], "execution": batch["execution"]}


def model_row(review: dict, batch: dict, photos: list[Photo], keys: list[str], rules: CreditRules) -> dict | None:
    """The row when the model decides the review; None when it is doubtful."""
    verdict = rules.judge(review["type"], photos)
    if verdict.decision == DOUBTFUL:
        return None
    deciding = verdict.deciding(photos)
    return {**base_row(review, batch), "decision": verdict.decision, "decided_by": "model",
            "class": deciding.label, "confidence": deciding.confidence,
            "photos": [{"key": key, "label": p.label, "confidence": p.confidence, "by": p.by}
                       for key, p in zip(keys, photos, strict=True)]}


def handler(event, context):
    batch = event["BatchInput"]
    reviews = event["Items"]
    rules = CreditRules.from_environment()
    timeout = int(float(os.environ.get("HUMAN_REVIEW_TIMEOUT", "86400")))
    table = os.environ["REVIEW_DECISIONS_TABLE"]
    s3 = boto3.client("s3")
    earlier = decisions.stored(boto3.client("dynamodb"), table, [review["review_id"] for review in reviews])
    keys = sorted({key for review in reviews if review.get("error") is None for key in review["photos"]})
    answers = _answers(s3, batch["predictions"], keys, batch["date"])
    rows: list[dict] = []
    doubtful: list[dict] = []
    for review in reviews:
        before = earlier.get(review["review_id"])
        if before is not None and before.get("decision") in decisions.FINAL:
            rows.append({"review_id": review["review_id"], "already": {
                "decision": before["decision"], "decided_by": before.get("decided_by")}})
            continue
        if review.get("error") is not None:
            rows.append({**base_row(review, batch), "decision": "error", "decided_by": "none",
                         "reason": review["error"]})
            continue
        photos: list[Photo] = []
        problem = None
        for key in review["photos"]:
            answer = answers[key]
            if isinstance(answer, dict):
                try:
                    photos.append(prediction(answer))
                    continue
                except ValueError as error:
                    answer = str(error)
            reason = answer if isinstance(answer, str) else "the model's answer is not a JSON object"
            problem = f"image {key}: {reason}"
            break
        if problem is not None:
            rows.append({**base_row(review, batch), "decision": "error", "decided_by": "none", "reason": problem})
            continue
        row = model_row(review, batch, photos, review["photos"], rules)
        if row is not None:
            rows.append(row)
            continue
        verdict = rules.judge(review["type"], photos)
        doubtful.append({
            **base_row(review, batch), "timeout_seconds": timeout, "classes": list(CLASSES),
            "all_photos": [{"key": key, "label": p.label, "confidence": p.confidence}
                           for key, p in zip(review["photos"], photos, strict=True)],
            # what the person sees: only the photos the model could not class
            "photos": [{"n": n, "uri": f"s3://{batch['uploads']}/{review['photos'][n]}",
                        "model_label": photos[n].label, "model_confidence": round(photos[n].confidence, 4)}
                       for n in verdict.doubtful]})
    return {"rows": rows, "doubtful": doubtful}
