"""Bundle a Ground Truth bounding-box output manifest into MXNet LST files for detector training.

The article's Lambda: images and their tray boxes from the labelling job's output manifest become
`train.lst` and `test.lst` (GluonCV's LstDetection format), with train and test taken from different
packing lines so that nothing leaks between them. An image's line is the `line=<id>` folder in its key.

Event: {"manifest": {"bucket", "key"}, "output": {"bucket", "prefix"}} (an S3 Object Created event's
`detail` also works: then the output goes beside the manifest). Environment: TEST_LINES (comma-separated
line ids held out for testing; default: the last line in sorted order), DATASET_ROOT (s3://bucket/prefix/
the LST paths are relative to; default: the manifest's folder above `manifests/`), LABEL_ATTRIBUTE (the labelling
job's label attribute; default: the one whose `-metadata` says `groundtruth/object-detection`),
MAX_REJECTED_SHARE (default 0.2: more malformed entries than this fails the bundle).

Malformed entries are never dropped silently: each is listed with its manifest line number and reason in
`rejected.json` beside the LST files and counted in the result.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

import boto3

LINE_FOLDER = re.compile(r"(?:^|/)line=([A-Za-z0-9_.-]{1,64})/")
S3_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.+)$")


class MalformedEntry(Exception):
    """One manifest record that cannot be used; its message says why."""


class BundleError(ValueError):
    """The manifest cannot make a training set (nothing valid, one split empty, too many rejects)."""


@dataclass(frozen=True)
class Entry:
    line: str
    path: str  # the image key relative to the dataset root (what the training job's channel holds)
    width: int
    height: int
    boxes: tuple[tuple[int, float, float, float, float], ...]  # class, x0, y0, x1, y1 (0..1)

    def lst(self, index: int) -> str:
        """GluonCV LstDetection: index, header width 4, label width 5, image width, height, labels, path."""
        labels = [f"{c}\t{x0:.6f}\t{y0:.6f}\t{x1:.6f}\t{y1:.6f}" for c, x0, y0, x1, y1 in self.boxes]
        return "\t".join([str(index), "4", "5", str(self.width), str(self.height), *labels, self.path])


def label_attribute(record: dict) -> str | None:
    """The label attribute whose metadata names an object-detection job."""
    for key, value in record.items():
        if key.endswith("-metadata") and isinstance(value, dict) \
                and value.get("type") == "groundtruth/object-detection":
            return key[: -len("-metadata")]
    return None


def parse_entry(record: object, attribute: str | None, root: tuple[str, str]) -> Entry:
    """One manifest record, checked against the dataset root (bucket, prefix); raises MalformedEntry saying why."""
    if not isinstance(record, dict):
        raise MalformedEntry("not a JSON object")
    match = S3_URI.match(record.get("source-ref", "") if isinstance(record.get("source-ref"), str) else "")
    if not match:
        raise MalformedEntry("source-ref is not an s3://bucket/key URI")
    key = match.group(2)
    if match.group(1) != root[0] or ".." in key.split("/") or not key.startswith(root[1]):
        raise MalformedEntry(f"source-ref is outside the dataset s3://{root[0]}/{root[1]}")
    line = LINE_FOLDER.search(key)
    if not line:
        raise MalformedEntry("the image key has no line=<id>/ folder")
    attribute = attribute or label_attribute(record)
    label = record.get(attribute) if attribute else None
    if not isinstance(label, dict):
        raise MalformedEntry(f"no bounding-box label{f' {attribute!r}' if attribute else ''}")
    meta = record.get(f"{attribute}-metadata", {})
    class_map = meta.get("class-map", {}) if isinstance(meta, dict) else {}
    try:
        size = label["image_size"][0]
        width, height = int(size["width"]), int(size["height"])
    except (KeyError, IndexError, TypeError, ValueError):
        raise MalformedEntry("image_size is missing or malformed") from None
    if width <= 0 or height <= 0:
        raise MalformedEntry("image_size is not positive")
    boxes = []
    for number, box in enumerate(label.get("annotations", [])):
        try:
            c, left, top = int(box["class_id"]), float(box["left"]), float(box["top"])
            w, h = float(box["width"]), float(box["height"])
        except (KeyError, TypeError, ValueError):
            raise MalformedEntry(f"annotation {number} is malformed") from None
        if class_map and str(c) not in class_map:
            raise MalformedEntry(f"annotation {number} has class_id {c}, not in the class-map")
        if w <= 0 or h <= 0 or left < 0 or top < 0 or left + w > width or top + h > height:
            raise MalformedEntry(f"annotation {number} is empty or outside the {width}x{height} image")
        boxes.append((c, left / width, top / height, (left + w) / width, (top + h) / height))
    return Entry(line.group(1), key[len(root[1]):], width, height, tuple(boxes))


def bundle(lines: list[str], *, test_lines: set[str] | None, attribute: str | None, root: tuple[str, str],
           max_rejected_share: float) -> tuple[list[Entry], list[Entry], list[dict], int]:
    """Manifest lines → (train, test, rejected, images without a tray); test holds the held-out lines."""
    entries, rejected, seen = [], [], set()
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            entry = parse_entry(json.loads(text), attribute, root)
            if entry.path in seen:
                raise MalformedEntry("the same image is labelled twice")
            seen.add(entry.path)
            entries.append(entry)
        except json.JSONDecodeError:
            rejected.append({"line": number, "reason": "not JSON"})
        except MalformedEntry as error:
            rejected.append({"line": number, "reason": str(error)})
    total = len(entries) + len(rejected)
    if not entries:
        raise BundleError(f"no usable entry in the manifest ({len(rejected)} rejected)")
    if len(rejected) > max_rejected_share * total:
        raise BundleError(f"{len(rejected)} of {total} manifest entries are malformed "
                          f"(more than {max_rejected_share:.0%}); first: line {rejected[0]['line']}: "
                          f"{rejected[0]['reason']}")
    # GluonCV's LstDetection needs at least one box per image: an image with no tray is counted, not bundled.
    empty = sum(1 for e in entries if not e.boxes)
    entries = [e for e in entries if e.boxes]
    if not entries:
        raise BundleError(f"no labelled tray in the manifest ({empty} images without one)")
    held_out = test_lines or {max(e.line for e in entries)}
    train = [e for e in entries if e.line not in held_out]
    test = [e for e in entries if e.line in held_out]
    if not train or not test:
        raise BundleError(f"train and test must both have images: lines {sorted({e.line for e in entries})}, "
                          f"held out for test {sorted(held_out)}")
    return train, test, rejected, empty


def handler(event: dict, context: object) -> dict:
    """Write train.lst, test.lst and rejected.json under the output prefix; return where and how many."""
    source = event.get("manifest") or {"bucket": event.get("bucket", {}).get("name"),
                                       "key": event.get("object", {}).get("key")}
    if not isinstance(source.get("bucket"), str) or not isinstance(source.get("key"), str):
        raise BundleError("event needs manifest: {bucket, key} (or an S3 event's detail)")
    manifest_dir = source["key"].rsplit("/", 1)[0] + "/" if "/" in source["key"] else ""
    output = event.get("output") or {"bucket": source["bucket"], "prefix": manifest_dir + "bundle/"}
    s3 = boto3.client("s3")
    body = s3.get_object(Bucket=source["bucket"], Key=source["key"])["Body"].read().decode("utf-8")
    test_lines = {v.strip() for v in os.environ.get("TEST_LINES", "").split(",") if v.strip()} or None
    root = dataset_root(os.environ.get("DATASET_ROOT"), source["bucket"], manifest_dir)
    train, test, rejected, empty = bundle(
        body.splitlines(), test_lines=test_lines, attribute=os.environ.get("LABEL_ATTRIBUTE") or None,
        root=root, max_rejected_share=float(os.environ.get("MAX_REJECTED_SHARE", "0.2")))
    prefix = output["prefix"].rstrip("/") + "/"
    for name, entries in (("train.lst", train), ("test.lst", test)):
        text = "".join(entry.lst(index) + "\n" for index, entry in enumerate(entries))
        s3.put_object(Bucket=output["bucket"], Key=prefix + name, Body=text.encode())
    s3.put_object(Bucket=output["bucket"], Key=prefix + "rejected.json", Body=json.dumps(rejected).encode(),
                  ContentType="application/json")

    def written(name: str, entries: list[Entry]) -> dict:
        return {"bucket": output["bucket"], "key": prefix + name, "uri": f"s3://{output['bucket']}/{prefix}{name}",
                "images": len(entries), "lines": sorted({e.line for e in entries})}

    return {"train": written("train.lst", train), "test": written("test.lst", test),
            "images_root": f"s3://{root[0]}/{root[1]}", "rejected": len(rejected), "without_trays": empty}


def dataset_root(configured: str | None, manifest_bucket: str, manifest_dir: str) -> tuple[str, str]:
    """Where the images live: DATASET_ROOT (s3://bucket/prefix/), else the manifest's folder above manifests/."""
    if not configured:
        return manifest_bucket, manifest_dir.rsplit("manifests/", 1)[0]
    match = S3_URI.match(configured.rstrip("/") + "/x")
    if not match:
        raise BundleError(f"DATASET_ROOT={configured!r} is not an s3://bucket/prefix/ URI")
    return match.group(1), match.group(2)[:-1]
