"""`${workflow:name}`: one workflow starts another (states:startExecution.sync), with the IAM it needs."""
import json
import textwrap

import pytest
from click.testing import CliRunner

from compiler.serialize import load_template
from engine.cli import main

PARENT = """
    steps:
      - name: Score candidate
        service: states:startExecution.sync:2
        parameters:
          StateMachineArn: ${workflow:score}
          Input:
            candidate.$: $.candidate
        result_selector: {score.$: $.Output.score}
        result_path: $.evaluation
        end: true
    """

CHILD = """
    steps:
      - name: Score
        pass: {}
        parameters: {score: 0.93, of.$: $.candidate}
        end: true
    """


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "workflows").mkdir()
    (tmp_path / "handlers").mkdir()
    (tmp_path / "workflows" / "promote.yaml").write_text(textwrap.dedent(PARENT))
    (tmp_path / "workflows" / "score.yaml").write_text(textwrap.dedent(CHILD))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def stepsmith(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_parent_runs_the_child_workflow_and_reads_its_output(project):
    result = stepsmith("run", "promote", "-q", "--input", '{"candidate": "job-7"}')
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"candidate": "job-7", "evaluation": {"score": 0.93}}


def test_the_role_may_start_only_that_workflow_and_watch_its_executions(project):
    assert stepsmith("compile").exit_code == 0
    template = load_template((project / "build" / "template.yaml").read_text())
    machine = template["Resources"]["PromoteStateMachine"]["Properties"]
    arn = ("arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${AWS::StackName}-score")
    assert machine["DefinitionSubstitutions"] == {"ScoreStateMachineArn": {"Fn::Sub": arn}}
    definition = json.loads((project / "build/statemachines/promote.asl.json").read_text())
    task = definition["States"]["Score candidate"]
    assert task["Resource"] == "arn:aws:states:::states:startExecution.sync:2"
    assert task["Parameters"]["StateMachineArn"] == "${ScoreStateMachineArn}"
    statements = {s["Sid"]: s for s in template["Resources"]["PromoteStateMachineRole"]["Properties"]
                  ["Policies"][0]["PolicyDocument"]["Statement"]}
    assert statements["StartExecutions"]["Resource"] == {"Fn::Sub": arn}
    assert statements["ChildExecutions"]["Resource"] == {"Fn::Sub": arn.replace(
        "stateMachine:", "execution:") + ":*"}
    assert statements["SyncJobEvents"]["Action"] == ["events:DescribeRule", "events:PutRule", "events:PutTargets"]
    assert statements["SyncJobEvents"]["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:"
                                                       "${AWS::AccountId}:rule/StepFunctionsGetEventsForStepFunctions"
                                                       "ExecutionRule"}


def test_an_unknown_workflow_is_an_error_at_its_place(project):
    spec = project / "workflows" / "promote.yaml"
    spec.write_text(spec.read_text().replace("${workflow:score}", "${workflow:scores}"))
    result = stepsmith("validate")
    assert result.exit_code == 2
    assert "workflows/promote.yaml:6:24: no workflow named 'scores' in workflows/ (did you mean 'score'?)" \
        in result.stderr
