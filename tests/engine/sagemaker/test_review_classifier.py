"""The review classifier image end to end on the local SageMaker: train → deploy → invoke → batch transform.

Uses the real images/review-classifier (MXNet 1.9.1 + GluonCV in its own environment, built once and
cached in ~/.cache/stepsmith: about 1-4 minutes the first time on a fresh machine) on a tiny generated
set, so the training itself takes seconds; bench/sagemaker.py trains the full demo model.
"""
import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from sagemaker_checks import ROLE, review_images, settled, stop_endpoints, wait_for

from engine.aws import LocalAWS

REPO = Path(__file__).resolve().parents[3]
IMAGE = "111111111111.dkr.ecr.us-east-1.amazonaws.com/review-classifier:latest"


@pytest.fixture
def classifier_aws(tmp_path):
    (tmp_path / "images").symlink_to(REPO / "images")
    with LocalAWS(tmp_path / ".stepsmith") as aws:
        aws.create_bucket("datasets")
        try:
            yield aws
        finally:
            stop_endpoints(aws)


def _upload(aws, folder: Path, prefix: str) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            aws.client("s3").put_object(Bucket="datasets", Key=prefix + path.relative_to(folder).as_posix(),
                                        Body=path.read_bytes())


def _train(aws, name: str, manifest_uri: str, model_uri: str | None = None) -> dict:
    sagemaker = aws.client("sagemaker")
    channels = [{"ChannelName": "validation" if model_uri else "train", "DataSource": {"S3DataSource": {
        "S3DataType": "AugmentedManifestFile", "S3Uri": manifest_uri,
        "AttributeNames": ["source-ref", "review-class", "review-class-metadata"]}}}]
    if model_uri:   # evaluation only: score that model on the manifest
        channels.append({"ChannelName": "model", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": model_uri}}})
    sagemaker.create_training_job(
        TrainingJobName=name, RoleArn=ROLE, HyperParameters={"epochs": "2", "image-size": "24", "batch-size": "16"},
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File", "MetricDefinitions": [
            {"Name": "validation:macro_f1", "Regex": r"validation_macro_f1=([0-9.]+)"},
            {"Name": "validation:accuracy", "Regex": r"validation_accuracy=([0-9.]+)"},
            {"Name": "validation:recall_product", "Regex": r"validation_recall_product=([0-9.]+)"}]},
        InputDataConfig=channels,
        OutputDataConfig={"S3OutputPath": "s3://datasets/models"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 900})
    return wait_for(lambda: sagemaker.describe_training_job(TrainingJobName=name), "TrainingJobStatus",
                    ("InProgress", "Stopping"), timeout=900)


def test_train_deploy_invoke_and_transform_the_review_classifier(classifier_aws, tmp_path):
    aws = classifier_aws
    generator = review_images()
    labelled = generator.make_set(tmp_path / "set", per_class=8, seed=3, size=48, bucket="datasets",
                                  prefix="reviews/", name="s")
    _upload(aws, labelled.folder, "reviews/")
    job = _train(aws, "classifier", "s3://datasets/reviews/output.manifest")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    metrics = {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]}
    assert set(metrics) == {"validation:macro_f1", "validation:accuracy", "validation:recall_product"}
    assert 0 <= metrics["validation:macro_f1"] <= 1

    sagemaker = aws.client("sagemaker")
    sagemaker.create_model(ModelName="classifier", ExecutionRoleArn=ROLE, PrimaryContainer={
        "Image": IMAGE, "ModelDataUrl": job["ModelArtifacts"]["S3ModelArtifacts"]})
    sagemaker.create_endpoint_config(EndpointConfigName="classifier-1", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "classifier", "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large"}])
    sagemaker.create_endpoint(EndpointName="review-classifier", EndpointConfigName="classifier-1")
    assert settled(aws, "review-classifier", timeout=300)["EndpointStatus"] == "InService"

    runtime = aws.client("sagemaker-runtime")
    photo = next((labelled.folder / "images").glob("*product*.jpg")).read_bytes()
    answer = json.loads(runtime.invoke_endpoint(EndpointName="review-classifier", Body=photo,
                                                ContentType="application/x-image")["Body"].read())
    assert answer["label"] in generator.CLASSES
    assert set(answer["probabilities"]) == set(generator.CLASSES)
    assert sum(answer["probabilities"].values()) == pytest.approx(1, abs=1e-3)
    assert answer["confidence"] == max(answer["probabilities"].values())
    # an evaluation-only job scores the same model on the whole set exactly as the endpoint answers it
    evaluation = _train(aws, "evaluate", "s3://datasets/reviews/output.manifest",
                        job["ModelArtifacts"]["S3ModelArtifacts"])
    assert evaluation["TrainingJobStatus"] == "Completed", evaluation.get("FailureReason")
    scored = {m["MetricName"]: m["Value"] for m in evaluation["FinalMetricDataList"]}
    correct = 0
    for path in sorted((labelled.folder / "images").glob("*.jpg")):
        label = json.loads(runtime.invoke_endpoint(EndpointName="review-classifier", Body=path.read_bytes(),
                                                   ContentType="application/x-image")["Body"].read())["label"]
        correct += label == labelled.truth[path.name]
    assert scored["validation:accuracy"] == pytest.approx(correct / len(labelled.truth), abs=1e-4)

    with pytest.raises(ClientError) as refused:
        runtime.invoke_endpoint(EndpointName="review-classifier", Body=b"a,b", ContentType="text/csv")
    assert refused.value.response["OriginalStatusCode"] == 415

    sagemaker.create_transform_job(
        TransformJobName="daily", ModelName="classifier", BatchStrategy="SingleRecord",
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                        "S3Uri": "s3://datasets/reviews/images/s-package"}},
                        "ContentType": "application/x-image", "SplitType": "None"},
        TransformOutput={"S3OutputPath": "s3://datasets/inference/", "Accept": "application/json"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
    transform = wait_for(lambda: sagemaker.describe_transform_job(TransformJobName="daily"), "TransformJobStatus",
                         ("InProgress",), timeout=300)
    assert transform["TransformJobStatus"] == "Completed", transform.get("FailureReason")
    listed = aws.client("s3").list_objects_v2(Bucket="datasets", Prefix="inference/")["Contents"]
    assert len(listed) == 8 and all(item["Key"].endswith(".jpg.out") for item in listed)
    first = aws.client("s3").get_object(Bucket="datasets", Key=listed[0]["Key"])["Body"].read()
    assert json.loads(first)["label"] in generator.CLASSES


def test_a_manifest_naming_a_missing_image_fails_the_job_with_a_data_error(classifier_aws, tmp_path):
    aws = classifier_aws
    line = {"source-ref": "s3://datasets/reviews/images/none.jpg", "review-class": 1,
            "review-class-metadata": {"class-name": "product"}}
    aws.client("s3").put_object(Bucket="datasets", Key="reviews/images/none.jpg", Body=b"x")
    aws.client("s3").put_object(Bucket="datasets", Key="broken/output.manifest",
                                Body=(json.dumps(line) + "\n").encode())
    job = _train(aws, "broken", "s3://datasets/broken/output.manifest")
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("AlgorithmError: DataError:")
