"""A manifest that cannot train the classifier ends the run FAILED before anything is trained."""
from __future__ import annotations

import json

from retrain_checks import DATASETS, WORKFLOW, history, new_project, review_images, stepsmith, upload_set

from engine.aws import LocalAWS


def test_a_bad_manifest_fails_clearly_and_trains_nothing(tmp_path, monkeypatch):
    project = new_project(tmp_path / "project")
    monkeypatch.chdir(project)
    labelled = review_images().make_set(tmp_path / "set", per_class=3, seed=5, size=16, bucket=DATASETS,
                                        prefix="reviews/", name="s")
    upload_set(labelled, "reviews/")
    lines = labelled.manifest.read_text().splitlines()
    selfie = json.loads(lines[0])
    selfie["review-class-metadata"]["class-name"] = "selfie"
    missing = json.loads(lines[1])
    missing["source-ref"] = f"s3://{DATASETS}/reviews/images/gone.jpg"
    labelled.manifest.write_text("\n".join([json.dumps(selfie), json.dumps(missing), *lines[2:]]) + "\n")

    result = stepsmith("run", WORKFLOW, "--file", str(labelled.manifest), "--key", "manifests/bad.manifest",
                       "--name", "bad", "--parameter-overrides", "MinImagesPerClass=3")
    assert result.exit_code == 1
    record = history(project, "bad")
    assert record["status"] == "FAILED" and record["error"] == "DatasetRejected"
    cause = record["cause"]
    assert cause.startswith(f"s3://{DATASETS}/manifests/bad.manifest: 1 bad line(s): line 1: unknown class 'selfie'")
    (message,) = record["published"]["sns"]
    assert message["subject"] == "review-classifier dataset rejected" and message["message"] == cause
    with LocalAWS(project / ".stepsmith") as aws:
        assert aws.client("sagemaker").list_training_jobs()["TrainingJobSummaries"] == []

    # with the class fixed, the missing image is what stops it
    labelled.manifest.write_text("\n".join([lines[0], json.dumps(missing), *lines[2:]]) + "\n")
    result = stepsmith("run", WORKFLOW, "--file", str(labelled.manifest), "--key", "manifests/bad.manifest",
                       "--name", "missing", "--parameter-overrides", "MinImagesPerClass=3")
    assert result.exit_code == 1
    cause = history(project, "missing")["cause"]
    assert "1 image(s) missing or empty" in cause and "reviews/images/gone.jpg" in cause


def test_a_training_job_that_fails_is_caught_reported_and_fails_the_run(tmp_path, monkeypatch):
    project = new_project(tmp_path / "project")
    monkeypatch.chdir(project)
    labelled = review_images().make_set(tmp_path / "set", per_class=3, seed=6, size=16, bucket=DATASETS,
                                        prefix="reviews/", name="s")
    (labelled.folder / "images" / "s-product-0001.jpg").write_bytes(b"not a jpeg")   # Prepare cannot tell
    upload_set(labelled, "reviews/")
    result = stepsmith("run", WORKFLOW, "--file", str(labelled.manifest), "--key", "manifests/corrupt.manifest",
                       "--name", "corrupt", "--parameter-overrides", "MinImagesPerClass=3 TrainingEpochs=1")
    assert result.exit_code == 1
    record = history(project, "corrupt")
    assert record["error"] == "States.TaskFailed"
    assert "AlgorithmError: DataError: s-product-0001.jpg is not a readable image" in record["cause"]
    (message,) = record["published"]["sns"]
    assert message["subject"] == "review-classifier training job failed"
    assert "s-product-0001.jpg is not a readable image" in message["message"]
    with LocalAWS(project / ".stepsmith") as aws:
        assert aws.client("sagemaker").list_model_packages(ModelPackageGroupName="review-classifier")[
            "ModelPackageSummaryList"] == []                                     # no candidate, nothing registered
