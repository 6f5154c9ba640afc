"""Events that chain: a run's S3 writes and PutEvents start the local workflows whose rules match, loops are
refused, schedules fire on demand, and what a run published is kept with its history."""
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main

FIXTURE = Path(__file__).parent / "fixtures" / "chain"


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(FIXTURE, root)
    monkeypatch.chdir(root)
    return root


def stepsmith(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def record(project: Path, name: str) -> dict:
    return json.loads((project / ".stepsmith" / "executions" / f"{name}.json").read_text())


def test_an_s3_write_starts_the_workflow_whose_prefix_matches_with_the_event_aws_sends(project):
    result = stepsmith("run", "ProducerStateMachine", "--input", '{"key": "incoming/a.txt"}', "--name", "producer")
    assert result.exit_code == 0, result.stderr
    parent = record(project, "producer")
    started = {entry["stateMachine"]: entry for entry in parent["startedExecutions"]}
    assert set(started) == {"proj-ConsumerStateMachine", "proj-TallyStateMachine"}
    consumer = started["proj-ConsumerStateMachine"]
    assert consumer["status"] == "SUCCEEDED" and consumer["cause"] == "s3://proj-inboxbucket/incoming/a.txt"
    child = record(project, consumer["name"])
    event = json.loads(child["input"])
    assert event["source"] == "aws.s3" and event["detail-type"] == "Object Created"
    assert event["detail"]["bucket"]["name"] == "proj-inboxbucket"
    assert event["detail"]["object"]["key"] == "incoming/a.txt" and event["detail"]["object"]["size"] == 5
    assert event["resources"] == ["arn:aws:s3:::proj-inboxbucket"]
    assert json.loads(child["output"]) == {"key": "incoming/a.txt", "body": "hello"}   # it read the object
    assert "starts proj-ConsumerStateMachine" in result.stderr


def test_a_write_no_rule_matches_starts_nothing_but_put_events_still_do(project):
    result = stepsmith("run", "ProducerStateMachine", "--input", '{"key": "elsewhere/a.txt"}', "--name", "p")
    assert result.exit_code == 0, result.stderr
    started = record(project, "p")["startedExecutions"]
    assert [entry["stateMachine"] for entry in started] == ["proj-TallyStateMachine"]
    tally = json.loads(record(project, started[0]["name"])["input"])
    assert tally["source"] == "stepsmith.test" and tally["detail-type"] == "Batch Done"
    assert tally["detail"] == {"count": 2} and tally["account"] == "111111111111"


def test_what_a_run_published_is_kept_in_its_history(project):
    stepsmith("run", "ProducerStateMachine", "--input", '{"key": "elsewhere/b.txt"}', "--name", "pub")
    published = record(project, "pub")["published"]
    assert [(m["topic"], m["subject"], m["message"]) for m in published["sns"]] == [
        ("proj-AlertsTopic", "done", "all done")]
    assert [(m["queue"], json.loads(m["body"])) for m in published["sqs"]] == [("proj-JobsQueue", {"job": 1})]
    assert [(e["source"], e["detail"]) for e in published["events"]] == [("stepsmith.test", {"count": 2})]
    shown = stepsmith("published", "pub")
    assert shown.exit_code == 0, shown.output
    assert "proj-AlertsTopic" in shown.stdout and "proj-JobsQueue" in shown.stdout
    assert "proj-TallyStateMachine" in shown.stdout


def test_a_workflow_that_would_start_itself_is_refused_at_run_time(project, tmp_path):
    upload = tmp_path / "clip.txt"
    upload.write_text("x")
    result = stepsmith("run", "LoopStateMachine", "--file", str(upload), "--key", "loop/clip.txt", "--name", "l")
    assert result.exit_code == 0, result.stderr
    parent = record(project, "l")
    assert json.loads(parent["input"])["detail"]["object"]["key"] == "loop/clip.txt"
    assert parent["startedExecutions"] == []
    (refused,) = parent["refusedExecutions"]
    assert refused["stateMachine"] == "proj-LoopStateMachine"
    assert refused["cause"] == "s3://proj-inboxbucket/loop/loop/clip.txt"
    assert "a loop" in result.stderr
    # The write itself happened, as on AWS; only the execution it would start is refused.
    assert (project / ".stepsmith/s3/proj-inboxbucket/loop/loop/clip.txt").read_text() == "again"


def test_key_places_the_upload_so_prefix_triggers_can_be_tried(project, tmp_path):
    upload = tmp_path / "clip.txt"
    upload.write_text("abc")
    result = stepsmith("run", "ConsumerStateMachine", "--file", str(upload), "--key", "incoming/3/clip.txt",
                       "--name", "c")
    assert result.exit_code == 0, result.stderr
    assert json.loads(record(project, "c")["output"]) == {"key": "incoming/3/clip.txt", "body": "abc"}
    wrong = stepsmith("run", "ConsumerStateMachine", "--file", str(upload), "--key", "other/clip.txt")
    assert wrong.exit_code == 2 and "event pattern does not match" in wrong.stderr
    assert stepsmith("run", "ConsumerStateMachine", "--key", "x").exit_code == 2


def test_schedule_fires_now_with_its_input_and_placeholders_filled_in(project):
    result = stepsmith("run", "NightlyStateMachine", "--schedule", "--name", "n")
    assert result.exit_code == 0, result.stderr
    given = json.loads(record(project, "n")["input"])
    assert given["mode"] == "full"
    assert given["day"].endswith("Z") and "<aws" not in given["day"] and len(given["day"]) == 20
    assert len(given["run"]) == 36
    none = stepsmith("run", "ConsumerStateMachine", "--schedule")
    assert none.exit_code == 2 and "has no schedule" in none.stderr


def test_a_distributed_maps_failed_children_reach_the_parents_history(project):
    result = stepsmith("run", "FanOutStateMachine", "--input", '{"items": [{"n": 1}, {"n": -2}, {"n": 3}]}',
                       "--name", "fan")
    assert result.exit_code == 0, result.stderr        # one failure is tolerated
    (map_run,) = record(project, "fan")["mapRuns"]
    assert map_run["mapRunArn"].startswith("arn:aws:states:us-east-1:111111111111:mapRun:proj-FanOutStateMachine/")
    assert (map_run["executions"], map_run["failed"]) == (3, 1)
    (failed,) = map_run["failedExecutions"]
    assert failed["Status"] == "FAILED" and json.loads(failed["Input"]) == {"n": -2}
    assert failed["Error"] == "ValueError" and "item -2 is negative" in failed["Cause"]
    too_many = stepsmith("run", "FanOutStateMachine", "--input", '{"items": [{"n": -1}, {"n": -2}]}', "--name", "f2")
    assert too_many.exit_code == 1
    assert record(project, "f2")["mapRuns"][0]["failed"] == 2


COMPILED = {
    "store.yaml": """
resources:
  inbox: {type: bucket, shared: true}
steps:
  - name: Store
    service: s3:putObject
    parameters: {Bucket: "${resource:inbox}", Key.$: "States.Format('incoming/{}.json', $$.Execution.Name)",
                 Body.$: States.JsonToString($)}
    result_path: null
""",
    "consume.yaml": """
trigger:
  s3: {bucket: inbox, prefix: incoming/, suffix: [.json]}
resources:
  inbox: {type: bucket, shared: true}
steps:
  - name: Again
    service: s3:putObject
    parameters: {Bucket: "${resource:inbox}", Key: incoming/again.json, Body: "{}"}
""",
    "nightly.yaml": """
trigger:
  schedule: {cron: "0 3 * * ? *", input: {mode: nightly, at: "<aws.scheduler.scheduled-time>"}}
steps:
  - name: Start
    pass: {}
""",
}


@pytest.fixture
def compiled(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "shop"
    (root / "workflows").mkdir(parents=True)
    for name, text in COMPILED.items():
        (root / "workflows" / name).write_text(text)
    monkeypatch.chdir(root)
    return root


def test_compiled_workflows_chain_through_s3_and_a_self_trigger_is_refused(compiled):
    result = stepsmith("run", "store", "--input", '{"a": 1}', "--name", "s")
    assert result.exit_code == 0, result.stderr
    (consume,) = record(compiled, "s")["startedExecutions"]
    assert consume["stateMachine"] == "shop-consume" and consume["cause"] == "s3://shop-inboxbucket/incoming/s.json"
    # consume writes to the bucket whose new objects start it (the compiler's recursion lint warns): refused.
    (refused,) = record(compiled, consume["name"])["refusedExecutions"]
    assert refused["stateMachine"] == "shop-consume"
    assert refused["cause"] == "s3://shop-inboxbucket/incoming/again.json"


def test_compiled_schedule_fires_with_its_declared_input(compiled):
    result = stepsmith("run", "nightly", "--schedule", "--name", "n")
    assert result.exit_code == 0, result.stderr
    given = json.loads(record(compiled, "n")["input"])
    assert given["mode"] == "nightly" and given["at"].endswith("Z") and given["at"][:2] == "20"


def test_writing_the_same_bytes_again_is_a_new_object_event(project):
    for name in ("first", "second"):
        result = stepsmith("run", "ProducerStateMachine", "--input", '{"key": "incoming/a.txt"}', "--name", name)
        assert result.exit_code == 0, result.stderr
        started = [entry["stateMachine"] for entry in record(project, name)["startedExecutions"]]
        assert "proj-ConsumerStateMachine" in started


def test_a_message_received_during_the_run_was_still_published(project):
    assert stepsmith("run", "DrainStateMachine", "--name", "d").exit_code == 0
    assert [m["body"] for m in record(project, "d")["published"]["sqs"]] == ["consumed"]
