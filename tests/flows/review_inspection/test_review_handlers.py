"""The handlers' own rules: which day, which reviews are broken, people's answers, rows written once."""
from __future__ import annotations

import json

import pytest
from review_inspection import decisions, summarise
from review_inspection.plan import InvalidInput, check_review, day_of
from review_inspection.record import answered_row, people_classes
from review_inspection.rules import CreditRules

from engine.aws import LocalAWS

RULES = CreditRules.from_text('{"Product": ["product"], "Style": ["full-length"]}', "0.9")
PREFIX = "reviews/dt=2026-12-03/"


def test_the_day_is_the_one_asked_for_or_the_day_before_the_schedule():
    assert day_of({"date": "2026-12-03"}) == "2026-12-03"
    assert day_of({"scheduled": "2026-12-04T03:00:00Z"}) == "2026-12-03"
    assert day_of({"scheduled": "2027-01-01T03:00:00+00:00"}) == "2026-12-31"


@pytest.mark.parametrize("given, message", [
    ({}, "give the day to inspect"), ("2026-12-03", "must be a JSON object"),
    ({"date": "2026-13-01"}, "not a day of the calendar"), ({"date": "../../etc"}, "must be YYYY-MM-DD"),
    ({"date": 20261203}, "must be YYYY-MM-DD"), ({"scheduled": "tomorrow"}, "ISO 8601"),
])
def test_a_bad_day_is_refused_before_it_becomes_a_path(given, message):
    with pytest.raises(InvalidInput, match=message):
        day_of(given)


def review(**changes) -> dict:
    return {"review_id": "r1", "type": "Product", "user_id": "u1", "images": [PREFIX + "images/r1-0.jpg"],
            **changes}


@pytest.mark.parametrize("document, error", [
    (review(), None),
    (review(type="Video"), "unknown review type 'Video'"),
    (review(images=[PREFIX + "images/gone.jpg"]), "is missing"),
    (review(images=[]), "non-empty list"),
    (review(review_id="../x"), "review_id is missing"),
    (review(images=["reviews/dt=2026-12-02/images/r1-0.jpg"]), "is not a photo under"),
    (review(images=[PREFIX + "images/../../secret.jpg"]), "is not a photo under"),
    (["not", "an", "object"], "not a JSON object"),
])
def test_broken_reviews_are_named_with_what_is_wrong(document, error):
    checked = check_review(document, PREFIX, {PREFIX + "images/r1-0.jpg"}, RULES)
    assert checked.get("error") is None if error is None else error in checked["error"]


def test_a_persons_answer_is_one_class_per_photo_sent():
    assert people_classes({"classes": ["product", "package"]}, 2) == ["product", "package"]
    assert people_classes({"class": "full-length"}, 1) == ["full-length"]
    for bad in ({"classes": ["product"]}, {"classes": ["shoe", "product"]}, {"class": "product"}, "product", None):
        with pytest.raises(ValueError, match="is not"):
            people_classes(bad, 2)


def doubtful(**changes) -> dict:
    return {"review_id": "r1", "date": "2026-12-03", "type": "Style", "user_id": "u1", "model_package": "p/1",
            "model_version": 1, "execution": "e1",
            "all_photos": [{"key": PREFIX + "images/r1-0.jpg", "label": "half-length", "confidence": 0.6},
                           {"key": PREFIX + "images/r1-1.jpg", "label": "package", "confidence": 0.99}],
            "photos": [{"n": 0, "uri": "s3://u/" + PREFIX + "images/r1-0.jpg"}], **changes}


def test_a_persons_classes_are_decided_by_the_same_rules():
    row, given = answered_row(doubtful(answer={"classes": ["full-length"]}), RULES)
    assert (row["decision"], row["decided_by"], row["class"], given) == ("credited", "person", "full-length",
                                                                          [(0, "full-length")])
    row, _ = answered_row(doubtful(answer={"classes": ["half-length"]}), RULES)
    assert (row["decision"], row["decided_by"]) == ("refused", "person")
    assert [p["by"] for p in row["photos"]] == ["person", "model"]


def test_no_answer_in_time_or_a_wrong_answer_leaves_the_review_open():
    row, given = answered_row(doubtful(timed_out={"Error": "States.Timeout"}), RULES)
    assert (row["decision"], row["decided_by"], given) == ("unanswered", "none", [])
    row, given = answered_row(doubtful(answer={"classes": ["shoe"]}), RULES)
    assert row["decision"] == "unanswered" and "is not" in row["reason"] and given == []


@pytest.fixture
def table(tmp_path):
    with LocalAWS(tmp_path / ".stepsmith", persist=False) as aws:
        client = aws.client("dynamodb")
        client.create_table(TableName="decisions", BillingMode="PAY_PER_REQUEST",
                            AttributeDefinitions=[{"AttributeName": "review_id", "AttributeType": "S"}],
                            KeySchema=[{"AttributeName": "review_id", "KeyType": "HASH"}])
        yield client


def row(review_id: str, decision: str, **changes) -> dict:
    return {"review_id": review_id, "decision": decision, "decided_by": "model", "confidence": 0.97, **changes}


def test_a_retried_write_grants_nothing_twice(table):
    rows = [row(f"r{i}", "credited" if i % 2 else "refused") for i in range(60)]   # more than one transaction
    written, kept = decisions.write(table, "decisions", rows)
    assert len(written) == 60 and kept == []
    again = [{**r, "decision": "credited", "execution": "retry"} for r in rows]
    written, kept = decisions.write(table, "decisions", again)
    assert written == [] and len(kept) == 60
    stored = decisions.stored(table, "decisions", [r["review_id"] for r in rows])
    assert {k: v["decision"] for k, v in stored.items()} == {r["review_id"]: r["decision"] for r in rows}
    assert stored["r1"]["confidence"] == 0.97 and "execution" not in stored["r1"]


def test_open_rows_may_be_decided_later_and_final_ones_never_change(table):
    decisions.write(table, "decisions", [row("a", "error", reason="missing"), row("b", "unanswered"),
                                         row("c", "credited")])
    written, kept = decisions.write(table, "decisions", [row("a", "refused"), row("b", "credited", decided_by="person"),
                                                         row("c", "refused"), row("d", "credited")])
    assert [r["review_id"] for r in written] == ["a", "b", "d"] and [r["review_id"] for r in kept] == ["c"]
    stored = decisions.stored(table, "decisions", "abcd")
    assert {k: v["decision"] for k, v in stored.items()} == {"a": "refused", "b": "credited", "c": "credited",
                                                            "d": "credited"}


def test_the_summary_adds_up_the_batches_and_the_share_the_model_decided():
    batches = [{"counts": {"auto_credited": 6, "auto_refused": 2, "sent_to_people": 2, "person_credited": 1,
                           "unanswered": 1, "errors": 1}, "errors": [{"review_id": "z", "reason": "missing"}]},
               {"counts": {"auto_credited": 1, "already_recorded": 3, "auto_refused": 3}}]
    day = summarise.summary("2026-12-03", {"reviews": 15, "bad": 1}, batches, {"job": "j", "status": "Completed"},
                            "p/1")
    assert (day["auto_credited"], day["auto_refused"], day["errors"], day["sent_to_people"]) == (7, 5, 1, 2)
    assert day["share_automated"] == round(12 / 14, 4)
    assert day["error_reviews"] == [{"review_id": "z", "reason": "missing"}]
    json.dumps(day)
