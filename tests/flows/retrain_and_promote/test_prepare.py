"""The Prepare step's handler: which manifests it refuses (and how it says so), and its split."""
from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws
from retrain_and_promote import prepare
from retrain_and_promote.prepare import DatasetRejected

CLASSES = ["package", "product", "full-length", "half-length"]


@pytest.fixture
def s3(monkeypatch):
    for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "DATASETS_BUCKET": "datasets",
                        "TRAINING_RUNS_BUCKET": "runs", "CLASSES": ",".join(CLASSES),
                        "LABEL_ATTRIBUTE": "review-class", "MIN_IMAGES_PER_CLASS": "3",
                        "VALIDATION_SHARE": "0.2"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket="datasets")
        client.create_bucket(Bucket="runs")
        yield client


def line(key: str, label: str, bucket: str = "datasets") -> dict:
    return {"source-ref": f"s3://{bucket}/{key}", "review-class": CLASSES.index(label) if label in CLASSES else 9,
            "review-class-metadata": {"class-name": label, "type": "groundtruth/image-classification"}}


def put(s3, key: str, lines: list, images: bool = True) -> None:
    for entry in lines:
        if images and isinstance(entry, dict) and entry["source-ref"].startswith("s3://datasets/"):
            s3.put_object(Bucket="datasets", Key=entry["source-ref"][len("s3://datasets/"):], Body=b"jpeg")
    body = "".join((json.dumps(e) if isinstance(e, dict) else e) + "\n" for e in lines)
    s3.put_object(Bucket="datasets", Key=key, Body=body.encode())


def labelled(per_class: int, folder: str = "img") -> list[dict]:
    return [line(f"{folder}/{name}-{i}.jpg", name) for name in CLASSES for i in range(per_class)]


def event(key: str) -> dict:
    return {"detail-type": "Object Created", "detail": {"bucket": {"name": "datasets"}, "object": {"key": key}}}


def read_lines(s3, uri: str) -> list[dict]:
    bucket, _, key = uri[5:].partition("/")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return [json.loads(text) for text in body.splitlines()]


def test_a_good_manifest_is_split_into_train_and_validation_with_every_class_on_both_sides(s3):
    put(s3, "manifests/a.manifest", labelled(10))
    result = prepare.handler(event("manifests/a.manifest"), None)
    assert result["images"] == 40 and result["per_class"] == dict.fromkeys(CLASSES, 10)
    train, validation = read_lines(s3, result["train"]), read_lines(s3, result["validation"])
    assert result["train"].startswith("s3://runs/splits/") and result["validation"].startswith("s3://runs/splits/")
    assert len(train) + len(validation) == 40 == result["train_images"] + result["validation_images"]
    assert {e["source-ref"] for e in train}.isdisjoint(e["source-ref"] for e in validation)
    for side in (train, validation):
        assert {e["review-class-metadata"]["class-name"] for e in side} == set(CLASSES)
    assert 4 <= len(validation) <= 14


def test_an_image_keeps_its_side_when_the_manifest_grows_or_is_reordered(s3):
    first = labelled(10)
    put(s3, "manifests/a.manifest", first)
    before = prepare.handler({"manifest": "manifests/a.manifest"}, None)
    grown = list(reversed(first)) + labelled(10, folder="more")
    put(s3, "manifests/b.manifest", grown)
    after = prepare.handler({"manifest": "s3://datasets/manifests/b.manifest"}, None)
    held_before = {e["source-ref"] for e in read_lines(s3, before["validation"])}
    held_after = {e["source-ref"] for e in read_lines(s3, after["validation"])}
    trained_after = {e["source-ref"] for e in read_lines(s3, after["train"])}
    # the production model (trained on a.manifest's train side) is never scored on an image it learned
    assert held_before <= held_after
    assert trained_after.isdisjoint(held_before)


def test_latest_names_the_newest_manifest(s3):
    put(s3, "manifests/old.manifest", labelled(3))
    put(s3, "manifests/new.manifest", labelled(4))
    assert prepare.handler({"manifest": "latest"}, None)["manifest"] == "s3://datasets/manifests/new.manifest"


@pytest.mark.parametrize(("lines", "expected"), [
    (labelled(5) + [line("img/x.jpg", "selfie")], "line 21: unknown class 'selfie'"),
    (labelled(5) + [line("img/x.jpg", "product", bucket="elsewhere")],
     "line 21: s3://elsewhere/img/x.jpg is outside the datasets bucket datasets"),
    (labelled(5) + ["{not json"], "line 21: not JSON"),
    (labelled(5) + [{"source-ref": "s3://datasets/img/y.jpg", "label": 1}],
     "line 21: no review-class-metadata.class-name"),
    (labelled(5) + [line("img/package-0.jpg", "product")], "labelled both 'package' and 'product'"),
    ([e for e in labelled(5) if e["review-class-metadata"]["class-name"] != "product"] + labelled(2, "few")[2:4],
     "too few images per class (at least 3 each, MIN_IMAGES_PER_CLASS): product: 2"),
])
def test_a_bad_manifest_is_refused_naming_the_line_and_what_to_do(s3, lines, expected):
    put(s3, "manifests/bad.manifest", lines)
    with pytest.raises(DatasetRejected) as refused:
        prepare.handler(event("manifests/bad.manifest"), None)
    assert expected in str(refused.value)
    assert str(refused.value).startswith("s3://datasets/manifests/bad.manifest")
    assert "Contents" not in s3.list_objects_v2(Bucket="runs")   # nothing prepared


def test_missing_images_are_listed(s3):
    lines = labelled(4)
    put(s3, "manifests/a.manifest", lines)
    s3.delete_object(Bucket="datasets", Key="img/product-2.jpg")
    with pytest.raises(DatasetRejected, match=r"1 image\(s\) missing or empty in s3://datasets: img/product-2.jpg; "
                                              r"upload them or remove their lines"):
        prepare.handler(event("manifests/a.manifest"), None)


@pytest.mark.parametrize(("given", "expected"), [
    ({}, "name the manifest"),
    ({"manifest": "s3://other/manifests/a.manifest"}, "is not in the datasets bucket datasets"),
    ({"manifest": "manifests/../secret"}, "is not a manifest key"),
    ({"manifest": "manifests/none.manifest"}, "cannot be read (404)"),
    ({"manifest": "latest"}, "no manifest under s3://datasets/manifests/ yet"),
])
def test_the_manifest_named_must_be_a_readable_object_of_the_datasets_bucket(s3, given, expected):
    with pytest.raises(DatasetRejected) as refused:
        prepare.handler(given, None)
    assert expected in str(refused.value)


def test_with_a_curated_held_out_set_both_models_are_judged_on_it_and_never_train_on_it(s3, monkeypatch):
    curated = labelled(2, folder="curated")
    put(s3, "held-out/curated.manifest", curated)
    # the new manifest also holds three of the curated photos (one relabelled wrongly): they are dropped
    relabelled = dict(curated[0], **{"review-class-metadata": {"class-name": "product"}})
    put(s3, "manifests/a.manifest", labelled(5) + [relabelled, curated[3], curated[7]])
    monkeypatch.setenv("HELD_OUT_MANIFEST", "held-out/curated.manifest")
    result = prepare.handler(event("manifests/a.manifest"), None)
    train, validation = read_lines(s3, result["train"]), read_lines(s3, result["validation"])
    assert validation == curated                                  # the curated set, exactly, as written
    assert {e["source-ref"] for e in train} == {e["source-ref"] for e in labelled(5)}   # every other photo
    assert (result["held_out"], result["held_out_dropped"]) == ("s3://datasets/held-out/curated.manifest", 3)
    assert (result["train_images"], result["validation_images"]) == (20, 8)
    # the same manifest judged on another set gets its own splits folder
    put(s3, "held-out/other.manifest", labelled(2, folder="other"))
    monkeypatch.setenv("HELD_OUT_MANIFEST", "s3://datasets/held-out/other.manifest")
    assert prepare.handler(event("manifests/a.manifest"), None)["validation"] != result["validation"]


@pytest.mark.parametrize(("held_out", "lines", "message"), [
    ("held-out/none.manifest", None, ("the held-out set s3://datasets/held-out/none.manifest cannot be read "
     "(404); upload it, or set the parameter HeldOutManifest to '' to split each manifest instead")),
    ("held-out/c.manifest", [line(f"c/{name}.jpg", name) for name in CLASSES[:2]],
     "the held-out set s3://datasets/held-out/c.manifest has no images of full-length, half-length"),
    ("s3://elsewhere/c.manifest", None, ("HeldOutManifest: the manifest s3://elsewhere/c.manifest is not in the "
     "datasets bucket datasets")),
    ("manifests/a.manifest", None, ("s3://datasets/manifests/a.manifest is the held-out set (HeldOutManifest), "
     "which is never trained on")),
    ("latest", None, "HeldOutManifest names one fixed manifest"),
])
def test_a_held_out_set_that_cannot_judge_is_refused_before_training(s3, monkeypatch, held_out, lines, message):
    put(s3, "manifests/a.manifest", labelled(5))
    if lines is not None:
        put(s3, held_out, lines)
    monkeypatch.setenv("HELD_OUT_MANIFEST", held_out)
    with pytest.raises(DatasetRejected) as refused:
        prepare.handler(event("manifests/a.manifest"), None)
    assert message in str(refused.value)


def test_a_manifest_that_is_mostly_held_out_images_is_refused_for_what_is_left(s3, monkeypatch):
    curated = labelled(3, folder="curated")
    put(s3, "held-out/curated.manifest", curated)
    put(s3, "manifests/a.manifest", curated + labelled(1))
    monkeypatch.setenv("HELD_OUT_MANIFEST", "held-out/curated.manifest")
    with pytest.raises(DatasetRejected) as refused:
        prepare.handler(event("manifests/a.manifest"), None)
    assert "without its 12 held-out image(s): too few images per class (at least 3 each" in str(refused.value)
