"""What retrain-and-promote deploys: triggers, the SageMaker execution role and the state machine's IAM."""
from __future__ import annotations

import pytest
from retrain_checks import ROOT, WORKFLOW

import compiler
from compiler.serialize import load_template


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> dict:
    project = tmp_path_factory.mktemp("compiled")
    (project / "workflows").mkdir()
    (project / "workflows" / f"{WORKFLOW}.yaml").write_text((ROOT / "workflows" / f"{WORKFLOW}.yaml").read_text())
    for folder in ("handlers", "images"):
        (project / folder).symlink_to(ROOT / folder)
    compiler.compile_project(project, "build")
    return load_template((project / "build" / "template.yaml").read_text())


def statements(template: dict, role: str) -> dict[str, dict]:
    policy = template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]
    return {statement["Sid"]: statement for statement in policy["Statement"]}


def arns(statement: dict) -> list[str]:
    found = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    return sorted(str(arn.get("Fn::Sub", arn)).rsplit(":", 1)[-1] if isinstance(arn, dict) else arn for arn in found)


def test_a_new_manifest_and_a_weekly_schedule_start_it(template):
    resources = template["Resources"]
    rule = next(r for r in resources.values() if r["Type"] == "AWS::Events::Rule"
                and "datasets" in r["Properties"].get("Description", ""))
    detail = rule["Properties"]["EventPattern"]["detail"]
    assert detail["bucket"] == {"name": [{"Ref": "DatasetsBucket"}]}
    assert any(f.get("prefix") == "manifests/" or "wildcard" in f for f in detail["object"]["key"])
    schedule = next(r for r in resources.values() if r["Type"] == "AWS::Scheduler::Schedule")
    assert schedule["Properties"]["ScheduleExpression"] == "cron(0 3 ? * SUN *)"
    assert '"manifest": "latest"' in schedule["Properties"]["Target"]["Input"].replace('":"', '": "')


def test_the_sagemaker_execution_role_reads_the_data_writes_the_outputs_and_pulls_the_image(template):
    role = template["Resources"]["ModelRoleRole"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"] == [{
        "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    grants = statements(template, "ModelRoleRole")
    assert grants["ReadDatasetsBucketObjects"]["Action"] == ["s3:GetObject"]
    assert "WriteDatasetsBucketObjects" not in grants                     # training never writes the data
    assert "s3:PutObject" in grants["WriteTrainingRunsBucketObjects"]["Action"]
    assert grants["PullImages"]["Resource"] == {"Fn::GetAtt": ["ReviewClassifierRepository", "Arn"]}
    assert [arn["Fn::Sub"].split(":log-group:")[1] for arn in grants["SageMakerLogs"]["Resource"]] == [
        "/aws/sagemaker/*", "/aws/sagemaker/*:*"]


def test_the_state_machine_passes_only_that_role_and_only_to_sagemaker(template):
    grants = statements(template, "RetrainAndPromoteStateMachineRole")
    assert grants["PassRoleToSagemaker"]["Resource"] == {"Fn::GetAtt": ["ModelRoleRole", "Arn"]}
    assert grants["PassRoleToSagemaker"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert arns(grants["SyncJobEvents"]) == ["rule/StepFunctionsGetEventsForSageMakerTrainingJobsRule"]
    sagemaker = grants["SageMaker"]
    assert {"sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob",
            "sagemaker:CreateModelPackage", "sagemaker:UpdateEndpoint"} <= set(sagemaker["Action"])
    scoped = arns(sagemaker)
    assert "endpoint/${ClassifierEndpoint}" in scoped and "endpoint/*" not in scoped   # only its own endpoint
    assert {"training-job/review-classifier-*", "training-job/review-evaluation-*", "model/review-classifier-*",
            "model-package/review-classifier/*", "model-package-group/review-classifier"} <= set(scoped)
    assert "model-package/*" not in scoped                    # packages of its own group only
    # ListModelPackages supports no resource-level permissions: alone, with Resource *
    assert grants["SageMakerUnscoped"]["Action"] == ["sagemaker:ListModelPackages"]
    assert grants["SageMakerUnscoped"]["Resource"] == "*"
    assert grants["SnsTopics"]["Resource"] == {"Ref": "ModelPromotionsTopic"}


def test_the_registry_is_a_model_group_of_the_stack_not_created_by_a_step(template):
    group = template["Resources"]["ReviewClassifierModelGroup"]
    assert group["Type"] == "AWS::SageMaker::ModelPackageGroup"
    assert group["Properties"]["ModelPackageGroupName"] == "review-classifier"   # the contract's name
    assert group["DeletionPolicy"] == "Retain"
    grants = statements(template, "RetrainAndPromoteStateMachineRole")
    assert not any("sagemaker:CreateModelPackageGroup" in s["Action"] for s in grants.values())


def test_the_smoke_test_may_invoke_only_the_classifier_endpoint(template):
    role = next(name for name, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Role"
                and "Smoke test" in r["Properties"].get("Description", ""))
    grants = statements(template, role)
    assert arns(grants["InvokeClassifier"]) == ["endpoint/${ClassifierEndpoint}"]
