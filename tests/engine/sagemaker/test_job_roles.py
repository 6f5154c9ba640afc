"""A local SageMaker job reads and writes S3 as its role, as SageMaker does, and IAM judges it as that role.

A transform job works as its model's ExecutionRoleArn, a training job as its RoleArn: a role the workflow's
spec did not grant a bucket fails the job with AWS's refusal, where it would fail on AWS, instead of
succeeding locally.
"""
import io
import json
import shutil
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from sagemaker_checks import IMAGE, stop_endpoints, training_job, wait_for

from engine.app import App
from engine.aws import LocalAWS
from engine.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
SPEC = """\
name: jobs
resources:
  inputs: {type: bucket}
  outputs: {type: bucket}
  elsewhere: {type: bucket}
  job-role:
    type: role
    service: sagemaker
    reads: [inputs]
    writes: [outputs]
    images: [echo]
steps:
  - name: Done
    succeed: {}
"""
# Another workflow adds a grant to the same role (an AWS::IAM::Policy attached to it).
MORE = """\
name: more
resources:
  extra: {type: bucket}
  job-role: {type: role, from: jobs, reads: [extra]}
steps:
  - name: Done
    succeed: {}
"""


@pytest.fixture
def granted(tmp_path, monkeypatch):
    """A local AWS checking IAM for an app whose role may read `inputs` and write `outputs`, nothing else."""
    shutil.copytree(FIXTURES / "images", tmp_path / "images")
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "jobs.yaml").write_text(SPEC)
    (tmp_path / "workflows" / "more.yaml").write_text(MORE)
    monkeypatch.chdir(tmp_path)
    assert CliRunner().invoke(main, ["compile"]).exit_code == 0
    app = App.load(tmp_path)
    with LocalAWS(tmp_path / ".stepsmith", app=app) as aws:
        try:
            yield SimpleNamespace(aws=aws, s3=aws.client("s3"), role=f"arn:aws:iam::{app.account}:role/{app.stack}-JobRoleRole",
                                  **{name: app.buckets[f"{name.title()}Bucket"] for name in ("inputs", "outputs", "elsewhere", "extra")})
        finally:
            stop_endpoints(aws)


def _model(local) -> None:
    archive = io.BytesIO()
    data = json.dumps({"scale": 2}).encode()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        info = tarfile.TarInfo("model.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    local.s3.put_object(Bucket=local.inputs, Key="model.tar.gz", Body=archive.getvalue())
    local.aws.client("sagemaker").create_model(ModelName="m", ExecutionRoleArn=local.role, PrimaryContainer={
        "Image": IMAGE, "ModelDataUrl": f"s3://{local.inputs}/model.tar.gz"})


def _transform(local, name: str, source: str, output: str) -> dict:
    sagemaker = local.aws.client("sagemaker")
    sagemaker.create_transform_job(
        TransformJobName=name, ModelName="m", BatchStrategy="SingleRecord",
        TransformInput={"ContentType": "application/json", "DataSource": {
            "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": source}}},
        TransformOutput={"S3OutputPath": output, "Accept": "application/json"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
    return wait_for(lambda: sagemaker.describe_transform_job(TransformJobName=name), "TransformJobStatus",
                    ("InProgress", "Stopping"))


def _refusal(local, action: str, resource: str) -> str:
    return (f"User: arn:aws:sts::{local.aws.account}:assumed-role/{local.role.rsplit('/', 1)[1]}/SageMaker is not "
            f"authorized to perform: {action} on resource: {resource} because no identity-based policy allows "
            f"the {action} action")


def test_a_transform_job_reads_and_writes_what_its_model_role_was_granted(granted):
    local, s3 = granted, granted.s3
    _model(local)
    s3.put_object(Bucket=local.inputs, Key="day/a.json", Body=b'{"x": 1}')
    s3.put_object(Bucket=local.elsewhere, Key="day/a.json", Body=b'{"x": 1}')
    s3.put_object(Bucket=local.extra, Key="day/a.json", Body=b'{"x": 1}')

    done = _transform(local, "granted", f"s3://{local.inputs}/day/", f"s3://{local.outputs}/run/")
    assert done["TransformJobStatus"] == "Completed", done.get("FailureReason")
    written = s3.get_object(Bucket=local.outputs, Key="run/a.json.out")
    assert json.loads(written["Body"].read()) == {"y": 2.0}
    assert written["ContentType"] == "application/json"

    added = _transform(local, "added", f"s3://{local.extra}/day/", f"s3://{local.outputs}/added/")
    assert added["TransformJobStatus"] == "Completed", added.get("FailureReason")   # the other workflow's grant

    unreadable = _transform(local, "unreadable", f"s3://{local.elsewhere}/day/", f"s3://{local.outputs}/other/")
    assert unreadable["TransformJobStatus"] == "Failed"
    assert unreadable["FailureReason"].startswith("ClientError: Access Denied")
    assert _refusal(local, "s3:ListBucket", f"arn:aws:s3:::{local.elsewhere}") in unreadable["FailureReason"]

    unwritable = _transform(local, "unwritable", f"s3://{local.inputs}/day/", f"s3://{local.elsewhere}/run/")
    assert unwritable["TransformJobStatus"] == "Failed"
    assert _refusal(local, "s3:PutObject", f"arn:aws:s3:::{local.elsewhere}/run/a.json.out") \
        in unwritable["FailureReason"]
    assert "Contents" not in s3.list_objects_v2(Bucket=local.elsewhere, Prefix="run/")


def test_a_training_job_reads_its_channels_and_writes_its_model_as_its_role(granted):
    local, s3 = granted, granted.s3
    sagemaker = local.aws.client("sagemaker")
    s3.put_object(Bucket=local.elsewhere, Key="train/a.csv", Body=b"1,2\n")
    s3.put_object(Bucket=local.inputs, Key="train/a.csv", Body=b"1,2\n")

    def trained(name: str, data: str, output: str) -> dict:
        job = training_job(name, channels=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{data}/train/"}}}])
        sagemaker.create_training_job(**{**job, "RoleArn": local.role, "OutputDataConfig": {"S3OutputPath": output}})
        return wait_for(lambda: sagemaker.describe_training_job(TrainingJobName=name), "TrainingJobStatus",
                        ("InProgress", "Stopping"))

    granted_job = trained("t-granted", local.inputs, f"s3://{local.outputs}/models")
    assert granted_job["TrainingJobStatus"] == "Completed", granted_job.get("FailureReason")
    s3.head_object(Bucket=local.outputs, Key="models/t-granted/output/model.tar.gz")

    unreadable = trained("t-unreadable", local.elsewhere, f"s3://{local.outputs}/models")
    assert unreadable["TrainingJobStatus"] == "Failed"
    assert _refusal(local, "s3:ListBucket", f"arn:aws:s3:::{local.elsewhere}") in unreadable["FailureReason"]

    unwritable = trained("t-unwritable", local.inputs, f"s3://{local.elsewhere}/models")
    assert unwritable["TrainingJobStatus"] == "Failed"
    assert _refusal(local, "s3:PutObject", f"arn:aws:s3:::{local.elsewhere}/models/t-unwritable/output/model.tar.gz") \
        in unwritable["FailureReason"]
