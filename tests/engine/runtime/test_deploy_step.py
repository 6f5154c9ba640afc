"""The `deploy` step: create-or-update an endpoint, wait until it serves the new model, route failures."""
import json
import shutil
import tarfile
import textwrap

import pytest
from click.testing import CliRunner

from compiler.serialize import load_template
from engine.cli import main

SPEC = """
    resources:
      models: {type: bucket}
      model-role: {type: role, service: sagemaker, reads: [models], images: [classifier]}
    steps:
      - name: Deploy
        deploy:
          endpoint: reviews
          image: classifier
          role: model-role
          model_data: $.model_data
          instance_type: ml.m5.large
          environment: {TOP_K: 1}
          every: 30
          timeout: 600
          on_fail: Roll back
          on_timeout: Roll back
        result_path: $.deployment
        next: Serving
      - name: Serving
        succeed: {}
      - name: Roll back
        fail: {error: RolledBack}
    """


INFERENCE = """
import json, os

def model_fn(model_dir):
    with open(os.path.join(model_dir, "answer.json")) as f:
        return json.load(f)

def predict_fn(data, model):
    return model
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project whose classifier image really serves (the local SageMaker runs it), with a model in S3."""
    (tmp_path / "workflows").mkdir()
    (tmp_path / "handlers").mkdir()
    image = tmp_path / "images" / "classifier"
    image.mkdir(parents=True)
    (image / "Dockerfile").write_text("FROM python:3.11-slim\nCOPY images/classifier/ /opt/ml/code/\n")
    (image / "requirements.txt").write_text("")
    (image / "inference.py").write_text(INFERENCE)
    (tmp_path / "workflows" / "promote.yaml").write_text(textwrap.dedent(SPEC))
    monkeypatch.chdir(tmp_path)
    model = tmp_path / "model"
    model.mkdir()
    (model / "answer.json").write_text('{"label": "product"}')
    with tarfile.open(tmp_path / "model.tar.gz", "w:gz") as archive:
        archive.add(model / "answer.json", "answer.json")
    bucket = stepsmith("s3", "ls").stdout.split()[-1]        # the local name of the `models` bucket
    assert stepsmith("s3", "cp", "model.tar.gz", f"s3://{bucket}/m/model.tar.gz").exit_code == 0
    monkeypatch.setitem(MODEL, "uri", f"s3://{bucket}/m/model.tar.gz")
    yield tmp_path
    shutil.rmtree(tmp_path / ".stepsmith" / "sagemaker", ignore_errors=True)   # its model servers stop


MODEL = {"uri": ""}


def stepsmith(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def run(*extra):
    return stepsmith("run", "promote", "-q", "--input", json.dumps({"model_data": MODEL["uri"]}), *extra)


def test_a_first_deploy_creates_the_endpoint_and_waits_until_it_serves(project):
    result = run()
    assert result.exit_code == 0, result.stderr
    deployment = json.loads(result.stdout)["deployment"]
    assert deployment["name"].startswith("deploy-")
    assert deployment["previous"]["Error"] == "SageMaker.ValidationException"   # no endpoint yet: created
    assert deployment["endpoint"]["EndpointStatus"] == "InService"
    assert deployment["endpoint"]["EndpointConfigName"] == deployment["name"]


def test_a_new_endpoint_is_created_and_an_existing_one_updated_and_checked(project):
    spec = project / "workflows" / "promote.yaml"
    spec.write_text(spec.read_text().replace("    next: Serving\n", (
        "    next: Redeploy\n"
        "  - name: Redeploy\n"
        "    deploy: {endpoint: reviews, image: classifier, role: model-role, model_data: $.model_data}\n"
        "    result_path: $.again\n"
        "    next: Serving\n")))
    # moto has no UpdateEndpoint: answer it as SageMaker does, and let the poll see what the endpoint really
    # serves (still the first configuration), which is how a rolled-back update looks.
    (project / "mocks.json").write_text(json.dumps({
        "StateMachines": {"promote": {"TestCases": {"Update": {"Redeploy: update": "Updated"}}}},
        "MockedResponses": {"Updated": {"0": {"Return": {"EndpointArn": "arn:aws:sagemaker:::endpoint/reviews"}}}}}))
    result = run("--mock-config", "mocks.json", "--test-case", "Update")
    assert result.exit_code == 1
    assert "Redeploy.Failed" in result.stderr                               # not serving the new configuration
    record = next((project / ".stepsmith" / "executions").glob("*.json")).read_text()
    assert '"Redeploy: update"' in record and '"Redeploy: create"' not in record
    assert '"Deploy: create"' in record and '"Deploy: update"' not in record   # the first deploy created it


def test_an_endpoint_that_settles_on_another_configuration_is_routed(project):
    describe = {"EndpointName": "reviews", "EndpointStatus": "InService", "EndpointConfigName": "old-config",
                "FailureReason": "model_fn could not load the model"}
    (project / "mocks.json").write_text(json.dumps({
        "StateMachines": {"promote": {"TestCases": {"RolledBack": {"Deploy: wait": "Settled"},
                                                    "Stuck": {"Deploy: wait": "Updating"}}}},
        "MockedResponses": {"Settled": {"0": {"Return": describe}},
                            "Updating": {"0": {"Return": {**describe, "EndpointStatus": "Updating"}}}}}))
    for case in ("RolledBack", "Stuck"):
        shutil.rmtree(project / ".stepsmith" / "sagemaker", ignore_errors=True)   # each case: no endpoint yet
        result = run("--mock-config", "mocks.json", "--test-case", case)
        assert result.exit_code == 1
        assert "RolledBack" in result.stderr


def test_compiled_fragment_and_its_iam(project):
    assert stepsmith("compile").exit_code == 0
    states = json.loads((project / "build/statemachines/promote.asl.json").read_text())["States"]
    assert states["Deploy"]["Type"] == "Pass" and states["Deploy"]["Next"] == "Deploy: name"
    assert states["Deploy: model"]["Resource"] == "arn:aws:states:::sagemaker:createModel"
    assert states["Deploy: model"]["Parameters"] == {
        "ModelName.$": "States.Format('deploy-{}', $.deployment.id)", "ExecutionRoleArn": "${ModelRoleRole}",
        "PrimaryContainer": {"Image": "${ClassifierImageUri}", "ModelDataUrl.$": "$.model_data",
                             "Environment": {"TOP_K": "1"}}}
    assert states["Deploy: current"]["Resource"] == "arn:aws:states:::aws-sdk:sagemaker:describeEndpoint"
    assert states["Deploy: update"]["Next"] == states["Deploy: create"]["Next"] == "Deploy: wait: start"
    check = states["Deploy: wait: check"]["Choices"]
    assert check[0]["Next"] == check[2]["Next"] == "Roll back" and check[1]["Next"] == "Serving"
    template = load_template((project / "build/template.yaml").read_text())
    policy = {s["Sid"]: s for s in template["Resources"]["PromoteStateMachineRole"]["Properties"]["Policies"][0]
              ["PolicyDocument"]["Statement"]}
    resources = sorted(r["Fn::Sub"].rsplit(":", 1)[1] for r in policy["SageMaker"]["Resource"])
    assert resources == ["endpoint-config/deploy-*", "endpoint/reviews", "model/deploy-*"]
    assert policy["PassRoleToSagemaker"]["Resource"] == {"Fn::GetAtt": ["ModelRoleRole", "Arn"]}


def test_the_fragment_continues_to_the_following_step_and_ends_where_the_step_ends(project):
    spec = project / "workflows" / "promote.yaml"
    spec.write_text(spec.read_text().replace("    next: Serving\n", "").replace(
        "  - name: Serving\n    succeed: {}\n", "").replace("  - name: Roll back\n", "  - name: Serving\n    pass: {}\n"
                                                              "    end: true\n  - name: Roll back\n"))
    assert stepsmith("compile").exit_code == 0
    states = json.loads((project / "build/statemachines/promote.asl.json").read_text())["States"]
    assert states["Deploy: wait: check"]["Choices"][1]["Next"] == "Serving"
