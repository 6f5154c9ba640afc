"""Fixtures for the review-inspection flow: a project holding it, a promoted classifier, a generated day.

"A promoted model" is made the way CONTRACT-ml says retrain-and-promote makes one: a review classifier
trained through the local SageMaker (tiny: a few seconds), then model package group `review-classifier`
and an `Approved` package naming its image and ModelDataUrl.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

HANDLERS = Path(__file__).resolve().parents[3] / "handlers"
if str(HANDLERS) not in sys.path:
    sys.path.insert(0, str(HANDLERS))  # the Lambda task root: `review_inspection` is a top-level package

from review_inspection_checks import ROOT, make_day, upload_day

from engine.aws import LocalAWS

HERE = Path(__file__).parent
IMAGE = "111111111111.dkr.ecr.us-east-1.amazonaws.com/review-classifier:latest"
TRAINING_ROLE = "arn:aws:iam::111111111111:role/retrain-and-promote-training"
DATASETS = "stepsmith-datasetsbucket"     # retrain-and-promote's `datasets` bucket in the local stack


def new_project(root: Path) -> Path:
    """This flow's spec and retrain-and-promote's (the real one once it exists, else the stand-in that
    declares what review-inspection takes from it), with handlers/ and images/ linked."""
    (root / "workflows").mkdir(parents=True)
    shutil.copy(ROOT / "workflows" / "review-inspection.yaml", root / "workflows")
    retrain = ROOT / "workflows" / "retrain-and-promote.yaml"
    shutil.copy(retrain if retrain.exists() else HERE / "retrain_stand_in.yaml",
                root / "workflows" / "retrain-and-promote.yaml")
    (root / "handlers").symlink_to(ROOT / "handlers")
    (root / "images").symlink_to(ROOT / "images")
    shutil.copy(ROOT / "samconfig.toml", root)
    return root


def promote_classifier(project: Path, *, per_class: int = 12, epochs: int = 3, size: int = 32) -> str:
    """Train a tiny review classifier and register it Approved in `review-classifier`; its package ARN."""
    from review_inspection_checks import review_images

    drawing = review_images()
    labelled = drawing.make_set(project / "build" / "training-set", per_class=per_class, seed=5, size=size,
                                bucket=DATASETS, prefix="labelled/", name="t")
    with LocalAWS(project / ".stepsmith") as aws:
        aws.create_bucket(DATASETS)
        s3 = aws.client("s3")
        for path in sorted(labelled.folder.rglob("*")):
            if path.is_file():
                s3.put_object(Bucket=DATASETS, Key="labelled/" + path.relative_to(labelled.folder).as_posix(),
                              Body=path.read_bytes())
        sagemaker = aws.client("sagemaker")
        sagemaker.create_training_job(
            TrainingJobName="tiny-review-classifier", RoleArn=TRAINING_ROLE,
            HyperParameters={"epochs": str(epochs), "image-size": str(size), "batch-size": "16"},
            AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
            InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
                "S3DataType": "AugmentedManifestFile", "S3Uri": f"s3://{DATASETS}/labelled/output.manifest",
                "AttributeNames": ["source-ref", "review-class", "review-class-metadata"]}}}],
            OutputDataConfig={"S3OutputPath": f"s3://{DATASETS}/models/"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
            StoppingCondition={"MaxRuntimeInSeconds": 900})
        job = _finished(sagemaker, "tiny-review-classifier")
        assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
        return register_approved(aws, job)


def register_approved(aws, job: dict, *, status: str = "Approved") -> str:
    """CreateModelPackage for a finished training job, as retrain-and-promote records a candidate."""
    sagemaker = aws.client("sagemaker")
    if not sagemaker.list_model_package_groups(NameContains="review-classifier")["ModelPackageGroupSummaryList"]:
        sagemaker.create_model_package_group(ModelPackageGroupName="review-classifier")
    return sagemaker.create_model_package(
        ModelPackageGroupName="review-classifier", ModelApprovalStatus=status,
        InferenceSpecification={"Containers": [{"Image": IMAGE,
                                                "ModelDataUrl": job["ModelArtifacts"]["S3ModelArtifacts"]}],
                                "SupportedContentTypes": ["application/x-image"],
                                "SupportedResponseMIMETypes": ["application/json"]},
        CustomerMetadataProperties={"training_job": job["TrainingJobName"], "macro_f1": "0.5",
                                    "production_macro_f1": "none", "decision": "promoted",
                                    "reason": "test fixture"})["ModelPackageArn"]


def _finished(sagemaker, name: str) -> dict:
    import time

    deadline = time.monotonic() + 900
    while True:
        job = sagemaker.describe_training_job(TrainingJobName=name)
        if job["TrainingJobStatus"] not in ("InProgress", "Stopping") or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Path:
    """A project whose local state holds a promoted tiny classifier (trained once per session)."""
    return_project = new_project(tmp_path_factory.mktemp("trained") / "project")
    promote_classifier(return_project)
    return return_project


@pytest.fixture
def project(trained, tmp_path) -> Path:
    """A fresh copy of the trained project (its local state: the classifier and its registry)."""
    copy = new_project(tmp_path / "project")
    shutil.copytree(trained / ".stepsmith", copy / ".stepsmith", ignore=shutil.ignore_patterns("*.lock"))
    return copy


@pytest.fixture
def day(project, tmp_path):
    """A small generated day (24 reviews, some broken), uploaded to the project's review-uploads bucket."""
    made = make_day(tmp_path / "day", date="2026-12-03", reviews=24, size=32, seed=3, broken=0.15)
    upload_day(project, made)
    return made
