"""The command line as a new user meets it (issue 17): names, a build that follows the specs, input checked
as AWS checks it, output people read, and what a run leaves behind (issue 13, "Nothing lost")."""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import main

FRONTDOOR = Path(__file__).parent / "fixtures" / "frontdoor"


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "fd"
    shutil.copytree(FRONTDOOR, root, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.chdir(root)
    return root


def stepsmith(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), catch_exceptions=False, input=input)


def cli_process(root: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "engine.cli", *args], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


# ------------------------------------------------------------------------------------------------ names


@pytest.mark.parametrize("typed", ["b12", "b12-jsonpath", "b12-jsonpath.yaml", "workflows/b12-jsonpath.yaml"])
def test_a_workflow_is_its_name_its_file_name_or_its_path_everywhere(project, typed):
    validated = stepsmith("validate", typed)
    assert validated.exit_code == 0 and validated.stdout == "ok: 1 workflow valid\n", validated.stderr
    result = stepsmith("run", typed, "-q")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["greeting"]["greeting"] == "hello"
    drawn = stepsmith("graph", typed)
    assert drawn.exit_code == 0, drawn.stderr
    assert "λ front.greet" in drawn.stdout


def test_a_deleted_spec_no_longer_runs(project):
    assert stepsmith("run", "shapes", "--input", '{"items": []}', "-q").exit_code == 0
    (project / "workflows" / "shapes.yaml").unlink()
    result = stepsmith("run", "shapes", "-q")
    assert result.exit_code == 2
    assert "no state machine for workflow 'shapes'" in result.stderr


def test_a_build_of_some_specs_is_recompiled_for_the_others(project):
    assert stepsmith("compile", "workflows/shapes.yaml").exit_code == 0
    result = stepsmith("run", "b12", "-q")
    assert result.exit_code == 0, result.stderr


def test_a_broken_spec_is_skipped_with_its_reason_and_the_others_run(project):
    (project / "workflows" / "broken.yaml").write_text("steps:\n  - name: A\n    handler: front.nope\n")
    result = stepsmith("run", "b12")
    assert result.exit_code == 0, result.stderr
    assert "skipped workflows/broken.yaml: workflows/broken.yaml:3:14: front.py defines no function 'nope'" \
        in result.stderr
    again = stepsmith("run", "broken")
    assert again.exit_code == 2
    assert "workflows/broken.yaml: not compiled: its spec has 1 error(s)" in again.stderr


def test_parameter_overrides_are_checked_like_cloudformation(project):
    typo = stepsmith("run", "b12", "--parameter-overrides", "Mod=slow")
    assert typo.exit_code == 2
    assert "Parameters: [Mod] do not exist in the template" in typo.stderr
    refused = stepsmith("run", "b12", "--parameter-overrides", "Mode=medium")
    assert refused.exit_code == 2
    assert "Parameter 'Mode' must be one of AllowedValues: fast, slow (got 'medium')" in refused.stderr
    fine = stepsmith("run", "b12", "-q", "--parameter-overrides", "Mode=slow")
    assert json.loads(fine.stdout)["greeting"]["mode"] == "slow"
    compiled = stepsmith("compile", "--parameter-overrides", "Mode=medium")
    assert compiled.exit_code == 2 and "must be one of AllowedValues" in compiled.stderr


def test_cloudformation_constraints_beyond_allowed_values():
    from compiler.overrides import check_parameter_values

    parameters = {"Cidr": {"Type": "String", "AllowedPattern": r"(\d{1,3}\.){3}\d{1,3}/\d{1,2}"},
                  "Port": {"Type": "Number", "MinValue": 1, "MaxValue": 65535},
                  "Name": {"Type": "String", "MinLength": 3, "ConstraintDescription": "three letters or more"},
                  "Ids": {"Type": "CommaDelimitedList", "AllowedValues": ["a", "b"]}}
    assert check_parameter_values(parameters, {"Cidr": "10.0.0.0/16", "Port": "443", "Name": "abc",
                                               "Ids": "a,b"}) == []
    assert check_parameter_values(parameters, {"Cidr": "10.0.0/16", "Port": "0", "Name": "ab", "Ids": "a,c"}) == [
        "Parameter 'Cidr' must match pattern (\\d{1,3}\\.){3}\\d{1,3}/\\d{1,2} (AllowedPattern; got '10.0.0/16')",
        "Parameter 'Port' must be a number not less than 1 (got 0)",
        "Parameter 'Name' failed to satisfy constraint: three letters or more (got 'ab')",
        "Parameter 'Ids' must be one of AllowedValues: a, b (got 'c')"]


# ------------------------------------------------------------------------------------------------ output


def test_progress_shows_a_caught_parallel_failure_and_map_counts(project):
    result = stepsmith("run", "shapes", "--input", '{"items": [1, 2, 3]}')
    assert result.exit_code == 0, result.stderr
    assert "✗ Fan out" in result.stderr and "failed with ValueError; caught" in result.stderr
    assert "✓ Fan out" not in result.stderr
    assert "iterations: 3/3 done" in result.stderr
    assert json.loads(result.stdout)["squares"] == [1, 4, 9]


def test_a_handler_returning_nan_fails_as_lambda_does(project):
    result = stepsmith("run", "odd", "--name", "nan")
    assert result.exit_code == 1
    assert "FAILED: Runtime.MarshalError" in result.stderr and "NaN" not in result.stdout
    invoked = stepsmith("invoke", "Not a number", "--event", "{}")
    assert invoked.exit_code == 1
    assert json.loads(invoked.stderr.splitlines()[-1])["errorType"] == "Runtime.MarshalError"


def test_history_prints_whole_names_when_not_on_a_terminal(project):
    name = "a-rather-long-execution-name-that-a-table-would-cut-" + "x" * 20
    assert stepsmith("run", "b12", "-q", "--name", name).exit_code == 0
    listing = stepsmith("history")
    assert listing.stdout.splitlines()[0] == "name\tstate machine\tstatus\tstarted\tseconds"
    row = listing.stdout.splitlines()[1].split("\t")
    assert row[:3] == [name, "fd-b12", "SUCCEEDED"]
    shown = stepsmith("history", name)
    assert any(line.split("\t")[1:3] == ["TaskStateEntered", "Greet"] for line in shown.stdout.splitlines())


def test_ctrl_c_aborts_with_a_reason_and_keeps_the_history(project, tmp_path):
    marker = tmp_path / "inside-slow"
    process = cli_process(project, "run", "odd", "--name", "stopped",
                          "--input", json.dumps({"slow": True, "marker": str(marker)}))
    deadline = time.monotonic() + 120
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)   # until the run is inside the slow handler
    process.send_signal(signal.SIGINT)
    time.sleep(0.05)
    process.send_signal(signal.SIGINT)   # impatient: a second Ctrl-C must not cost the history
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "ABORTED: Stepsmith.Interrupted: Stopped with Ctrl-C (SIGINT) in state 'Slow'" in stderr
    history = json.loads((project / ".stepsmith" / "executions" / "stopped.json").read_text())
    assert history["status"] == "ABORTED" and history["error"] == "Stepsmith.Interrupted"
    assert history["events"][-1]["type"] == "ExecutionAborted"
    assert history["events"][-1]["executionAbortedEventDetails"]["cause"].startswith("Stopped with Ctrl-C")


# ------------------------------------------------------------------------------------------------ names of runs


def test_a_run_that_was_killed_shows_as_such(project):
    from engine.commands import reserve_execution

    record = reserve_execution(project, "killed", "arn:aws:states:us-east-1:1:execution:fd-b12:killed", "fd-b12")
    document = json.loads(record.read_text())
    assert document["status"] == "RUNNING"
    document["pid"] = 2 ** 22 + 12345   # above any pid this machine hands out
    record.write_text(json.dumps(document))
    row = stepsmith("history").stdout.splitlines()[1].split("\t")
    assert row[:3] == ["killed", "fd-b12", "RUNNING (its process ended without a result)"]


@pytest.mark.parametrize("name", ["a/b", "..", "has space", "x" * 81, "semi;colon", ""])
def test_execution_names_follow_aws_rules(project, name):
    result = stepsmith("run", "b12", "--name", name)
    assert result.exit_code == 2
    assert "not a valid execution name" in result.stderr


def test_a_reused_name_is_execution_already_exists_and_keeps_the_first_history(project):
    assert stepsmith("run", "b12", "-q", "--name", "once").exit_code == 0
    before = (project / ".stepsmith/executions/once.json").read_text()
    again = stepsmith("run", "shapes", "-q", "--name", "once", "--input", '{"items": []}')
    assert again.exit_code == 2
    assert again.stderr.startswith("ExecutionAlreadyExists: Execution Already Exists: "
                                   "'arn:aws:states:us-east-1:111111111111:execution:fd-shapes:once'")
    assert (project / ".stepsmith/executions/once.json").read_text() == before


# ------------------------------------------------------------------------------------------------ files


def test_out_dir_gets_what_the_run_wrote_even_when_unchanged(project, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    assert stepsmith("run", "b12", "-q", "--input", '{"name": "ada"}', "--out-dir", str(first)).exit_code == 0
    assert (first / "notes" / "ada.txt").read_text() == "hello ada"
    assert stepsmith("run", "b12", "-q", "--input", '{"name": "ada"}', "--out-dir", str(second)).exit_code == 0
    assert (second / "notes" / "ada.txt").read_text() == "hello ada"


def test_s3_ls_and_cp_follow_the_aws_cli(project, tmp_path):
    bucket = "fd-notesbucket"
    # Before any run: the workflows' buckets exist, and input can be staged.
    assert bucket in stepsmith("s3", "ls").stdout
    staged = tmp_path / "input.json"
    staged.write_text('{"a": 1}')
    upload = stepsmith("s3", "cp", str(staged), f"s3://{bucket}/in/")
    assert upload.exit_code == 0 and upload.stdout.strip() == f"upload: {staged} to s3://{bucket}/in/input.json"
    assert stepsmith("s3", "cp", "-", f"s3://{bucket}/in/stdin.txt", input="from stdin").exit_code == 0
    listing = stepsmith("s3", "ls", bucket)              # no s3:// needed, as with `aws s3 ls`
    assert listing.stdout.split() == ["PRE", "in/"]
    inside = stepsmith("s3", "ls", f"s3://{bucket}/in/").stdout.splitlines()
    assert [line.split()[-1] for line in inside] == ["input.json", "stdin.txt"]
    recursive = stepsmith("s3", "ls", "--recursive", f"s3://{bucket}").stdout.splitlines()
    assert [line.split()[-1] for line in recursive] == ["in/input.json", "in/stdin.txt"]
    assert stepsmith("s3", "ls", f"s3://{bucket}/nothing-here").exit_code == 1
    to_stdout = stepsmith("s3", "cp", f"s3://{bucket}/in/input.json", "-")
    assert to_stdout.stdout == '{"a": 1}' and not (project / "-").exists()
    into_new_folder = stepsmith("s3", "cp", f"s3://{bucket}/in/input.json", "fresh/")
    assert into_new_folder.exit_code == 0 and (project / "fresh" / "input.json").read_text() == '{"a": 1}'
    copied = stepsmith("s3", "cp", "--recursive", f"s3://{bucket}/in/", str(tmp_path / "all"))
    assert copied.exit_code == 0 and sorted(p.name for p in (tmp_path / "all").iterdir()) == [
        "input.json", "stdin.txt"]
    missing = stepsmith("s3", "cp", str(staged), "s3://nobucket/x")
    assert missing.exit_code == 2 and "NoSuchBucket" in missing.stderr
    # What was staged is what the next run's handlers see.
    run = stepsmith("run", "b12", "-q")
    assert run.exit_code == 0
    assert (project / ".stepsmith" / "s3" / bucket / "in" / "stdin.txt").read_text() == "from stdin"


# ------------------------------------------------------------------------------------------------ SAM habits


def test_env_vars_file_in_sams_format(project):
    (project / "env.json").write_text(json.dumps({"Parameters": {"GREETING": "hi", "UNDECLARED": "x"}}))
    result = stepsmith("run", "b12", "-q", "--env-vars", "env.json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["greeting"]["greeting"] == "hi"
    (project / "env.json").write_text(json.dumps({"B12GreetFunction": {"GREETING": "hey"}}))
    assert json.loads(stepsmith("run", "b12", "-q", "--env-vars", "env.json").stdout)["greeting"]["greeting"] == "hey"
    (project / "env.json").write_text(json.dumps({"NoSuchFunction": {"GREETING": "hey"}}))
    wrong = stepsmith("run", "b12", "--env-vars", "env.json")
    assert wrong.exit_code == 2 and "env.json: no function NoSuchFunction" in wrong.stderr


def test_samconfig_environment(project):
    (project / "samconfig.toml").write_text(
        'version = 0.1\n[dev.global.parameters]\nstack_name = "fd-dev"\n'
        '[dev.deploy.parameters]\nparameter_overrides = "Mode=slow"\n')
    result = stepsmith("run", "b12", "-q", "--config-env", "dev", "--out-dir", "out")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["greeting"]["mode"] == "slow"
    assert (project / ".stepsmith" / "s3" / "fd-dev-notesbucket" / "notes" / "world.txt").is_file()
    flag_wins = stepsmith("run", "b12", "-q", "--config-env", "dev", "--parameter-overrides", "Mode=fast")
    assert json.loads(flag_wins.stdout)["greeting"]["mode"] == "fast"
    unknown = stepsmith("run", "b12", "--config-env", "prod")
    assert unknown.exit_code == 2 and "no environment [prod] (environments: dev)" in unknown.stderr


def test_invoke_runs_one_handler_as_lambda_would_on_the_local_state(project):
    (project / "event.json").write_text('{"name": "grace"}')
    result = stepsmith("invoke", "Greet", "--event", "@event.json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"key": "notes/grace.txt", "greeting": "hello", "mode": "fast"}
    assert (project / ".stepsmith/s3/fd-notesbucket/notes/grace.txt").read_text() == "hello grace"
    failing = stepsmith("invoke", "Breaks")
    assert failing.exit_code == 1 and json.loads(failing.stderr.splitlines()[-1])["errorMessage"] == "boom"
    assert stepsmith("invoke", "No such step").exit_code == 2
    needs = stepsmith("invoke", "Answer")
    assert needs.exit_code == 2 and "needs parameter Secret" in needs.stderr


# ------------------------------------------------------------------------------------------------ serve


def test_serve_names_the_real_cause_of_a_route_it_cannot_serve(project):
    from engine.serve import serve

    result = CliRunner().invoke(serve, ["web", "--port", "0"])
    assert result.exit_code == 2
    assert "cannot serve POST /hello" in result.stderr
    assert "WebAnswerFunction needs parameter Secret, which has no Default: pass --parameter-overrides " \
           "Secret=VALUE" in result.stderr


def test_serve_picks_up_handler_edits_without_a_restart(project):
    import urllib.request

    from engine.aws import LocalAWS
    from engine.project import compile_if_needed, load_app, settings
    from engine.serve import LocalApi, routes_of

    compile_if_needed(project)
    app = load_app(project, settings(project, "serve", {"Secret": "s"}, None, "default"))
    handler = project / "handlers" / "front.py"
    with LocalAWS(project / ".stepsmith", app=app, persist=False) as aws, \
            LocalApi(app, aws, routes=routes_of(app, "web"), port=0) as api:
        def ask() -> dict:
            request = urllib.request.Request(api.url + "/hello", data=b"{}", method="POST")
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.loads(answer.read())

        assert ask() == {"version": 1, "secret": "s"}
        handler.write_text(handler.read_text().replace('"version": 1', '"version": 2'))
        assert ask() == {"version": 2, "secret": "s"}


# ------------------------------------------------------------------------------------------------ nothing lost


def test_concurrent_runs_keep_every_write(project):
    names = ["ada", "grace", "edsger"]
    processes = [cli_process(project, "run", "b12", "-q", "--input", json.dumps({"name": name, "sleep": 2}))
                 for name in names]
    for process in processes:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
    table = json.loads((project / ".stepsmith/dynamodb/fd-SeenTable.json").read_text())
    assert sorted(item["id"]["S"] for item in table["Items"]) == sorted(names)
    notes = project / ".stepsmith/s3/fd-notesbucket/notes"
    assert sorted(path.name for path in notes.iterdir()) == sorted(f"{name}.txt" for name in names)


def test_a_corrupt_state_file_is_named_with_what_to_do(project):
    assert stepsmith("run", "b12", "-q").exit_code == 0
    table = project / ".stepsmith/dynamodb/fd-SeenTable.json"
    table.write_text(table.read_text()[:40])
    result = stepsmith("run", "b12")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1].startswith(
        f"{table}: local state file is corrupt or cut short: not valid JSON at line")
    assert "delete it to start table fd-SeenTable empty" in result.stderr
    assert len(list((project / ".stepsmith/executions").glob("*.json"))) == 1   # the failed start left none


def test_history_is_written_atomically(tmp_path):
    """A reader polling the record (as `serve`'s callers and tests do) never sees half of it."""
    import threading
    from types import SimpleNamespace

    from engine.commands import write_history

    events = [{"id": index, "type": "PassStateEntered", "timestamp": "2026-01-01T00:00:00+00:00",
               "stateEnteredEventDetails": {"name": "P", "input": "x" * 2000}} for index in range(200)]
    result = SimpleNamespace(execution_arn="a", state_machine_arn="s", name="n", status="SUCCEEDED",
                             start_date=0.0, stop_date=1.0, output="{}", error=None, cause=None, history=events)
    path = tmp_path / ".stepsmith" / "executions" / "n.json"
    done = threading.Event()
    torn = []

    def read() -> None:
        while not done.is_set():
            try:
                json.loads(path.read_text())
            except FileNotFoundError:
                continue
            except ValueError:
                torn.append(1)

    reader = threading.Thread(target=read)
    reader.start()
    for _ in range(40):
        write_history(tmp_path, result, "{}", "sm")
    done.set()
    reader.join()
    assert torn == []
    assert not [p for p in path.parent.iterdir() if p.name != "n.json"]   # no temporary files left


def test_help_of_every_command_runs(project):
    from engine.cli import COMMANDS

    for name in COMMANDS:
        result = stepsmith(name, "--help")
        assert result.exit_code == 0, (name, result.output)
        assert result.stdout.startswith(f"Usage: main {name}")


def test_serve_beside_a_run_keeps_the_writes_of_both(project):
    import urllib.request

    from engine.aws import LocalAWS
    from engine.project import compile_if_needed, load_app, settings
    from engine.serve import LocalApi, routes_of

    compile_if_needed(project)
    app = load_app(project, settings(project, "serve", {"Secret": "s"}, None, "default"))
    tables = project / ".stepsmith" / "dynamodb"
    with LocalAWS(project / ".stepsmith", app=app) as aws, \
            LocalApi(app, aws, routes=routes_of(app, "web"), port=0) as api:
        run = cli_process(project, "run", "b12", "-q", "--input", '{"name": "ada"}')
        assert run.wait(timeout=300) == 0, run.stderr.read()
        request = urllib.request.Request(api.url + "/hello", data=b"{}", method="POST")
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 200
        deadline = time.monotonic() + 30
        while not _items(tables / "fd-VisitsTable.json") and time.monotonic() < deadline:
            time.sleep(0.1)   # saved in the background while the server runs
        assert len(_items(tables / "fd-VisitsTable.json")) == 1
    seen = json.loads((tables / "fd-SeenTable.json").read_text())["Items"]
    assert [item["id"]["S"] for item in seen] == ["ada"]


def _items(table: Path) -> list:
    return json.loads(table.read_text())["Items"] if table.is_file() else []


def test_a_session_saves_only_its_own_changes_merged_with_what_others_wrote_meanwhile(tmp_path):
    """Items and parameters by key: a delete here, an add elsewhere, both survive; untouched ones stay."""
    from engine.aws import LocalAWS

    state = tmp_path / ".stepsmith"
    table = state / "dynamodb" / "t.json"
    with LocalAWS(state) as aws:
        dynamodb = aws.client("dynamodb")
        dynamodb.create_table(TableName="t", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                              AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                              BillingMode="PAY_PER_REQUEST")
        for key in ("x", "y"):
            dynamodb.put_item(TableName="t", Item={"id": {"S": key}})
        aws.client("ssm").put_parameter(Name="/a", Value="1", Type="String")
    with LocalAWS(state) as aws:
        aws.client("dynamodb").delete_item(TableName="t", Key={"id": {"S": "x"}})
        aws.client("ssm").put_parameter(Name="/a", Value="2", Type="String", Overwrite=True)
        # Meanwhile another run saved an item and a parameter of its own.
        document = json.loads(table.read_text())
        document["Items"].append({"id": {"S": "z"}})
        table.write_text(json.dumps(document))
        parameters = json.loads((state / "ssm.json").read_text())
        (state / "ssm.json").write_text(json.dumps({**parameters, "/b": {"Type": "String", "Value": "other"}}))
    assert sorted(item["id"]["S"] for item in json.loads(table.read_text())["Items"]) == ["y", "z"]
    assert json.loads((state / "ssm.json").read_text()) == {"/a": {"Type": "String", "Value": "2"},
                                                           "/b": {"Type": "String", "Value": "other"}}
