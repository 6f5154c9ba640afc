"""Prepare a Ground Truth image-classification manifest for training: validate it, split it.

The manifest is named by the S3 event that a new one under `manifests/` sends, by the schedule
(`{"manifest": "latest"}`: the newest manifest under `manifests/`), or by a manual run
(`{"manifest": "s3://<datasets>/manifests/x.manifest"}` or just its key). Nothing is trained from a
manifest that would fail or mislead training: a malformed line, an image outside the datasets bucket or
missing from it, a class the classifier does not know, too few images of a class, one image with two
labels — each ends the run with `DatasetRejected` and a message that says which line and what to do.

With a curated held-out set (HELD_OUT_MANIFEST, the template parameter HeldOutManifest: a Ground Truth
manifest in the datasets bucket, kept outside `manifests/`), the validation side is that set and nothing
else: the candidate and the production model are both scored on it, so a manifest with wrong labels
cannot also corrupt what it is judged on. Its images are never trained on: any of them in the new
manifest is dropped from training. Without one, the split below applies.

The split is deterministic and stable: an image's side (train or validation) follows from a hash of
its S3 URI alone, so it stays on that side in every later manifest that contains it, and the production
model (trained on an earlier manifest) is never scored on images it was trained on. A class the hash
leaves without a validation image lends its lowest-hash image. The two manifests go to the
training-runs bucket, `splits/<manifest digest>/{train,validation}.manifest` (never to the datasets
bucket, whose new manifests start this workflow).
"""
from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from typing import Any
from urllib.parse import unquote_plus

import boto3

MANIFEST_PREFIX = "manifests/"
SPLITS_PREFIX = "splits/"
MAX_MANIFEST_BYTES = 200 * 1024 * 1024   # ~1M lines: beyond that, a Lambda is the wrong place to split
MAX_LISTED_PROBLEMS = 5


class DatasetRejected(Exception):
    """The manifest cannot train a classifier; the message says why and what to fix."""


def _settings() -> dict[str, Any]:
    return {
        "bucket": os.environ["DATASETS_BUCKET"],
        "runs_bucket": os.environ["TRAINING_RUNS_BUCKET"],
        "classes": [name.strip() for name in os.environ["CLASSES"].split(",") if name.strip()],
        "attribute": os.environ.get("LABEL_ATTRIBUTE", "review-class"),
        # two at least: one image for each side of the split
        "min_per_class": max(2, int(os.environ.get("MIN_IMAGES_PER_CLASS", "20"))),
        "validation_share": float(os.environ.get("VALIDATION_SHARE", "0.2")),
        "held_out": os.environ.get("HELD_OUT_MANIFEST", "").strip(),
    }


def manifest_key(event: dict, bucket: str, s3) -> str:
    """The manifest's key in the datasets bucket, from an S3 event, `latest`, an s3:// URI or a key."""
    if isinstance(event.get("detail"), dict):          # S3 Object Created, through EventBridge
        detail = event["detail"]
        named_bucket = str((detail.get("bucket") or {}).get("name", ""))
        key = unquote_plus(str((detail.get("object") or {}).get("key", "")))
    else:
        wanted = event.get("manifest")
        if not isinstance(wanted, str) or not wanted:
            raise DatasetRejected('name the manifest: {"manifest": "s3://<datasets bucket>/manifests/<name>.manifest"} '
                                  '(or its key, or "latest")')
        if wanted == "latest":
            return _latest_manifest(bucket, s3)
        named_bucket, key = (wanted[5:].split("/", 1) + [""])[:2] if wanted.startswith("s3://") else (bucket, wanted)
    if named_bucket != bucket:
        raise DatasetRejected(f"the manifest s3://{named_bucket}/{key} is not in the datasets bucket {bucket}: "
                              "the training role reads only that bucket; copy the manifest and its images there")
    if not key or ".." in key.split("/"):
        raise DatasetRejected(f"{key!r} is not a manifest key")
    return key


def _latest_manifest(bucket: str, s3) -> str:
    newest = None
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=MANIFEST_PREFIX):
        for item in page.get("Contents", []):
            if item["Key"].endswith(".manifest") and (newest is None or item["LastModified"] > newest["LastModified"]):
                newest = item
    if newest is None:
        raise DatasetRejected(f"no manifest under s3://{bucket}/{MANIFEST_PREFIX} yet: upload a Ground Truth output "
                              "manifest there (its suffix .manifest)")
    return newest["Key"]


def read_manifest(text: str, where: str, settings: dict) -> list[dict]:
    """The manifest's records as {uri, key, label, line}; every problem found is named with its line."""
    bucket, attribute, classes = settings["bucket"], settings["attribute"], settings["classes"]
    records, problems, labels_of = [], [], {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            problems.append(f"line {number}: not JSON ({error.msg})")
            continue
        if not isinstance(record, dict):
            problems.append(f"line {number}: not a JSON object")
            continue
        uri, metadata = record.get("source-ref"), record.get(f"{attribute}-metadata")
        label = metadata.get("class-name") if isinstance(metadata, dict) else None
        if not isinstance(uri, str) or not uri.startswith("s3://"):
            problems.append(f"line {number}: no source-ref s3:// URI")
            continue
        if not isinstance(label, str):
            problems.append(f"line {number}: no {attribute}-metadata.class-name (the label attribute is {attribute})")
            continue
        image_bucket, _, key = uri[5:].partition("/")
        if image_bucket != bucket:
            problems.append(f"line {number}: {uri} is outside the datasets bucket {bucket} (the training role "
                            "reads only that bucket)")
            continue
        if label not in classes:
            problems.append(f"line {number}: unknown class {label!r} (the classifier's classes: {', '.join(classes)})")
            continue
        if labels_of.setdefault(uri, label) != label:
            problems.append(f"line {number}: {uri} is labelled both {labels_of[uri]!r} and {label!r}")
            continue
        records.append({"uri": uri, "key": key, "label": label, "line": line})
    if problems:
        raise DatasetRejected(_listed(f"{where}: {len(problems)} bad line(s)", problems))
    if not records:
        raise DatasetRejected(f"{where} has no labelled images")
    return records


def _listed(summary: str, problems: list[str]) -> str:
    shown = "; ".join(problems[:MAX_LISTED_PROBLEMS])
    more = f"; and {len(problems) - MAX_LISTED_PROBLEMS} more" if len(problems) > MAX_LISTED_PROBLEMS else ""
    return f"{summary}: {shown}{more}"


def check_counts(records: list[dict], where: str, settings: dict) -> dict[str, int]:
    counts = Counter(record["label"] for record in records)
    short = [f"{name}: {counts.get(name, 0)}" for name in settings["classes"]
             if counts.get(name, 0) < settings["min_per_class"]]
    if short:
        raise DatasetRejected(f"{where}: too few images per class (at least {settings['min_per_class']} each, "
                              f"MIN_IMAGES_PER_CLASS): {', '.join(short)}; label more images of those classes")
    return {name: counts[name] for name in settings["classes"]}


def check_images_exist(records: list[dict], where: str, bucket: str, s3) -> None:
    """One listing per folder the manifest names, rather than a request per image."""
    wanted: dict[str, set[str]] = {}
    for record in records:
        wanted.setdefault(record["key"].rpartition("/")[0], set()).add(record["key"])
    missing = []
    for folder, keys in sorted(wanted.items()):
        present = set()
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{folder}/" if folder else ""):
            present.update(item["Key"] for item in page.get("Contents", []) if item["Size"] > 0)
        missing += sorted(keys - present)
    if missing:
        raise DatasetRejected(_listed(f"{where}: {len(missing)} image(s) missing or empty in s3://{bucket}",
                                      missing) + "; upload them or remove their lines")


def _rank(uri: str) -> float:
    return int.from_bytes(hashlib.sha256(uri.encode()).digest()[:8], "big") / 2**64


def split(records: list[dict], share: float, classes: list[str]) -> tuple[list[dict], list[dict]]:
    """(train, validation): an image's side follows from its URI's hash; every class in both."""
    validation = {record["uri"] for record in records if _rank(record["uri"]) < share}
    for name in classes:
        mine = sorted((record for record in records if record["label"] == name), key=lambda r: _rank(r["uri"]))
        held = [record for record in mine if record["uri"] in validation]
        if not held:
            validation.add(mine[0]["uri"])
        elif len(held) == len(mine):
            validation.discard(mine[-1]["uri"])
    return ([record for record in records if record["uri"] not in validation],
            [record for record in records if record["uri"] in validation])


def _read_object(s3, bucket: str, key: str, where: str, fix: str) -> tuple[bytes, str]:
    """A manifest's bytes and text; a missing, huge or binary one is refused, saying `fix`."""
    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError as error:
        raise DatasetRejected(f"{where} cannot be read ({error.response['Error'].get('Code')}){fix}") from None
    if head["ContentLength"] > MAX_MANIFEST_BYTES:
        raise DatasetRejected(f"{where} is {head['ContentLength']} bytes; split it into manifests under "
                              f"{MAX_MANIFEST_BYTES} bytes")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    try:
        return body, body.decode("utf-8")
    except UnicodeDecodeError:
        raise DatasetRejected(f"{where} is not UTF-8 text (a Ground Truth manifest is JSON lines)") from None


def read_held_out(settings: dict, s3) -> tuple[str, str, bytes, list[dict]]:
    """The curated held-out set (HELD_OUT_MANIFEST): its key, its URI, its bytes and its checked records."""
    named, bucket = settings["held_out"], settings["bucket"]
    fix = "; upload it, or set the parameter HeldOutManifest to '' to split each manifest instead"
    if named == "latest":
        raise DatasetRejected("HeldOutManifest names one fixed manifest (its key or s3:// URI), not 'latest'")
    try:
        key = manifest_key({"manifest": named}, bucket, s3)
    except DatasetRejected as error:
        raise DatasetRejected(f"HeldOutManifest: {error}") from None
    where = f"s3://{bucket}/{key}"
    body, text = _read_object(s3, bucket, key, f"the held-out set {where}", fix)
    records = read_manifest(text, f"the held-out set {where}", settings)
    missing = [name for name in settings["classes"] if not any(record["label"] == name for record in records)]
    if missing:
        raise DatasetRejected(f"the held-out set {where} has no images of {', '.join(missing)}: every class needs "
                              "some, or its recall cannot be measured")
    check_images_exist(records, f"the held-out set {where}", bucket, s3)
    return key, where, body, records


def handler(event: dict, context: Any) -> dict:
    settings = _settings()
    bucket = settings["bucket"]
    s3 = boto3.client("s3")
    key = manifest_key(event if isinstance(event, dict) else {}, bucket, s3)
    where = f"s3://{bucket}/{key}"
    held_out = read_held_out(settings, s3) if settings["held_out"] else None
    if held_out is not None and held_out[0] == key:
        raise DatasetRejected(f"{where} is the held-out set (HeldOutManifest), which is never trained on; keep "
                              "it outside manifests/, where new manifests start a training run")
    body, text = _read_object(s3, bucket, key, where, "")
    records = read_manifest(text, where, settings)
    dropped = 0
    if held_out is not None:
        # Held-out images are what both models are judged on: never train on them.
        curated = {record["uri"] for record in held_out[3]}
        dropped = sum(record["uri"] in curated for record in records)
        records = [record for record in records if record["uri"] not in curated]
    counts = check_counts(records, where if not dropped else f"{where} without its {dropped} held-out image(s)",
                          settings)
    check_images_exist(records, where, bucket, s3)
    if held_out is None:
        train, validation = split(records, settings["validation_share"], settings["classes"])
    else:
        train, validation = records, held_out[3]
        body += held_out[2]               # the splits folder names the manifest and the set it is judged on
    folder = f"{SPLITS_PREFIX}{hashlib.sha256(body).hexdigest()[:16]}/"
    runs_bucket, written = settings["runs_bucket"], {}
    for side, part in (("train", train), ("validation", validation)):
        s3.put_object(Bucket=runs_bucket, Key=f"{folder}{side}.manifest", ContentType="application/jsonlines",
                      Body="".join(record["line"].strip() + "\n" for record in part).encode())
        written[side] = f"s3://{runs_bucket}/{folder}{side}.manifest"
    return {"manifest": where, "train": written["train"], "validation": written["validation"],
            "images": len(records), "train_images": len(train), "validation_images": len(validation),
            "per_class": counts, "held_out": held_out[1] if held_out else None, "held_out_dropped": dropped}
