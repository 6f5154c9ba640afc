"""The `throttling` retry preset names the errors the step's integration really raises."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from compiler import load_workflow
from engine import tasks
from engine.cli import main

SPEC = """
name: orders
resources:
  seen: {type: table, key: id}
steps:
  - name: Record
    service: SERVICE
    parameters:
      TableName: ${resource:seen}
      Item: {id: {S.$: $.id}}
    result_path: null
    retry: [throttling]
"""


def _project(root: Path, spec: str) -> Path:
    (root / "workflows").mkdir()
    (root / "workflows" / "orders.yaml").write_text(spec)
    return root


@pytest.mark.parametrize(("service", "expected"), [
    ("dynamodb:putItem", "DynamoDB.ProvisionedThroughputExceededException"),       # optimized
    ("aws-sdk:dynamodb:putItem", "DynamoDb.ProvisionedThroughputExceededException"),  # aws-sdk
])
def test_the_preset_is_named_by_the_integration(tmp_path, service, expected):
    workflow = load_workflow(_project(tmp_path, SPEC.replace("SERVICE", service)) / "workflows/orders.yaml",
                             tmp_path)
    errors = workflow.steps[0].retry[0].errors
    assert expected in errors and "ProvisionedThroughputExceededException" not in errors
    assert all(name.startswith(expected.split(".")[0] + ".") for name in errors)


def test_the_preset_covers_what_a_handler_and_the_steps_inside_a_map_raise(tmp_path):
    spec = """
name: orders
steps:
  - name: Each
    map:
      items: $.items
      steps:
        - name: Train
          service: sagemaker:createTrainingJob.sync
          parameters:
            TrainingJobName.$: $.name
            RoleArn.$: $.role
            OutputDataConfig: {S3OutputPath.$: $.output}
    retry: [throttling]
  - name: Score
    handler: shop.score
    retry: [throttling]
"""
    (tmp_path / "handlers").mkdir()
    (tmp_path / "handlers" / "shop.py").write_text("def score(event, context):\n    return event\n")
    workflow = load_workflow(_project(tmp_path, spec) / "workflows/orders.yaml", tmp_path)
    assert workflow.steps[0].retry[0].errors == ["SageMaker.ThrottlingException"]
    handler_errors = workflow.steps[1].retry[0].errors
    assert "Lambda.TooManyRequestsException" in handler_errors and "ThrottlingException" in handler_errors


def test_a_throttled_call_is_retried_when_run(tmp_path, monkeypatch):
    """The local DynamoDB refuses the first PutItem as AWS does under load; the preset retries it."""
    monkeypatch.chdir(_project(tmp_path, SPEC.replace("SERVICE", "dynamodb:putItem")))
    refused: list[str] = []

    def throttle_once(model, **_):
        if refused:
            return None
        refused.append(model.name)
        error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "Rate exceeded"},
                 "ResponseMetadata": {"HTTPStatusCode": 400, "RequestId": "r-1"}}
        return SimpleNamespace(status_code=400, headers={}), error

    make_client = tasks._client

    def client(service: str):
        made = make_client(service)
        if service == "dynamodb":
            made.meta.events.register("before-call.dynamodb.PutItem", throttle_once, unique_id="throttle-once")
        return made

    monkeypatch.setattr(tasks, "_client", client)
    result = CliRunner().invoke(main, ["run", "orders", "-q", "--name", "throttled", "--input", '{"id": "o-1"}'],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert refused == ["PutItem"]
    history = json.loads((tmp_path / ".stepsmith/executions/throttled.json").read_text())
    failed = [event for event in history["events"] if event["type"] == "TaskFailed"]
    assert [event["taskFailedEventDetails"]["error"] for event in failed] == [
        "DynamoDB.ProvisionedThroughputExceededException"]
    (table,) = (tmp_path / ".stepsmith/dynamodb").glob("*SeenTable.json")
    assert json.loads(table.read_text())["Items"] == [{"id": {"S": "o-1"}}]
