"""EventBridge pattern matching and the S3 Object Created event shape."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.aws.events import matches, s3_object_created

S3_RULE = {
    "source": ["aws.s3"], "detail-type": ["Object Created"],
    "detail": {"bucket": {"name": ["videos-in"]},
               "object": {"key": [{"suffix": {"equals-ignore-case": ".mp4"}},
                                  {"suffix": {"equals-ignore-case": ".mov"}}]}},
}


def event(key: str, bucket: str = "videos-in") -> dict:
    return s3_object_created(bucket, key, size=10, etag='"abc"', account="111111111111", region="us-east-1")


def test_s3_event_has_the_fields_aws_sends():
    sent = event("clips/a.mp4")
    assert set(sent) == {"version", "id", "detail-type", "source", "account", "time", "region", "resources",
                         "detail"}
    assert set(sent["detail"]) == {"version", "bucket", "object", "request-id", "requester",
                                   "source-ip-address", "reason"}
    assert sent["detail"]["object"]["etag"] == "abc"
    assert "version-id" not in sent["detail"]["object"]     # only for versioned buckets
    assert sent["time"].endswith("Z")


@pytest.mark.parametrize("key, expected", [
    ("a.mp4", True), ("A.MP4", True), ("x/y.Mov", True), ("a.mp4.txt", False), ("mp4", False),
])
def test_suffix_equals_ignore_case(key, expected):
    assert matches(S3_RULE, event(key)) is expected


def test_other_bucket_does_not_match():
    assert not matches(S3_RULE, event("a.mp4", bucket="other"))


@pytest.mark.parametrize("pattern, value, expected", [
    ([{"prefix": "img/"}], "img/a", True),
    ([{"prefix": {"equals-ignore-case": "IMG/"}}], "img/a", True),
    ([{"anything-but": ["a", "b"]}], "c", True),
    ([{"anything-but": ["a", "b"]}], "a", False),
    ([{"anything-but": {"prefix": "tmp/"}}], "tmp/x", False),
    ([{"numeric": [">", 0, "<=", 5]}], 5, True),
    ([{"numeric": [">", 0, "<=", 5]}], 6, False),
    ([{"exists": True}], "x", True),
    ([{"cidr": "10.0.0.0/24"}], "10.0.0.7", True),
    ([{"wildcard": "*.png"}], "a/b.png", True),
    ([None], None, True),
    ([1], 1.0, True),
])
def test_content_filters(pattern, value, expected):
    assert matches({"f": pattern}, {"f": value}) is expected


def test_missing_field_matches_only_exists_false():
    assert matches({"f": [{"exists": False}]}, {})
    assert not matches({"f": [{"exists": True}]}, {})
    assert not matches({"f": ["x"]}, {})


def test_array_values_match_when_any_element_does():
    assert matches({"resources": ["arn:aws:s3:::b"]}, {"resources": ["arn:aws:s3:::a", "arn:aws:s3:::b"]})


@given(st.text(min_size=1, max_size=20))
def test_suffix_rule_agrees_with_lowercase_endswith(name):
    key = name + ".Mp4"
    assert matches(S3_RULE, event(key)) is True
    other = name.rstrip(".") + ".mp3"
    assert matches(S3_RULE, event(other)) is False
