"""Roles as resources: statements, image pulls, SageMaker metrics, and grants from another workflow."""
import json
import textwrap

import pytest

from compiler import load_project, validate_project
from compiler.asl import build_definition
from compiler.sam import build_template
from engine.app import App

RETRAIN = """
    resources:
      datasets: {type: bucket}
      models: {type: bucket}
      model-role:
        type: role
        service: sagemaker
        reads: [datasets]
        writes: [models]
        images: [review-classifier]
        policies:
          - Sid: ReadKeys
            Effect: Allow
            Action: [kms:Decrypt]
            Resource: arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/${param:KeyId}
    parameters:
      KeyId: {default: "0000"}
    steps:
      - name: Note image
        pass: {}
        parameters: {image: "${image:review-classifier}"}
        end: true
    """

INSPECT = """
    resources:
      review-images: {type: bucket}
      inference-out: {type: bucket}
      model-role:
        type: role
        from: retrain
        reads: [review-images]
        writes: [inference-out]
    steps:
      - name: Create model
        service: sagemaker:createModel
        parameters:
          ModelName.$: $.model
          PrimaryContainer: {Image: "${image:review-classifier}", ModelDataUrl.$: $.artifacts}
          ExecutionRoleArn: ${resource:model-role}
        result_path: null
      - name: Classify
        service: sagemaker:createTransformJob.sync
        parameters:
          TransformJobName.$: States.Format('inspect-{}', $$.Execution.Name)
          ModelName.$: $.model
          TransformInput: {DataSource: {S3DataSource: {S3DataType: S3Prefix, S3Uri.$: $.images}}}
          TransformOutput: {S3OutputPath.$: $.out}
          TransformResources: {InstanceType: ml.m5.large, InstanceCount: 1}
        end: true
    """


def write_project(root, **specs):
    (root / "workflows").mkdir(exist_ok=True)
    (root / "handlers").mkdir(exist_ok=True)
    (root / "images" / "review-classifier").mkdir(parents=True, exist_ok=True)
    (root / "images" / "review-classifier" / "Dockerfile").write_text("FROM python:3.11-slim\n")
    for name, text in specs.items():
        (root / "workflows" / f"{name}.yaml").write_text(textwrap.dedent(text))


@pytest.fixture
def template(tmp_path):
    write_project(tmp_path, retrain=RETRAIN, inspect=INSPECT)
    return build_template(load_project(tmp_path), tmp_path)


def statements(document):
    return {statement["Sid"]: statement for statement in document["Statement"]}


def test_the_declaring_workflow_owns_the_role_with_its_pulls_metrics_and_statements(template):
    resources = template["Resources"]
    role = resources["ModelRoleRole"]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "sagemaker.amazonaws.com"}
    found = statements(role["Properties"]["Policies"][0]["PolicyDocument"])
    assert found["PullImages"]["Action"] == ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage",
                                             "ecr:GetDownloadUrlForLayer"]
    assert found["PullImages"]["Resource"] == {"Fn::GetAtt": ["ReviewClassifierRepository", "Arn"]}
    assert found["EcrLogin"]["Resource"] == "*"
    assert found["SageMakerMetrics"] == {
        "Sid": "SageMakerMetrics", "Effect": "Allow", "Action": ["cloudwatch:PutMetricData"], "Resource": "*",
        "Condition": {"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "aws/sagemaker/*"]}}}
    assert found["ReadKeys"]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/${KeyId}"}
    assert set(found) >= {"ReadDatasetsBucket", "WriteModelsBucketObjects", "SageMakerLogs"}
    # the inspecting workflow's buckets are not in the owner's policy: they come as its grants
    assert "ReadReviewImagesBucket" not in found
    assert set(role["Metadata"]["StepsmithWildcardResources"]) == {"EcrLogin", "SageMakerMetrics"}


def test_another_workflow_grants_the_shared_role_its_own_buckets(template):
    resources = template["Resources"]
    grants = resources["InspectModelRoleRoleGrants"]
    assert grants["Type"] == "AWS::IAM::Policy"
    assert grants["Properties"]["Roles"] == [{"Ref": "ModelRoleRole"}]
    found = statements(grants["Properties"]["PolicyDocument"])
    assert found["ReadReviewImagesBucketObjects"]["Resource"] == {"Fn::Sub": "${ReviewImagesBucket.Arn}/*"}
    assert found["WriteInferenceOutBucketObjects"]["Action"] == ["s3:AbortMultipartUpload", "s3:DeleteObject",
                                                                 "s3:PutObject"]
    assert [key for key, value in resources.items() if value["Type"] == "AWS::IAM::Role"
            and key.startswith("ModelRole")] == ["ModelRoleRole"]


def test_the_state_machine_passes_only_that_role_and_only_to_sagemaker(template):
    policy = template["Resources"]["InspectStateMachineRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    found = statements(policy)
    assert found["PassRoleToSagemaker"] == {
        "Sid": "PassRoleToSagemaker", "Effect": "Allow", "Action": ["iam:PassRole"],
        "Resource": {"Fn::GetAtt": ["ModelRoleRole", "Arn"]},
        "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}}


def test_an_image_reference_is_its_repository_uri_locally_and_in_the_template(tmp_path, template):
    repository = template["Resources"]["ReviewClassifierRepository"]
    assert repository["Type"] == "AWS::ECR::Repository"
    assert repository["Metadata"] == {"StepsmithImage": "images/review-classifier"}
    retrain = next(w for w in load_project(tmp_path) if w.name == "retrain")
    definition, substitutions = build_definition(retrain)
    assert definition["States"]["Note image"]["Parameters"]["image"] == "${ReviewClassifierImageUri}"
    assert substitutions["ReviewClassifierImageUri"] == {
        "Fn::Sub": "${ReviewClassifierRepository.RepositoryUri}:latest"}
    from compiler import compile_project

    compile_project(tmp_path, tmp_path / "build")
    app = App.load(tmp_path, stack="demo")
    uri = "111111111111.dkr.ecr.us-east-1.amazonaws.com/demo-reviewclassifierrepository:latest"
    assert app.images == {uri: tmp_path / "images" / "review-classifier"}
    machine = app.state_machine("retrain")
    assert json.dumps(machine.definition).count(uri) == 1


def test_sharing_mistakes_are_reported_at_their_place(tmp_path):
    write_project(tmp_path, retrain=RETRAIN, inspect="""
        resources:
          model-role: {type: role, from: retrian}
          datasets: {type: table, from: retrain}
          models: {type: bucket, from: retrain, key: id}
          other-role: {type: role, from: retrain, service: sagemaker, images: [missing]}
          data: {type: bucket, images: [review-classifier]}
        steps:
          - {name: Done, succeed: {}}
        """)
    found = [f"{e.place.line}: {e.message}" for e in validate_project(tmp_path)]
    assert "5: `key` only applies to table resources" in found
    assert "5: `key` is decided by workflow 'retrain', which declares the resource" in found
    assert "6: `service` is decided by workflow 'retrain', which declares the resource" in found
    assert "6: image 'missing' has no Dockerfile" in found
    assert "7: `images` only applies to role resources" in found
    assert "3: no workflow 'retrian' is compiled with this one" in found
    assert "4: 'datasets' is a bucket in workflow 'retrain', not a table" in found
    assert "6: workflow 'retrain' declares no resource 'other-role'" in found
