"""review-inspection end to end in the engine: compiled ASL, real handlers, a real batch transform.

Each test runs `stepsmith run review-inspection --input '{"date": …}'` in a project of its own, whose local
state holds a tiny classifier promoted the way retrain-and-promote promotes one (conftest.py); a
Reviewer thread plays the review tool that reads the human-review queue and answers task tokens.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from review_inspection_checks import new_project, read_object, review_day, table_rows

from engine.aws import LocalAWS
from engine.commands import run

DATE = "2026-12-03"


def inspect(project: Path, monkeypatch: pytest.MonkeyPatch, reviewer, *args: str,
            day: str = DATE):
    monkeypatch.chdir(project)
    if reviewer is not None:
        reviewer.start()
    try:
        return CliRunner().invoke(run, ["review-inspection", "--input", json.dumps({"date": day}), *args],
                                  catch_exceptions=False)
    finally:
        if reviewer is not None:
            reviewer.stop.set()
            reviewer.join()


def summary(project: Path, day: str = DATE) -> dict:
    return json.loads(read_object(project, "stepsmith-reviewresultsbucket", f"summaries/dt={day}.json"))


def test_a_day_is_inspected_against_the_true_labels(project, day, monkeypatch):
    reviewer = review_day().Reviewer(review_day().truthful(day.truth))
    result = inspect(project, monkeypatch, reviewer)
    assert result.exit_code == 0, result.output
    rows = {row["review_id"]: row for row in table_rows(project)}
    assert set(rows) == set(day.truth)
    for review_id, truth in day.truth.items():
        row = rows[review_id]
        if truth["broken"]:
            assert row["decision"] == "error", (review_id, truth, row)
            assert row["reason"]
            continue
        assert row["decision"] in ("credited", "refused"), row
        assert row["model_version"] == 1 and row["model_package"].endswith("/review-classifier/1")
        if row["decided_by"] == "person":   # a truthful person decides every review right
            assert (row["decision"] == "credited") == truth["deserves"], (review_id, truth, row)
        else:
            assert row["decided_by"] == "model" and float(row["confidence"]) >= 0.9
    scored = review_day().score(day.truth, list(rows.values()))
    print("scored against the true labels:", scored)
    written = summary(project)
    assert written["errors"] == scored["broken"] == scored["broken_reported"]
    assert written["auto_credited"] == scored["auto_credited"]
    assert written["sent_to_people"] == len(reviewer.seen) == sum(r["decided_by"] == "person" for r in rows.values())
    # what people classed is training data for retrain-and-promote, in the contract's place and format
    if reviewer.seen:
        manifest = read_object(project, "stepsmith-datasetsbucket", f"manifests/human-review-{DATE}.manifest")
        lines = [json.loads(line) for line in manifest.decode().splitlines()]
        assert len(lines) == sum(len(task["photos"]) for task in reviewer.seen)
        for line in lines:
            assert line["source-ref"].startswith(f"s3://stepsmith-datasetsbucket/images/human-review/dt={DATE}/")
            assert line["review-class-metadata"]["class-name"] in ("package", "product", "full-length", "half-length")
            key = line["source-ref"].removeprefix("s3://stepsmith-datasetsbucket/")
            assert read_object(project, "stepsmith-datasetsbucket", key)[:3] == b"\xff\xd8\xff"

    # The same day again: every review is already decided for good, so nothing is written twice, nobody
    # is asked again and no credit is granted twice.
    again = review_day().Reviewer(review_day().truthful(day.truth))
    result = inspect(project, monkeypatch, again)
    assert result.exit_code == 0, result.output
    assert again.seen == []
    after = {row["review_id"]: row for row in table_rows(project)}
    assert {k: v for k, v in after.items() if v["decision"] != "error"} == \
        {k: v for k, v in rows.items() if v["decision"] != "error"}
    assert {k for k, v in after.items() if v["decision"] == "error"} == \
        {k for k, v in rows.items() if v["decision"] == "error"}    # re-recorded: an error may be fixed later
    second = summary(project)
    final = sum(row["decision"] in ("credited", "refused") for row in rows.values())
    assert second["already_recorded"] == final and second["sent_to_people"] == 0
    assert second["errors"] == written["errors"]     # broken reviews are reported again, still broken
    assert (second["auto_credited"] + second["person_credited"]
            == written["auto_credited"] + written["person_credited"])


def test_a_review_nobody_answers_is_left_open_and_a_later_run_decides_it(project, day, monkeypatch):
    silent = review_day().Reviewer(lambda task: None)      # the review tool reads the tasks, nobody answers
    result = inspect(project, monkeypatch, silent, "--parameter-overrides", "HumanReviewTimeout=1")
    assert result.exit_code == 0, result.output
    rows = {row["review_id"]: row for row in table_rows(project)}
    open_reviews = {task["review_id"] for task in silent.seen}
    assert open_reviews, "the tiny model is unsure of some photos"
    for task in silent.seen:   # the run shows each task a person could answer, with what the tool reads
        assert 'sent: {"review_id": ' + json.dumps(task["review_id"]) in result.output
    for review_id in open_reviews:
        assert rows[review_id]["decision"] == "unanswered"
        assert rows[review_id]["reason"] == "no answer from a person in time"
    first = summary(project)
    assert first["unanswered"] == first["sent_to_people"] == len(open_reviews)
    assert first["labels_manifest"] is None and first["labelled_photos"] == 0
    assert not (project / ".stepsmith/s3/stepsmith-datasetsbucket/manifests").exists()

    # Later, with the gate opened (threshold 0: the model decides every photo), the open reviews are
    # decided; the reviews decided for good before stay as they were.
    result = inspect(project, monkeypatch, review_day().Reviewer(lambda task: None), "--parameter-overrides",
                     "ConfidenceThreshold=0")
    assert result.exit_code == 0, result.output
    after = {row["review_id"]: row for row in table_rows(project)}
    for review_id in open_reviews:
        assert after[review_id]["decision"] in ("credited", "refused")
        assert after[review_id]["decided_by"] == "model"
    for review_id, row in rows.items():
        if row["decision"] in ("credited", "refused"):
            assert after[review_id] == row
    second = summary(project)
    assert second["sent_to_people"] == 0 and second["unanswered"] == 0
    assert second["auto_credited"] + second["auto_refused"] >= len(open_reviews)


def test_without_a_promoted_model_the_run_says_to_run_retrain_and_promote(tmp_path, monkeypatch):
    project = new_project(tmp_path / "project")
    result = inspect(project, monkeypatch, None)
    assert result.exit_code == 1
    assert "NoPromotedModel: no promoted review-classifier model yet: run retrain-and-promote first" in result.output
    job = {"TrainingJobName": "rejected", "ModelArtifacts": {"S3ModelArtifacts": "s3://nowhere/model.tar.gz"}}
    with LocalAWS(project / ".stepsmith") as aws:
        review_day().register(aws, job, status="Rejected")    # a candidate that was not promoted is no model
    result = inspect(project, monkeypatch, None)
    assert result.exit_code == 1 and "no promoted review-classifier model yet" in result.output


def test_a_day_that_is_not_a_date_is_refused_by_name(tmp_path, monkeypatch):
    project = new_project(tmp_path / "project")
    job = {"TrainingJobName": "any", "ModelArtifacts": {"S3ModelArtifacts": "s3://nowhere/model.tar.gz"}}
    with LocalAWS(project / ".stepsmith") as aws:
        review_day().register(aws, job)
    result = inspect(project, monkeypatch, None, day="../2026-12-03")
    assert result.exit_code == 1
    assert "BadInput: date must be YYYY-MM-DD, not '../2026-12-03'" in result.output


def test_the_schedule_inspects_yesterday_and_an_empty_day_is_summarised(tmp_path, monkeypatch):
    project = new_project(tmp_path / "project")
    job = {"TrainingJobName": "any", "ModelArtifacts": {"S3ModelArtifacts": "s3://nowhere/model.tar.gz"}}
    with LocalAWS(project / ".stepsmith") as aws:
        review_day().register(aws, job)       # never used: a day without photos makes no model
    monkeypatch.chdir(project)
    result = CliRunner().invoke(run, ["review-inspection", "--schedule"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    yesterday = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    if json.loads(result.stdout)["date"] != yesterday:   # the run crossed midnight: it is the day before now
        yesterday = (dt.date.fromisoformat(yesterday) - dt.timedelta(days=1)).isoformat()
    empty = summary(project, yesterday)
    assert (empty["reviews"], empty["errors"], empty["sent_to_people"], empty["share_automated"]) == (0, 0, 0, None)
    assert empty["transform"] == {"status": "no photos to classify"}
