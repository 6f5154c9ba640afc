"""Helpers for the local SageMaker tests: job parameters, waiting on statuses, cleaning up servers."""
import time

IMAGE = "111111111111.dkr.ecr.us-east-1.amazonaws.com/stepsmith-echo:latest"   # resolves to images/echo
ROLE = "arn:aws:iam::111111111111:role/sagemaker-execution"


def stop_endpoints(aws) -> None:
    """Delete every endpoint, so no model server outlives the test."""
    sagemaker = aws.client("sagemaker")
    for endpoint in sagemaker.list_endpoints()["Endpoints"]:
        sagemaker.delete_endpoint(EndpointName=endpoint["EndpointName"])


def wait_for(describe, field: str, moving: tuple[str, ...], timeout: float = 60) -> dict:
    """Describe until `field` leaves the `moving` statuses; returns the last description."""
    deadline = time.monotonic() + timeout
    while True:
        answer = describe()
        if answer[field] not in moving:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"{field} still {answer[field]} after {timeout} s")
        time.sleep(0.05)


def training_job(name: str, *, hyperparameters=None, channels=None, max_runtime: int = 120,
                 image: str = IMAGE, metrics=None) -> dict:
    """CreateTrainingJob parameters for the echo image."""
    return {
        "TrainingJobName": name, "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File",
                                   "MetricDefinitions": metrics if metrics is not None else [
                                       {"Name": "validation:macro_f1", "Regex": r"validation:macro_f1=([0-9.]+)"},
                                       {"Name": "train:loss", "Regex": r"train_loss=([0-9.]+)"}]},
        **({"InputDataConfig": channels} if channels else {}),
        "OutputDataConfig": {"S3OutputPath": "s3://data/models"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
        "HyperParameters": hyperparameters or {},
    }


def train(aws, name: str, **options) -> dict:
    """Run a training job to its end; returns DescribeTrainingJob."""
    sagemaker = aws.client("sagemaker")
    sagemaker.create_training_job(**training_job(name, **options))
    return wait_for(lambda: sagemaker.describe_training_job(TrainingJobName=name), "TrainingJobStatus",
                    ("InProgress", "Stopping"))


def deploy_model(aws, model: str, *, scale: float = 2.0, program: str | None = None) -> None:
    """Upload a model.tar.gz for the echo image and CreateModel on it."""
    import io
    import json
    import tarfile

    data = json.dumps({"scale": scale}).encode()
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w:gz") as tar:
        info = tarfile.TarInfo("model.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    aws.client("s3").put_object(Bucket="data", Key=f"models/{model}/model.tar.gz", Body=archive.getvalue())
    container = {"Image": IMAGE, "ModelDataUrl": f"s3://data/models/{model}/model.tar.gz"}
    if program:
        container["Environment"] = {"SAGEMAKER_PROGRAM": program}
    aws.client("sagemaker").create_model(ModelName=model, PrimaryContainer=container, ExecutionRoleArn=ROLE)


def endpoint_config(aws, name: str, model: str) -> None:
    aws.client("sagemaker").create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": model, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])


def settled(aws, endpoint: str, timeout: float = 60) -> dict:
    """DescribeEndpoint once it is neither Creating nor Updating."""
    sagemaker = aws.client("sagemaker")
    return wait_for(lambda: sagemaker.describe_endpoint(EndpointName=endpoint), "EndpointStatus",
                    ("Creating", "Updating"), timeout)


def invoke(aws, endpoint: str, x) -> dict:
    import json

    answer = aws.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=endpoint, Body=json.dumps({"x": x}), ContentType="application/json")
    return json.loads(answer["Body"].read())


def review_images():
    """bench/review_images.py, the labelled review-photo generator, as a module."""
    import importlib.util
    import sys
    from pathlib import Path

    if "bench_review_images" not in sys.modules:
        path = Path(__file__).resolve().parents[3] / "bench" / "review_images.py"
        spec = importlib.util.spec_from_file_location("bench_review_images", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_review_images"] = module   # dataclasses look their module up while the class is built
        spec.loader.exec_module(module)
    return sys.modules["bench_review_images"]
