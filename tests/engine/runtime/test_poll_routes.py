"""A poll's failure and its give-up go to named steps (roll back instead of failing), end to end."""
import json
import textwrap

import pytest
from click.testing import CliRunner

from engine.cli import main

SPEC = """
    steps:
      - name: Wait for endpoint
        poll:
          handler: endpoint.describe
          parameters: {status.$: $.status}
          result_path: $.endpoint
          every: 60
          until: $.endpoint.EndpointStatus not in [Creating, Updating, SystemUpdating]
          fail_if: $.endpoint.EndpointStatus in [Failed, "OutOfService"]
          on_fail: Roll back
          timeout: 600
          on_timeout: Gave up
      - name: Serving
        pass: {result: serving}
        end: true
      - name: Roll back
        pass: {}
        parameters: {rolled_back.$: $.endpoint}
        end: true
      - name: Gave up
        pass: {result: gave up}
        end: true
    """

HANDLER = '''
def describe(event, context):
    reply = {"EndpointStatus": event["status"]}
    if event["status"] == "Failed":
        reply["FailureReason"] = "model_fn could not load the model"
    return reply
'''


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "workflows").mkdir()
    (tmp_path / "handlers").mkdir()
    (tmp_path / "workflows" / "deploy.yaml").write_text(textwrap.dedent(SPEC))
    (tmp_path / "handlers" / "endpoint.py").write_text(HANDLER)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(("status", "output"), [
    ("InService", "serving"),
    ("Failed", {"rolled_back": {"EndpointStatus": "Failed", "FailureReason": "model_fn could not load the model"}}),
    ("OutOfService", {"rolled_back": {"EndpointStatus": "OutOfService"}}),
    ("Creating", "gave up"),
])
def test_poll_outcomes_are_routed(project, status, output):
    result = CliRunner().invoke(main, ["run", "deploy", "-q", "--input", json.dumps({"status": status})],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == output


def test_routed_poll_compiles_without_fail_states(project):
    assert CliRunner().invoke(main, ["compile"], catch_exceptions=False).exit_code == 0
    states = json.loads((project / "build/statemachines/deploy.asl.json").read_text())["States"]
    assert not [name for name, state in states.items() if state["Type"] == "Fail"]
    check = states["Wait for endpoint: check"]["Choices"]
    assert check[0]["Next"] == "Roll back" and check[2]["Next"] == "Gave up"
    assert check[0]["Or"] == [{"Variable": "$.endpoint.EndpointStatus", "StringEquals": "Failed"},
                              {"Variable": "$.endpoint.EndpointStatus", "StringEquals": "OutOfService"}]
    assert check[1]["Not"]["Or"][2] == {"Variable": "$.endpoint.EndpointStatus", "StringEquals": "SystemUpdating"}
