"""Smoke-test a freshly deployed classifier endpoint through InvokeEndpoint, as its callers will.

Sends a few held-out images (one or more of each class, from the validation manifest) and checks every
answer: HTTP 200, JSON `{"label", "confidence", "probabilities"}` with a label among the classifier's
classes, probabilities over exactly those classes summing to 1, and the confidence the highest of them.
Any failure raises `SmokeTestFailed`, which the workflow answers by rolling the endpoint back. How many
answers agree with the labels is reported, not judged: the quality gate has judged the model already.
"""
from __future__ import annotations

import json
import os
from typing import Any

import boto3

CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}


class SmokeTestFailed(Exception):
    """The endpoint does not answer as the review classifier must."""


def _samples(manifest_uri: str, attribute: str, per_class: int, s3) -> list[tuple[str, str]]:
    bucket, _, key = manifest_uri[5:].partition("/")
    chosen: dict[str, list[str]] = {}
    for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines():
        if line.strip():
            record = json.loads(line)
            label = record[f"{attribute}-metadata"]["class-name"]
            if len(chosen.setdefault(label, [])) < per_class:
                chosen[label].append(record["source-ref"])
    return [(uri, label) for label, uris in sorted(chosen.items()) for uri in uris]


def check_answer(answer: Any, classes: list[str], uri: str) -> str:
    """The answer's label, or SmokeTestFailed naming what is wrong with it."""
    if not isinstance(answer, dict) or not isinstance(answer.get("probabilities"), dict):
        raise SmokeTestFailed(f"{uri}: the answer is not {{label, confidence, probabilities}}: {str(answer)[:200]}")
    probabilities = answer["probabilities"]
    if sorted(probabilities) != sorted(classes):
        raise SmokeTestFailed(f"{uri}: probabilities for {sorted(probabilities)}, expected {sorted(classes)}")
    if abs(sum(probabilities.values()) - 1) > 1e-3:
        raise SmokeTestFailed(f"{uri}: probabilities sum to {sum(probabilities.values()):.4f}, not 1")
    if answer.get("label") not in classes or probabilities[answer["label"]] != max(probabilities.values()):
        raise SmokeTestFailed(f"{uri}: label {answer.get('label')!r} is not the most probable class")
    if answer.get("confidence") != probabilities[answer["label"]]:
        raise SmokeTestFailed(f"{uri}: confidence {answer.get('confidence')} is not the label's probability")
    return answer["label"]


def handler(event: dict, context: Any) -> dict:
    endpoint = os.environ["ENDPOINT_NAME"]
    classes = [name.strip() for name in os.environ["CLASSES"].split(",") if name.strip()]
    attribute = os.environ.get("LABEL_ATTRIBUTE", "review-class")
    per_class = int(os.environ.get("SMOKE_IMAGES_PER_CLASS", "2"))
    s3, runtime = boto3.client("s3"), boto3.client("sagemaker-runtime")
    samples = _samples(str(event["validation"]), attribute, per_class, s3)
    if not samples:
        raise SmokeTestFailed(f"no images in {event['validation']} to test {endpoint} with")
    agreed = 0
    for uri, label in samples:
        bucket, _, key = uri[5:].partition("/")
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        content_type = CONTENT_TYPES.get(os.path.splitext(key)[1].lower(), "application/x-image")
        try:
            response = runtime.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType=content_type,
                                               Accept="application/json")
        except runtime.exceptions.ClientError as error:
            raise SmokeTestFailed(f"{endpoint} refused {uri}: {error}") from None
        try:
            answer = json.loads(response["Body"].read())
        except ValueError:
            raise SmokeTestFailed(f"{endpoint} answered {uri} with something that is not JSON") from None
        agreed += check_answer(answer, classes, uri) == label
    return {"endpoint": endpoint, "images": len(samples), "agreed": agreed}
