"""The `train` step: CreateTrainingJob's exact request, IAM to match, and its metrics read by name."""
import json
import textwrap

import pytest
from click.testing import CliRunner

from compiler.serialize import load_template
from engine.cli import main

SPEC = """
    resources:
      datasets: {type: bucket}
      models: {type: bucket}
      model-role: {type: role, service: sagemaker, reads: [datasets], writes: [models], images: [classifier]}
    steps:
      - name: Train candidate
        train:
          image: classifier
          role: model-role
          instance_type: ml.m5.large
          max_runtime: 1800
          hyperparameters: {epochs: 8, learning_rate: 0.01, augment: true, classes.$: $.classes}
          channels:
            train: {s3: $.dataset.manifest, manifest: true, attributes: [source-ref, class],
                    content_type: application/x-recordio, input_mode: Pipe}
            validation: s3://${resource:datasets}/validation/
          output: s3://${resource:models}/candidates/
          metrics:
            validation:macro_f1: "val_macro_f1=([0-9.]+)"
            train:loss: "loss=([0-9.]+)"
        result_path: $.training
        retry: [throttling]
      - name: Good enough?
        choice:
          - if: $.training.metrics.validation_macro_f1 >= 0.9
            then: Promote
        default: Reject
      - name: Promote
        succeed: {}
      - name: Reject
        fail: {error: CandidateRejected}
    """

FINISHED = {"TrainingJobName": "train-candidate-1", "TrainingJobStatus": "Completed",
            "ModelArtifacts": {"S3ModelArtifacts": "s3://models/candidates/train-candidate-1/output/model.tar.gz"},
            "FinalMetricDataList": [{"MetricName": "train:loss", "Value": 0.21, "Timestamp": 0},
                                    {"MetricName": "validation:macro_f1", "Value": 0.93, "Timestamp": 0}]}


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "workflows").mkdir()
    (tmp_path / "handlers").mkdir()
    (tmp_path / "images" / "classifier").mkdir(parents=True)
    (tmp_path / "images" / "classifier" / "Dockerfile").write_text("FROM python:3.11-slim\n")
    (tmp_path / "workflows" / "retrain.yaml").write_text(textwrap.dedent(SPEC))
    weak = {**FINISHED, "FinalMetricDataList": [{"MetricName": "validation:macro_f1", "Value": 0.71},
                                                {"MetricName": "train:loss", "Value": 0.5}]}
    silent = {**FINISHED, "FinalMetricDataList": []}
    (tmp_path / "mocks.json").write_text(json.dumps({
        "StateMachines": {"retrain": {"TestCases": {
            "Good": {"Train candidate": "Good"}, "Weak": {"Train candidate": "Weak"},
            "Silent": {"Train candidate": "Silent"}}}},
        "MockedResponses": {"Good": {"0": {"Return": FINISHED}}, "Weak": {"0": {"Return": weak}},
                            "Silent": {"0": {"Return": silent}}}}))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def stepsmith(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_the_request_is_createtrainingjob_in_the_apis_own_shape(project):
    assert stepsmith("compile").exit_code == 0
    states = json.loads((project / "build/statemachines/retrain.asl.json").read_text())["States"]
    task = states["Train candidate"]
    assert task["Resource"] == "arn:aws:states:::sagemaker:createTrainingJob.sync"
    assert task["Parameters"] == {
        "TrainingJobName.$": "States.Format('train-candidate-{}', States.UUID())",
        "RoleArn": "${ModelRoleRole}",
        "AlgorithmSpecification": {
            "TrainingImage": "${ClassifierImageUri}", "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "validation:macro_f1", "Regex": "val_macro_f1=([0-9.]+)"},
                                  {"Name": "train:loss", "Regex": "loss=([0-9.]+)"}]},
        "HyperParameters": {"epochs": "8", "learning_rate": "0.01", "augment": "true", "classes.$": "$.classes"},
        "InputDataConfig": [
            {"ChannelName": "train", "DataSource": {"S3DataSource": {
                "S3DataType": "AugmentedManifestFile", "S3Uri.$": "$.dataset.manifest",
                "S3DataDistributionType": "FullyReplicated", "AttributeNames": ["source-ref", "class"]}},
             "ContentType": "application/x-recordio", "InputMode": "Pipe", "RecordWrapperType": "RecordIO"},
            {"ChannelName": "validation", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": "s3://${DatasetsBucket}/validation/",
                "S3DataDistributionType": "FullyReplicated"}}}],
        "OutputDataConfig": {"S3OutputPath": "s3://${ModelsBucket}/candidates/"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 1800}}
    assert task["Next"] == "Train candidate: metrics"
    assert task["Retry"][0]["ErrorEquals"]  # the step's own retry stays on the Task
    assert states["Train candidate: metrics"]["Next"] == "Good enough?"
    template = load_template((project / "build/template.yaml").read_text())
    policy = {s["Sid"]: s for s in template["Resources"]["RetrainStateMachineRole"]["Properties"]["Policies"][0]
              ["PolicyDocument"]["Statement"]}
    assert policy["SageMaker"]["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:sagemaker:${AWS::Region}:"
                                               "${AWS::AccountId}:training-job/train-candidate-*"}
    assert policy["PassRoleToSagemaker"]["Resource"] == {"Fn::GetAtt": ["ModelRoleRole", "Arn"]}
    assert "ClassifierRepository" in template["Resources"]


@pytest.mark.parametrize(("case", "status", "f1"), [("Good", 0, 0.93), ("Weak", 1, 0.71)])
def test_metrics_are_read_by_name_and_gate_the_choice(project, case, status, f1):
    result = stepsmith("run", "retrain", "-q", "--mock-config", "mocks.json", "--test-case", case,
                       "--input", '{"dataset": {"manifest": "s3://d/m.manifest"}, "classes": "4"}')
    assert result.exit_code == status, result.stderr
    if case == "Good":
        assert json.loads(result.stdout)["training"] == {
            "job_name": "train-candidate-1", "status": "Completed",
            "model_artifacts": "s3://models/candidates/train-candidate-1/output/model.tar.gz",
            "metrics": {"validation_macro_f1": 0.93, "train_loss": 0.21}}
    else:
        assert "CandidateRejected" in result.stderr


def test_a_metric_the_job_never_logged_fails_the_run(project):
    result = stepsmith("run", "retrain", "-q", "--mock-config", "mocks.json", "--test-case", "Silent",
                       "--input", '{"dataset": {"manifest": "s3://d/m.manifest"}, "classes": "4"}')
    assert result.exit_code == 1
    assert "States.Runtime" in result.stderr


def test_train_checks_its_role_and_image(project):
    spec = project / "workflows" / "retrain.yaml"
    spec.write_text(spec.read_text().replace("role: model-role\n", "role: models\n")
                    .replace("image: classifier\n", "image: clasifier\n"))
    result = stepsmith("validate")
    assert result.exit_code == 2
    assert "resource 'models' is a bucket, not a role" in result.stderr
    assert "image 'clasifier' has no Dockerfile" in result.stderr
