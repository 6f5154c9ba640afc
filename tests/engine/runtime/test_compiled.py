"""End to end from a workflow spec: `stepsmith run` compiles, then runs the compiled ASL and template."""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main

HELLO = Path(__file__).parent / "fixtures" / "hello"


def stepsmith(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "hello"
    shutil.copytree(HELLO, root)
    monkeypatch.chdir(root)
    return root


def test_run_compiles_then_runs_handlers_and_service_tasks(project):
    result = stepsmith("run", "hello", "--input", '{"name": "Ada"}')
    assert result.exit_code == 0, result.stderr
    assert "compiling workflows/ → build/" in result.stderr
    assert (project / "build/template.yaml").is_file()
    output = json.loads(result.stdout)
    assert output["greeting"] == {"key": "notes/Ada.txt", "text": "hello Ada"}
    assert output["note"] == {"text": "hello Ada"}          # aws-sdk s3:getObject read what the handler wrote
    table = json.loads((project / ".stepsmith/dynamodb/hello-SeenTable.json").read_text())
    assert table["Items"] == [{"id": {"S": "notes/Ada.txt"}}]  # dynamodb:putItem with ${resource:seen}
    assert (project / ".stepsmith/s3/hello-notesbucket/notes/Ada.txt").read_text() == "hello Ada"

    again = stepsmith("run", "hello", "-q")
    assert again.exit_code == 0 and "compiling" not in again.stderr

    spec = project / "workflows/hello.yaml"
    spec.write_text(spec.read_text().replace("GREETING: hello", "GREETING: bonjour"))
    os.utime(spec, (time.time() + 5, time.time() + 5))
    changed = stepsmith("run", "hello", "--input", '{"name": "Bo"}')
    assert "compiling" in changed.stderr
    assert json.loads(changed.stdout)["greeting"]["text"] == "bonjour Bo"


def test_spec_errors_stop_the_run_with_exit_2(project):
    (project / "workflows/hello.yaml").write_text("name: hello\nsteps: 3\n")
    result = stepsmith("run", "hello")
    assert result.exit_code == 2
    assert "workflows/hello.yaml" in result.stderr


def test_send_task_reaches_an_execution_in_another_process(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    definition = tmp_path / "callback.asl.json"
    definition.write_text(json.dumps({"StartAt": "Ask", "States": {"Ask": {
        "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:listBuckets.waitForTaskToken",
        "Parameters": {}, "TimeoutSeconds": 60, "End": True}}}))
    stepsmith_bin = Path(sys.executable).parent / "stepsmith"
    process = subprocess.Popen([str(stepsmith_bin), "exec", str(definition)], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        token = None
        for line in process.stderr:
            if "waiting for task token" in line:
                token = line.split("waiting for task token")[1].split()[0]
                break
        assert token, "the run never announced its task token"
        sent = stepsmith("send-task", "success", token, "--output", '{"approved": true}')
        assert sent.exit_code == 0, sent.stderr
        stdout, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0
    assert json.loads(stdout) == {"approved": True}


def test_run_shows_what_a_waiting_task_in_a_distributed_map_sent(tmp_path, monkeypatch):
    # A distributed map's child executions have histories of their own; `stepsmith run` still shows their
    # waits for a task token, with the message a review tool would read (the token itself on its own line).
    monkeypatch.chdir(tmp_path)
    definition = tmp_path / "review.asl.json"
    definition.write_text(json.dumps({"StartAt": "Queue", "States": {
        "Queue": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sqs:createQueue",
                  "Parameters": {"QueueName": "reviews"}, "ResultPath": "$.queue", "Next": "Each"},
        "Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2,
                 "ItemSelector": {"review.$": "$$.Map.Item.Value", "queue.$": "$.queue.QueueUrl"},
                 "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                                   "StartAt": "Ask", "States": {"Ask": {
                                       "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                                       "Parameters": {"QueueUrl.$": "$.queue", "MessageBody": {
                                           "task_token.$": "$$.Task.Token", "review.$": "$.review"}},
                                       "TimeoutSeconds": 60, "End": True}}},
                 "End": True}}}))
    stepsmith_bin = Path(sys.executable).parent / "stepsmith"
    process = subprocess.Popen([str(stepsmith_bin), "exec", str(definition), "--input", '{"items": ["r-7"]}'],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        token = sent = None
        for line in process.stderr:
            if "waiting for task token" in line:
                token = line.split("waiting for task token")[1].split()[0]
            elif token and line.strip().startswith("sent:"):
                sent = line.strip()
                break
        assert token and sent == 'sent: {"review": "r-7"}', sent
        answered = stepsmith("send-task", "success", token, "--output", '{"classes": ["product"]}')
        assert answered.exit_code == 0, answered.stderr
        stdout, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0
    assert json.loads(stdout) == [{"classes": ["product"]}]
