"""`train` and `deploy` in JSONata workflows: the same job and endpoint as in JSONPath, run for real by the local
SageMaker with a standard-library image (tests/engine/sagemaker/fixtures/images/echo); and what cannot be
written in a step's query language is a validate error at its place."""
import json
import shutil
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from compiler.serialize import load_template
from engine.aws import LocalAWS
from engine.cli import main

ECHO = Path(__file__).parents[1] / "sagemaker" / "fixtures" / "images"

RESOURCES = """
    resources:
      data: {type: bucket}
      model-role: {type: role, service: sagemaker, reads: [data], writes: [data], images: [echo]}
"""

# The same flow twice: train, gate on a metric read by name, deploy the trained model.
JSONPATH = RESOURCES + """
    steps:
      - name: Train
        train:
          image: echo
          role: model-role
          channels: {train: $.dataset}
          output: s3://${resource:data}/models/
          hyperparameters: {epochs: 2, scale.$: $.scale}
          metrics: {"validation:macro_f1": "validation:macro_f1=([0-9.]+)"}
          max_runtime: 120
        result_path: $.training
      - name: Good enough?
        choice:
          - if: $.training.metrics.validation_macro_f1 >= 0.6
            then: Deploy
        default: Reject
      - name: Deploy
        deploy: {endpoint: echo-endpoint, image: echo, role: model-role, model_data: $.training.model_artifacts,
                 every: 5, timeout: 300}
        result_path: $.deployment
        end: true
      - name: Reject
        fail: {error: Rejected}
"""

JSONATA = RESOURCES + """
    query_language: JSONata
    steps:
      - name: Train
        train:
          image: echo
          role: model-role
          channels: {train: "{% $states.input.dataset %}"}
          output: s3://${resource:data}/models/
          hyperparameters: {epochs: 2, scale: "{% $states.input.scale %}"}
          metrics: {"validation:macro_f1": "validation:macro_f1=([0-9.]+)"}
          max_runtime: 120
        output: "{% $merge([$states.input, {'training': $states.result}]) %}"
      - name: Good enough?
        choice:
          - if: "{% $states.input.training.metrics.validation_macro_f1 >= 0.6 %}"
            then: Deploy
        default: Reject
      - name: Deploy
        deploy: {endpoint: echo-endpoint, image: echo, role: model-role,
                 model_data: "{% $states.input.training.model_artifacts %}", every: 5, timeout: 300}
        assign: {served: "{% $states.result.name %}"}
        output: "{% $merge([$states.input, {'deployment': $states.result}]) %}"
      - name: Report
        pass: {}
        output: "{% $merge([$states.input, {'served': $served}]) %}"
        end: true
      - name: Reject
        fail: {error: Rejected}
"""


def stepsmith(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "workflows").mkdir()
    (tmp_path / "handlers").mkdir()
    shutil.copytree(ECHO, tmp_path / "images")
    (tmp_path / "train.csv").write_text("x,y\n1,2\n")
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    shutil.rmtree(tmp_path / ".stepsmith" / "sagemaker", ignore_errors=True)   # its model servers stop


def _write(project: Path, spec: str) -> None:
    (project / "workflows" / "retrain.yaml").write_text(textwrap.dedent(spec))


def _bucket() -> str:
    return stepsmith("s3", "ls").stdout.split()[-1]    # the local name of the `data` bucket


@pytest.mark.parametrize(("spec", "scale"), [(JSONPATH, "3"), (JSONATA, 3)], ids=["JSONPath", "JSONata"])
def test_train_then_deploy_runs_in_both_query_languages(project, spec, scale):
    _write(project, spec)
    bucket = _bucket()
    assert stepsmith("s3", "cp", "train.csv", f"s3://{bucket}/train/train.csv").exit_code == 0
    result = stepsmith("run", "retrain", "-q", "--input",
                       json.dumps({"dataset": f"s3://{bucket}/train/", "scale": scale}))
    assert result.exit_code == 0, result.stderr
    output = json.loads(result.stdout)
    training, deployment = output["training"], output["deployment"]
    assert training["status"] == "Completed" and training["job_name"].startswith("train-")
    assert training["model_artifacts"] == f"s3://{bucket}/models/{training['job_name']}/output/model.tar.gz"
    assert training["metrics"] == {"validation_macro_f1": 0.7}        # the last epoch's value, read by name
    assert deployment["previous"]["Error"] == "SageMaker.ValidationException"   # no endpoint before: created
    assert deployment["endpoint"]["EndpointStatus"] == "InService"
    assert deployment["endpoint"]["EndpointConfigName"] == deployment["name"]
    if spec is JSONATA:
        assert output["served"] == deployment["name"]                 # assign saw the deployment record too
    with LocalAWS(project / ".stepsmith") as aws:                    # the endpoint serves the trained model
        answer = aws.client("sagemaker-runtime").invoke_endpoint(
            EndpointName="echo-endpoint", Body=json.dumps({"x": 2}), ContentType="application/json")
        assert json.loads(answer["Body"].read()) == {"y": 6.0}


def test_jsonata_compiles_to_arguments_output_and_assign_with_iam_scoped_to_the_names(project):
    _write(project, JSONATA)
    assert stepsmith("compile").exit_code == 0
    definition = json.loads((project / "build/statemachines/retrain.asl.json").read_text())
    assert definition["QueryLanguage"] == "JSONata"
    states = definition["States"]
    train = states["Train"]
    assert "Parameters" not in train and "ResultSelector" not in train and "Train: metrics" not in states
    arguments = train["Arguments"]
    assert arguments["TrainingJobName"] == "{% 'train-' & $uuid() %}"
    assert arguments["HyperParameters"] == {"epochs": "2", "scale": "{% $string($states.input.scale) %}"}
    assert arguments["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == "{% $states.input.dataset %}"
    assert train["Output"].startswith("{% $merge([$states.input, {'training': ({\"job_name\": $states.result.")
    assert states["Deploy"] == {
        "Type": "Pass", "Comment": "One name for the new model and its endpoint configuration",
        "Assign": {"deploy_deploy": "{% ($id := $uuid(); {'id': $id, 'name': 'deploy-' & $id}) %}"},
        "Next": "Deploy: model"}
    assert states["Deploy: model"]["Arguments"]["ModelName"] == "{% 'deploy-' & $deploy_deploy.id %}"
    assert states["Deploy: model"]["Output"] == "{% $states.input %}"
    done = states["Deploy: wait: check"]["Choices"][1]
    assert done["Assign"] == {"served": "{% $deploy_deploy.name %}"}
    assert done["Output"] == "{% $merge([$states.input, {'deployment': $deploy_deploy}]) %}"
    assert done["Next"] == "Report"
    template = load_template((project / "build/template.yaml").read_text())
    policy = {s["Sid"]: s for s in template["Resources"]["RetrainStateMachineRole"]["Properties"]["Policies"][0]
              ["PolicyDocument"]["Statement"]}
    scoped = sorted(r["Fn::Sub"].rsplit(":", 1)[1] for r in policy["SageMaker"]["Resource"])
    assert scoped == ["endpoint-config/deploy-*", "endpoint/echo-endpoint", "model/deploy-*", "training-job/train-*"]


TRAIN_ONLY = RESOURCES + """
    steps:
      - name: Train
        query_language: JSONata
        train:
          image: echo
          role: model-role
          channels: {train: "{% $states.input.dataset %}"}
          output: s3://${resource:data}/models/
          metrics: {"validation:macro_f1": "validation:macro_f1=([0-9.]+)"}
"""


def test_a_jsonata_train_step_outputs_its_readable_result_and_fails_on_a_missing_metric(project):
    _write(project, TRAIN_ONLY)
    bucket = _bucket()
    assert stepsmith("s3", "cp", "train.csv", f"s3://{bucket}/train/train.csv").exit_code == 0
    run = ["run", "retrain", "-q", "--input", json.dumps({"dataset": f"s3://{bucket}/train/"})]
    result = stepsmith(*run)
    assert result.exit_code == 0, result.stderr
    output = json.loads(result.stdout)
    assert sorted(output) == ["job_name", "metrics", "model_artifacts", "status"]
    assert output["metrics"] == {"validation_macro_f1": 0.8}      # 3 epochs by default
    _write(project, TRAIN_ONLY.replace('"validation:macro_f1=([0-9.]+)"}',
                                       '"validation:macro_f1=([0-9.]+)", "test:auc": "auc=([0-9.]+)"}'))
    result = stepsmith(*run)
    assert result.exit_code == 1
    assert "States.QueryEvaluationError" in result.stderr
    assert "logged no value for metric test:auc" in result.stderr


ROLLBACK = RESOURCES + """
    query_language: JSONata
    steps:
      - name: Deploy
        deploy: {endpoint: echo-endpoint, image: echo, role: model-role, model_data: "{% $states.input.model %}",
                 on_fail: Roll back}
        assign: {deployment: "{% $states.result %}"}
        end: true
      - name: Roll back
        pass: {}
        output: "{% {'restore': $deployment.previous.config, 'failed': $deployment.name} %}"
        end: true
"""


def test_a_jsonata_deploy_updates_an_endpoint_and_routes_a_rolled_back_update_with_its_record(project):
    _write(project, ROLLBACK)
    # The endpoint exists on old-config; SageMaker answers the update, then rolls it back to old-config.
    settled = {"EndpointName": "echo-endpoint", "EndpointStatus": "InService", "EndpointConfigName": "old-config"}
    (project / "mocks.json").write_text(json.dumps({
        "StateMachines": {"retrain": {"TestCases": {"RolledBack": {
            "Deploy: current": "Existing", "Deploy: update": "Updated", "Deploy: wait": "Settled"}}}},
        "MockedResponses": {"Existing": {"0": {"Return": settled}},
                            "Updated": {"0": {"Return": {"EndpointArn": "arn:aws:sagemaker:::endpoint/echo"}}},
                            "Settled": {"0": {"Return": settled}}}}))
    model = f"s3://{_bucket()}/m/model.tar.gz"
    assert stepsmith("s3", "cp", "train.csv", model).exit_code == 0     # CreateModel checks it exists
    result = stepsmith("run", "retrain", "-q", "--mock-config", "mocks.json", "--test-case", "RolledBack",
                       "--input", json.dumps({"model": model}))
    assert result.exit_code == 0, result.stderr
    output = json.loads(result.stdout)
    assert output["restore"] == "old-config" and output["failed"].startswith("deploy-")
    record = next((project / ".stepsmith" / "executions").glob("*.json")).read_text()
    assert '"Deploy: update"' in record and '"Deploy: create"' not in record


@pytest.mark.parametrize(("spec", "change", "expected"), [
    (JSONATA, ('"{% $states.input.dataset %}"', "$.dataset"),
     ("'$.dataset' is a JSONPath path, and this step is JSONata: it would be used as the literal text "
     "(write it as an expression: \"{% $states.input.dataset %}\")")),
    (JSONATA, ('scale: "{% $states.input.scale %}"', "scale.$: $.scale"),
     "'scale.$' takes a path, which JSONata steps do not have"),
    (JSONATA, ('"{% $states.input.training.model_artifacts %}"', "$.training.model_artifacts"),
     "'$.training.model_artifacts' is a JSONPath path, and this step is JSONata"),
    (JSONATA, ('"{% $states.input.dataset %}"', '"{% $states.input.dataset[ %}"'),
     "retrain.yaml:12:25: invalid JSONata: Expected ] before end of expression\n1 error"),   # once, at its place
    (JSONPATH, ("$.dataset}", '"{% $states.input.dataset %}"}'),
     "a JSONata expression in a JSONPath step would be used as the literal text"),
    (JSONPATH, ("endpoint: echo-endpoint", "endpoint: $.endpoint"),
     "'$.endpoint' would be used as the literal text: this field takes no path"),
    (JSONPATH, ("        result_path: $.deployment\n", "        result_path: $.deployment\n        assign: {x: 1}\n"),
     "a JSONPath deploy step takes no assign"),
])
def test_what_a_query_language_cannot_say_is_a_validate_error(project, spec, change, expected):
    _write(project, spec.replace(*change))
    result = stepsmith("validate")
    assert result.exit_code == 2
    assert expected in result.stderr, result.stderr


def test_only_states_result_outside_string_literals_means_the_readable_result():
    from compiler.ml import with_result

    assert with_result({"a": "{% '$states.result' & $states.result.name & $states.resultant %}", "b": [1, "x"]},
                       "$record") == {"a": "{% '$states.result' & $record.name & $states.resultant %}",
                                      "b": [1, "x"]}
