"""Bundling a Ground Truth bounding-box manifest into LST files: held-out lines, malformed entries named."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws
from tray_count import bundle

ROOT = Path(__file__).resolve().parents[3]


def _packing_line():
    spec = importlib.util.spec_from_file_location("bench_packing_line", ROOT / "bench" / "packing_line.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_packing_line"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """Three lines of labelled frames as a labelling job leaves them."""
    root = tmp_path_factory.mktemp("trays")
    _packing_line().labelled_frames(root, {"1": 1, "2": 2, "3": 3}, frames_per_line=6)
    return root


@pytest.fixture
def s3(monkeypatch, dataset):
    for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TEST_LINES", raising=False)
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket="datasets")
        for path in dataset.rglob("*"):
            if path.is_file():
                client.upload_file(str(path), "datasets", f"trays/{path.relative_to(dataset).as_posix()}")
        yield client


EVENT = {"manifest": {"bucket": "datasets", "key": "trays/manifests/output.manifest"}}


def read_lst(s3, key: str) -> list[list[str]]:
    return [row.split("\t") for row in s3.get_object(Bucket="datasets", Key=key)["Body"].read().decode().splitlines()]


def test_train_and_test_come_from_different_lines_and_name_real_images(s3):
    result = bundle.handler(EVENT, None)
    assert result["train"]["lines"] == ["1", "2"] and result["test"]["lines"] == ["3"]
    assert result["rejected"] == 0
    assert result["train"]["images"] + result["test"]["images"] + result["without_trays"] == 18
    rows = read_lst(s3, result["train"]["key"])
    assert len(rows) == result["train"]["images"] > 0
    for index, row in enumerate(rows):
        assert row[:5] == [str(index), "4", "5", "320", "240"]
        labels = [float(v) for v in row[5:-1]]
        assert len(labels) % 5 == 0 and labels
        for c, x0, y0, x1, y1 in zip(*[iter(labels)] * 5, strict=True):
            assert c == 0 and 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
        s3.head_object(Bucket="datasets", Key="trays/" + row[-1])  # the path resolves under the dataset root


def test_held_out_lines_can_be_chosen(s3, monkeypatch):
    monkeypatch.setenv("TEST_LINES", "1, 2")
    result = bundle.handler(EVENT, None)
    assert result["train"]["lines"] == ["3"] and result["test"]["lines"] == ["1", "2"]


def test_malformed_entries_are_listed_with_their_line_and_reason(s3, dataset):
    good = (dataset / "manifests" / "output.manifest").read_text().splitlines()
    broken = json.loads(good[0])
    broken["trays"]["annotations"] = [{"class_id": 0, "left": 300, "top": 10, "width": 50, "height": 20}]
    lines = [*good, "{not json", json.dumps(broken), good[1],
             json.dumps({**json.loads(good[2]), "source-ref": "s3://datasets/trays/../secrets/x.jpg"})]
    s3.put_object(Bucket="datasets", Key="trays/manifests/output.manifest", Body="\n".join(lines).encode())
    result = bundle.handler(EVENT, None)
    assert result["rejected"] == 4
    rejected = json.loads(s3.get_object(Bucket="datasets", Key="trays/manifests/bundle/rejected.json")["Body"].read())
    assert rejected == [
        {"line": 19, "reason": "not JSON"},
        {"line": 20, "reason": "annotation 0 is empty or outside the 320x240 image"},
        {"line": 21, "reason": "the same image is labelled twice"},
        {"line": 22, "reason": "source-ref is outside the dataset s3://datasets/trays/"},
    ]


def test_too_many_malformed_entries_or_one_line_only_fail_the_bundle(s3, dataset):
    good = (dataset / "manifests" / "output.manifest").read_text().splitlines()
    s3.put_object(Bucket="datasets", Key="trays/manifests/output.manifest",
                  Body="\n".join(good[:3] + ["{}"] * 3).encode())
    with pytest.raises(bundle.BundleError, match="3 of 6 manifest entries are malformed"):
        bundle.handler(EVENT, None)
    s3.put_object(Bucket="datasets", Key="trays/manifests/output.manifest", Body="\n".join(good[:6]).encode())
    with pytest.raises(bundle.BundleError, match="train and test must both have images"):
        bundle.handler(EVENT, None)
