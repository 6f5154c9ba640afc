"""The count handler as Lambda runs it: detections from S3 in; counts to S3 and DynamoDB out."""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws
from tray_count import count
from tray_count.counter import count_trays


def frames_of(counts: list[int]) -> list[list[dict]]:
    return [[{"box": [slot * 50, 10, slot * 50 + 40, 50], "score": 0.9} for slot in range(n)] for n in counts]


LINE = [n for n in (1, 2, 3, 4) for _ in range(6)] + [0] * 8 + [n for n in (1, 2, 3) for _ in range(6)] + [0] * 8


@pytest.fixture
def aws(monkeypatch):
    for name, value in {"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing", "TRAY_COUNT_RESULTS_BUCKET": "results",
                        "TRAY_COUNTS_TABLE": "counts", "MIN_BIN_FRAMES": "5"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3")
        for bucket in ("lines", "results", "work"):
            s3.create_bucket(Bucket=bucket)
        boto3.client("dynamodb").create_table(
            TableName="counts", BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}])
        s3.put_object(Bucket="work", Key="detections/v.json",
                      Body=json.dumps({"frames": frames_of(LINE), "fps": "15/1"}).encode())
        yield s3


EVENT = {"line": "3", "video": {"bucket": "lines", "key": "line-3/clip.mp4"},
         "detections": {"bucket": "work", "key": "detections/v.json"}}


def test_counts_go_to_s3_and_one_row_per_video(aws):
    result = count.handler(EVENT, None)
    assert result["bins"] == [4, 3] and result["total"] == 7 and result["off_count"] == 0
    written = json.loads(aws.get_object(Bucket="results", Key=result["result"]["key"])["Body"].read())
    assert written["bins"] == [4, 3] and written["line"] == "3" and written["frames"] == len(LINE)
    count.handler(EVENT, None)  # a retried step or a re-run replaces the row
    rows = boto3.resource("dynamodb").Table("counts").scan()["Items"]
    assert [(row["id"], row["total"], row["bins"]) for row in rows] == [("3#line-3/clip.mp4", 7, [4, 3])]


def test_the_handler_counts_as_the_counter_does_with_the_same_knobs(aws, monkeypatch):
    monkeypatch.setenv("MIN_BIN_FRAMES", "40")
    assert count.handler(EVENT, None)["bins"] == count_trays(frames_of(LINE), min_bin_frames=40)["bins"] == [4]


def test_bins_off_the_expected_count_are_reported(aws, monkeypatch):
    monkeypatch.setenv("EXPECTED_TRAYS_PER_BIN", "4")
    result = count.handler(EVENT, None)
    assert result["off_bins"] == [{"bin": 2, "trays": 3, "expected": 4}] and result["off_count"] == 1


@pytest.mark.parametrize(("change", "message"), [
    ({"line": "../etc"}, "event.line"),
    ({"line": 3}, "event.line"),
    ({"detections": {"bucket": "work"}}, "event.detections"),
])
def test_malformed_events_are_refused(aws, change, message):
    with pytest.raises(count.BadEvent, match=message):
        count.handler({**EVENT, **change}, None)


def test_a_bad_knob_is_named(aws, monkeypatch):
    monkeypatch.setenv("DROP_FRAMES", "four")
    with pytest.raises(count.BadEvent, match="DROP_FRAMES"):
        count.handler(EVENT, None)
