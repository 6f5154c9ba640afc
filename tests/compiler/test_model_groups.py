"""Model package groups as resources: the registry a workflow registers models in, and another reads.

`type: model-group` compiles to AWS::SageMaker::ModelPackageGroup named at compile time (its `name:`, else
the resource's own name), `${resource:x}` is that name, IAM is scoped to the group and its versions, and a
local run creates the group in the local registry before the first step.
"""
import textwrap

import boto3
import pytest
from botocore.exceptions import ClientError

from compiler import compile_project, load_project, validate_project
from compiler.asl import build_definition
from compiler.sam import build_template
from engine.app import App
from engine.aws import LocalAWS
from engine.aws.access import acting_as

REGISTER = """
    resources:
      models:
        type: model-group
        description: Candidates, Approved = production
      staging: {type: model-group, name: staging-models}
      promoted: {type: topic}
    steps:
      - name: Register
        service: sagemaker:createModelPackage
        parameters:
          ModelPackageGroupName: ${resource:models}
          ModelApprovalStatus: Approved
          InferenceSpecification:
            Containers: [{Image: "${image:classifier}", ModelDataUrl.$: $.model}]
            SupportedContentTypes: [image/jpeg]
            SupportedResponseMIMETypes: [application/json]
        result_path: $.package
      - name: Approve later
        service: sagemaker:updateModelPackage
        parameters: {ModelPackageArn.$: $.package.ModelPackageArn, ModelApprovalStatus: Rejected}
        writes: [models]
        result_path: null
      - name: Tell
        handler: tell.handler
        reads: [staging]
        writes: [promoted]
        end: true
    """

SERVE = """
    resources:
      models: {type: model-group, from: register}
      staging: {type: model-group, from: register}
    steps:
      - name: Production model
        service: sagemaker:listModelPackages
        parameters: {ModelPackageGroupName: "${resource:staging}", ModelApprovalStatus: Approved, MaxResults: 1}
        end: true
    """


def write_project(root, **specs):
    (root / "workflows").mkdir(exist_ok=True)
    (root / "handlers").mkdir(exist_ok=True)
    (root / "handlers" / "tell.py").write_text("def handler(event, context):\n    return event\n")
    (root / "images" / "classifier").mkdir(parents=True, exist_ok=True)
    (root / "images" / "classifier" / "Dockerfile").write_text("FROM python:3.11-slim\n")
    for name, text in specs.items():
        (root / "workflows" / f"{name}.yaml").write_text(textwrap.dedent(text))
    return root


def statements(role: dict) -> dict:
    return {s["Sid"]: s for s in role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]}


def arns(statement: dict) -> list[str]:
    found = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    return sorted(arn["Fn::Sub"].rsplit(":", 1)[-1] if isinstance(arn, dict) else arn for arn in found)


@pytest.fixture
def project(tmp_path):
    return write_project(tmp_path, register=REGISTER, serve=SERVE)


@pytest.fixture
def template(project):
    return build_template(load_project(project), project)


def test_a_model_group_is_a_retained_package_group_named_by_its_resource_or_its_name(template):
    resources = template["Resources"]
    assert resources["ModelsModelGroup"] == {
        "Type": "AWS::SageMaker::ModelPackageGroup", "DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain",
        "Properties": {"ModelPackageGroupName": "models",
                       "ModelPackageGroupDescription": "Candidates, Approved = production"}}
    assert resources["StagingModelGroup"]["Properties"] == {"ModelPackageGroupName": "staging-models"}
    assert template["Outputs"]["StagingModelGroupName"]["Value"] == "staging-models"


def test_a_reference_is_the_groups_name_in_both_workflows(project):
    register, serve = sorted(load_project(project), key=lambda w: w.name)
    definition, substitutions = build_definition(register)
    assert definition["States"]["Register"]["Parameters"]["ModelPackageGroupName"] == "${ModelsModelGroup}"
    assert substitutions["ModelsModelGroup"] == "models"
    # taken `from` the owner, the group keeps the owner's `name:`
    definition, substitutions = build_definition(serve)
    assert substitutions["StagingModelGroup"] == "staging-models"


def test_the_state_machine_may_register_only_in_its_group_and_update_only_its_packages(template):
    found = statements(template["Resources"]["RegisterStateMachineRole"])
    assert set(found["SageMaker"]["Action"]) == {"sagemaker:CreateModelPackage", "sagemaker:UpdateModelPackage"}
    assert arns(found["SageMaker"]) == ["model-package-group/models", "model-package/models/*"]


def test_a_handler_reading_and_writing_groups_gets_their_packages_and_a_list_on_star(template):
    role = next(r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Role"
                and "Tell" in r["Properties"].get("Description", ""))
    found = statements(role)
    assert found["ReadStagingModelGroup"]["Action"] == ["sagemaker:DescribeModelPackage",
                                                        "sagemaker:DescribeModelPackageGroup"]
    assert arns(found["ReadStagingModelGroup"]) == ["model-package-group/staging-models",
                                                    "model-package/staging-models/*"]
    assert found["ListModelPackages"]["Resource"] == "*"   # List* supports no resource-level permissions
    assert role["Metadata"]["StepsmithWildcardResources"]["ListModelPackages"]


def test_the_handler_finds_the_group_in_its_environment(template):
    function = next(r for key, r in template["Resources"].items() if key == "RegisterTellFunction")
    assert function["Properties"]["Environment"]["Variables"]["STAGING_MODEL_GROUP"] == "staging-models"


@pytest.mark.parametrize(("spec", "message"), [
    ("resources:\n  data: {type: bucket, name: data-bucket}\n",
     "`name` only applies to model-group resources"),
    ("resources:\n  data: {type: queue, description: jobs}\n",
     "`description` only applies to model-group resources"),
    ("resources:\n  models: {type: model-group, name: Models_1}\n", '"Models_1" is not valid here'),
    ("resources:\n  models: {type: model-group, name: other, external: {name: existing}}\n",
     "an external model group is named by `external.name`"),
])
def test_model_group_keys_are_checked_at_their_place(tmp_path, spec, message):
    write_project(tmp_path)
    (tmp_path / "workflows" / "bad.yaml").write_text(spec + "steps:\n  - name: Do\n    pass: {}\n")
    errors = [str(error) for error in validate_project(tmp_path)]
    assert any(message in error and "bad.yaml:" in error for error in errors), errors


def test_a_borrowed_group_cannot_be_renamed_where_it_is_borrowed(project):
    (project / "workflows" / "serve.yaml").write_text(textwrap.dedent(SERVE).replace(
        "{type: model-group, from: register}\n  staging", "{type: model-group, from: register, name: x}\n  staging"))
    errors = [str(error) for error in validate_project(project)]
    assert any("serve.yaml:3:" in error and "`name` is decided by workflow 'register'" in error for error in errors)


def test_a_local_run_creates_the_groups_and_the_role_may_register_only_there(project, tmp_path):
    compile_project(project, project / "build")
    app = App.load(project, stack="demo")
    machine = app.state_machines["RegisterStateMachine"]
    with LocalAWS(tmp_path / "state", app=app) as aws:
        sagemaker = aws.client("sagemaker")
        groups = sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"]
        assert sorted(g["ModelPackageGroupName"] for g in groups) == ["models", "staging-models"]
        assert sagemaker.describe_model_package_group(ModelPackageGroupName="models")[
            "ModelPackageGroupDescription"] == "Candidates, Approved = production"
        sagemaker.create_model_package_group(ModelPackageGroupName="someone-elses")
        container = {"Containers": [{"Image": "x", "ModelDataUrl": "s3://b/m.tar.gz"}]}
        with acting_as(machine.arn):                       # as a Task of that state machine
            arn = boto3.client("sagemaker", region_name="us-east-1").create_model_package(
                ModelPackageGroupName="models", InferenceSpecification=container)["ModelPackageArn"]
            assert arn.endswith(":model-package/models/1")
            with pytest.raises(ClientError) as refused:
                boto3.client("sagemaker", region_name="us-east-1").create_model_package(
                    ModelPackageGroupName="someone-elses", InferenceSpecification=container)
    assert "not authorized to perform: sagemaker:CreateModelPackage" in str(refused.value)
    # the groups outlive the run, as on AWS: a second session finds them and creates nothing twice
    with LocalAWS(tmp_path / "state", app=app) as aws:
        groups = aws.client("sagemaker").list_model_package_groups()["ModelPackageGroupSummaryList"]
        assert sorted(g["ModelPackageGroupName"] for g in groups) == ["models", "someone-elses", "staging-models"]
