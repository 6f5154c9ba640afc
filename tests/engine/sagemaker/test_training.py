"""Local SageMaker training jobs: the container contract, statuses, metrics, failures, stop, time limit."""
import io
import json
import tarfile
import time

import pytest
from botocore.exceptions import ClientError
from sagemaker_checks import train, training_job, wait_for

MANIFEST_LINE = {"source-ref": "s3://data/images/a.jpg", "review-class": 1, "worker": "w-1",
                 "review-class-metadata": {"class-name": "product", "type": "groundtruth/image-classification"}}


def _tar_members(aws, uri: str) -> dict[str, bytes]:
    bucket, key = uri[5:].split("/", 1)
    data = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_a_job_runs_the_script_with_channels_hyperparameters_and_uploads_the_model(aws, project):
    s3 = aws.client("s3")
    s3.put_object(Bucket="data", Key="train/a.txt", Body=b"a")
    s3.put_object(Bucket="data", Key="train/sub/b.txt", Body=b"b")
    s3.put_object(Bucket="data", Key="images/a.jpg", Body=b"jpeg")
    s3.put_object(Bucket="data", Key="gt/output.manifest", Body=json.dumps(MANIFEST_LINE).encode() + b"\n")
    channels = [
        {"ChannelName": "train", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://data/train"}}},
        {"ChannelName": "labels", "DataSource": {"S3DataSource": {
            "S3DataType": "AugmentedManifestFile", "S3Uri": "s3://data/gt/output.manifest",
            "AttributeNames": ["source-ref", "review-class"]}}}]
    job = train(aws, "job-ok", hyperparameters={"epochs": "4", "scale": "3"}, channels=channels)

    assert job["TrainingJobStatus"] == "Completed" and job["SecondaryStatus"] == "Completed"
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]] == \
        ["Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert all(t["EndTime"] >= t["StartTime"] for t in job["SecondaryStatusTransitions"])
    assert job["TrainingEndTime"] >= job["TrainingStartTime"] >= job["CreationTime"]
    # the last value each MetricDefinitions regex found, in the definitions' order
    assert [(m["MetricName"], m["Value"]) for m in job["FinalMetricDataList"]] == \
        [("validation:macro_f1", 0.9), ("train:loss", 0.25)]
    model = job["ModelArtifacts"]["S3ModelArtifacts"]
    assert model == "s3://data/models/job-ok/output/model.tar.gz"
    assert json.loads(_tar_members(aws, model)["model.json"]) == {"scale": 3.0, "saved": "done"}
    assert _tar_members(aws, "s3://data/models/job-ok/output/output.tar.gz") == {"report.txt": b"trained"}

    log = (project / ".stepsmith/sagemaker/logs/TrainingJobs/job-ok.log").read_text()
    assert "channel train: ['a.txt', 'sub/b.txt']" in log            # the key after the prefix's folder
    # an augmented manifest: its lines reduced to AttributeNames, and each -ref object at <bucket>/<key>
    assert "channel labels: ['data/images/a.jpg', 'output.manifest']" in log
    folder = project / ".stepsmith/sagemaker/training-jobs/job-ok/opt/ml"
    assert json.loads((folder / "input/data/labels/output.manifest").read_text()) == \
        {"source-ref": "s3://data/images/a.jpg", "review-class": 1}
    assert json.loads((folder / "input/config/hyperparameters.json").read_text()) == {"epochs": "4", "scale": "3"}
    assert 'hps {"epochs": 4, "scale": 3}' in log


def test_the_failure_file_becomes_the_failure_reason(aws):
    job = train(aws, "job-fail", hyperparameters={"mode": "fail"})
    assert job["TrainingJobStatus"] == "Failed" and job["SecondaryStatus"] == "Failed"
    assert job["FailureReason"] == "AlgorithmError: ValueError: the labels are unusable"
    assert job["SecondaryStatusTransitions"][-1]["StatusMessage"].startswith("Training job failed. Reason:")
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == ""


def test_a_crash_without_a_failure_file_names_the_exit_code_and_the_error(aws):
    job = train(aws, "job-crash", hyperparameters={"mode": "crash"})
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("AlgorithmError: ExecuteUserScriptError: train.py exited with code 1")
    assert "RuntimeError: boom without a failure file" in job["FailureReason"]


def test_stop_sends_sigterm_and_keeps_the_model_saved_on_the_way_out(aws):
    sagemaker = aws.client("sagemaker")
    sagemaker.create_training_job(**training_job("job-stop", hyperparameters={"mode": "sleep"}))
    log = aws.state_dir / "sagemaker/logs/TrainingJobs/job-stop.log"
    deadline = time.monotonic() + 30
    while "epoch=1" not in log.read_text() and time.monotonic() < deadline:   # inside its first epoch
        time.sleep(0.05)
    sagemaker.stop_training_job(TrainingJobName="job-stop")
    assert sagemaker.describe_training_job(TrainingJobName="job-stop")["TrainingJobStatus"] in ("Stopping", "Stopped")
    job = wait_for(lambda: sagemaker.describe_training_job(TrainingJobName="job-stop"), "TrainingJobStatus",
                   ("InProgress", "Stopping"), timeout=20)
    assert job["TrainingJobStatus"] == "Stopped" and job["SecondaryStatus"] == "Stopped"
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]][-2:] == ["Stopping", "Stopped"]
    members = _tar_members(aws, job["ModelArtifacts"]["S3ModelArtifacts"])
    assert json.loads(members["model.json"])["saved"] == "sigterm"
    with pytest.raises(ClientError) as error:
        sagemaker.stop_training_job(TrainingJobName="job-stop")
    assert error.value.response["Error"]["Code"] == "ValidationException"


def test_max_runtime_stops_the_job_as_max_runtime_exceeded(aws):
    job = train(aws, "job-slow", hyperparameters={"mode": "sleep"}, max_runtime=1)
    assert job["TrainingJobStatus"] == "Stopped"
    assert job["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert job["TrainingTimeInSeconds"] < 10


def test_errors_the_service_reports(aws):
    sagemaker = aws.client("sagemaker")
    train(aws, "job-once")
    with pytest.raises(ClientError) as error:
        sagemaker.create_training_job(**training_job("job-once"))
    assert error.value.response["Error"]["Code"] == "ResourceInUse"
    with pytest.raises(ClientError) as error:
        sagemaker.create_training_job(**training_job("job-regex", metrics=[{"Name": "m", "Regex": "(unclosed"}]))
    assert error.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as error:
        sagemaker.describe_training_job(TrainingJobName="never-created")
    assert error.value.response["Error"]["Code"] == "ValidationException"


def test_an_unknown_image_or_missing_data_fails_the_job_with_a_client_error(aws):
    job = train(aws, "job-image", image="111111111111.dkr.ecr.us-east-1.amazonaws.com/nothing-here:1")
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("ClientError: image 111111111111.dkr.ecr")
    channels = [{"ChannelName": "train", "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": "s3://data/empty/"}}}]
    job = train(aws, "job-nodata", channels=channels)
    assert job["FailureReason"].startswith('ClientError: No S3 objects found under S3 URL "s3://data/empty/"')


def test_a_job_whose_process_ended_is_reported_failed_by_the_next_describe(aws):
    from engine.aws.providers.sagemaker_state import Records

    jobs = Records(aws, "training-jobs")
    record = {"TrainingJobName": "job-orphan", "TrainingJobArn": jobs.arn("training-job", "job-orphan"),
              "TrainingJobStatus": "InProgress", "SecondaryStatus": "Training", "CreationTime": time.time(),
              "LastModifiedTime": time.time(), "SecondaryStatusTransitions": [], "_owner": {"pid": 999999999}}
    jobs.put(record, "job-orphan")
    job = aws.client("sagemaker").describe_training_job(TrainingJobName="job-orphan")
    assert job["TrainingJobStatus"] == "Failed"
    assert "ended before the job finished" in job["FailureReason"]
