"""The CLI end to end on the fixture app: exit codes, history, S3 trigger events, --out-dir, mocks, s3."""
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main

FIXTURE_APP = Path(__file__).parent / "fixtures" / "app"


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(FIXTURE_APP, root)
    monkeypatch.chdir(root)
    return root


def stepsmith(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_run_succeeds_prints_output_and_writes_history(project):
    result = stepsmith("run", "demo", "--input", '{"name": "Ada"}', "--name", "first")
    assert result.exit_code == 0, result.output
    assert "→ Greet" in result.stderr and "✓ Greet" in result.stderr
    output = json.loads(result.stdout)
    assert output["bucket"] == "proj-databucket"
    assert output["greeting"]["greeting"] == "hello Ada"
    record = json.loads((project / ".stepsmith/executions/first.json").read_text())
    assert record["status"] == "SUCCEEDED" and record["name"] == "first"
    assert record["events"][0]["type"] == "ExecutionStarted"
    assert record["events"][-1]["type"] == "ExecutionSucceeded"


def test_failed_execution_exits_1_with_the_error(project):
    result = stepsmith("run", "demo", "--input", '{"fail": true}')
    assert result.exit_code == 1
    assert "FAILED: Demo.Failed: the fail handler raised" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["run", "nope"], "no state machine for workflow 'nope'"),
    (["run", "demo", "--input", "{bad"], "--input:1:2: input is not valid JSON"),
    (["run", "demo", "--input", "@missing.json"], "missing.json: cannot read the input file"),
    (["run", "demo", "--test-case", "X"], "--test-case needs --mock-config"),
])
def test_usage_errors_exit_2_with_one_line(project, args, message):
    result = stepsmith(*args)
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_file_upload_starts_with_the_s3_event_and_out_dir_gets_written_objects(project, tmp_path):
    upload = tmp_path / "Report.TXT"    # suffix matched case-insensitively, as the rule says
    upload.write_text("hello")
    # Greet then Done write nothing; make the run write an object through a real handler instead.
    definition = project / "build/statemachines/demo.asl.json"
    asl = json.loads(definition.read_text())
    asl["States"]["Done"] = {
        "Type": "Task", "Resource": "arn:aws:lambda:us-east-1:111111111111:function:proj-DemoWriteFunction",
        "Parameters": {"key.$": "States.Format('out/{}', $.detail.object.key)", "body": "processed"},
        "ResultPath": "$.written", "End": True}
    definition.write_text(json.dumps(asl))
    out = tmp_path / "out"
    result = stepsmith("run", "demo", "--file", str(upload), "--out-dir", str(out), "--name", "triggered")
    assert result.exit_code == 0, result.stderr
    event = json.loads(json.loads((project / ".stepsmith/executions/triggered.json").read_text())["input"])
    assert event["source"] == "aws.s3" and event["detail-type"] == "Object Created"
    assert event["resources"] == ["arn:aws:s3:::proj-databucket"]
    assert event["detail"]["bucket"] == {"name": "proj-databucket"}
    assert event["detail"]["object"]["key"] == "Report.TXT" and event["detail"]["object"]["size"] == 5
    assert event["detail"]["reason"] == "PutObject"
    assert (out / "out" / "Report.TXT").read_text() == "processed"
    assert not (out / "Report.TXT").exists()     # the upload itself is not something the run wrote
    assert (project / ".stepsmith/s3/proj-databucket/Report.TXT").read_text() == "hello"


def test_file_whose_suffix_the_rule_rejects_is_an_input_error(project, tmp_path):
    upload = tmp_path / "movie.mp4"
    upload.write_bytes(b"x")
    result = stepsmith("run", "demo", "--file", str(upload))
    assert result.exit_code == 2
    assert "event pattern does not match" in result.stderr


def test_run_with_mock_config(project):
    config = Path(__file__).parent / "fixtures/mocks/MockConfigFile.json"
    result = stepsmith("run", "demo", "--mock-config", str(config), "--test-case", "HappyPath", "-q")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["greeting"] == {"greeting": "mocked hello"}


def test_history_lists_and_shows(project):
    stepsmith("run", "demo", "--name", "one", "-q")
    listing = stepsmith("history")
    assert listing.exit_code == 0 and "one" in listing.stdout and "SUCCEEDED" in listing.stdout
    shown = stepsmith("history", "one")
    assert "TaskStateEntered" in shown.stdout and "Greet" in shown.stdout
    assert stepsmith("history", "two").exit_code == 2


def test_s3_ls_and_cp_work_on_the_persisted_state(project, tmp_path):
    source = tmp_path / "data.csv"
    source.write_text("a,b\n")
    stepsmith("run", "demo", "-q")
    assert stepsmith("s3", "cp", str(source), "s3://proj-databucket/in/").exit_code == 0
    listing = stepsmith("s3", "ls", "s3://proj-databucket/in/")
    assert listing.stdout.rstrip().endswith(" 4 data.csv")
    copy = tmp_path / "copy.csv"
    assert stepsmith("s3", "cp", "s3://proj-databucket/in/data.csv", str(copy)).exit_code == 0
    assert copy.read_text() == "a,b\n"
    assert stepsmith("s3", "ls").stdout.rstrip().endswith(" proj-databucket")


def test_exec_runs_a_raw_definition(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    definition = tmp_path / "hello.asl.json"
    definition.write_text(json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"ok": 1},
                                                                        "End": True}}}))
    result = stepsmith("exec", str(definition), "-q")
    assert result.exit_code == 0 and json.loads(result.stdout) == {"ok": 1}
    failing = tmp_path / "fail.asl.json"
    failing.write_text(json.dumps({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E"}}}))
    assert stepsmith("exec", str(failing), "-q").exit_code == 1
    assert not (tmp_path / ".stepsmith").exists()


def test_send_task_without_a_waiting_execution_exits_1(project):
    result = stepsmith("send-task", "success", "abc123", "--output", "{}", "--wait", "0.1")
    assert result.exit_code == 1
    assert "no running execution is waiting" in result.stderr


def test_handler_prints_go_to_stderr_not_into_the_output(project):
    handler = project / "handlers/demo.py"
    handler.write_text(handler.read_text().replace('def greet(event, context):\n',
                                                   'def greet(event, context):\n    print("log line")\n'))
    result = stepsmith("run", "demo", "-q")
    assert result.exit_code == 0
    assert "log line" in result.stderr
    json.loads(result.stdout)


def test_definition_aws_would_reject_is_an_input_error_naming_the_file(project):
    (project / "build/statemachines/demo.asl.json").write_text(json.dumps({"StartAt": "Missing", "States": {
        "P": {"Type": "Pass", "End": True}}}))
    result = stepsmith("run", "demo")
    assert result.exit_code == 2
    assert "demo.asl.json" in result.stderr
