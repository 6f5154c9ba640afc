"""tray-detector-training end to end: `stepsmith run` on a Ground Truth manifest of generated frames.

The real flow in a scratch project: the bundle handler, a training job of images/tray-detector through the
local SageMaker (MXNet + GluonCV in the image's own environment, built once and cached: 1-4 minutes on a
fresh machine), the mAP gate, the model registry and the deploy step. Training is tiny (24 frames at
64 px, one epoch: seconds), so the model is poor and its mAP near 0; the gate is exercised from both sides
with MinTestMap, and what is asserted is that the flow reads the job's own mAP and acts on it.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import cv2
import pytest
from tray_checks import invoke, training_project, upload_labelled_frames

from engine.aws import LocalAWS
from engine.commands import run

TINY = "DetectorEpochs=1 DetectorImageSize=64"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """The flow run twice on one project: approved (MinTestMap=0), then rejected (MinTestMap=2)."""
    base = tmp_path_factory.mktemp("training")
    project = training_project(base / "project")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(project)
        manifest = upload_labelled_frames(project, base / "data", {"1": 11, "2": 12, "3": 13}, 8)
        bucket = json.loads(manifest.read_text().splitlines()[0])["source-ref"].split("/")[2]
        with manifest.open("a") as f:   # one box outside its 320x240 image: listed in rejected.json, not trained on
            f.write(json.dumps({"source-ref": f"s3://{bucket}/images/line=1/00000.jpg", "trays": {
                "image_size": [{"width": 320, "height": 240}],
                "annotations": [{"class_id": 0, "left": 300, "top": 10, "width": 60, "height": 40}]},
                "trays-metadata": {"type": "groundtruth/object-detection", "class-map": {"0": "tray"}}}) + "\n")
        runs = {}
        for name, gate in (("approved", "0"), ("rejected", "2")):
            runs[name] = invoke(run, "tray-detector-training", "--file", str(manifest), "--key",
                                "manifests/output.manifest", "--name", name,
                                "--parameter-overrides", f"{TINY} MinTestMap={gate}")
        try:
            with LocalAWS(project / ".stepsmith") as aws:
                yield project, aws, runs, base / "data"
        finally:   # the endpoint's model server stops when its record goes
            shutil.rmtree(project / ".stepsmith" / "sagemaker", ignore_errors=True)


def output(result) -> dict:
    return json.loads(result.stdout[result.stdout.index("{"):])


def history(project: Path, name: str) -> dict:
    return json.loads((project / ".stepsmith" / "executions" / f"{name}.json").read_text())


def entered(project: Path, execution: str) -> list[str]:
    """The states an execution entered, in order."""
    return [event["stateEnteredEventDetails"]["name"] for event in history(project, execution)["events"]
            if "stateEnteredEventDetails" in event]


def step_output(project: Path, execution: str, step: str) -> dict:
    """The output of a step in an execution's history (TaskStateExited / state exited events)."""
    for event in history(project, execution)["events"]:
        details = event.get("stateExitedEventDetails")
        if details and details["name"] == step:
            return json.loads(details["output"])
    raise AssertionError(f"{step} did not run in {execution}")


def test_the_manifest_is_bundled_with_the_held_out_line_apart_and_the_bad_entry_listed(trained):
    project, aws, runs, _ = trained
    assert runs["approved"].exit_code == 0, runs["approved"].output
    bundle = step_output(project, "approved", "Bundle")["bundle"]
    assert (bundle["train"]["lines"], bundle["test"]["lines"]) == (["1", "2"], ["3"])
    assert bundle["rejected"] == 1
    objects = aws.client("s3")
    lst = objects.get_object(Bucket=bundle["test"]["bucket"], Key=bundle["test"]["key"])["Body"].read().decode()
    assert all(row.split("\t")[-1].startswith("images/line=3/") for row in lst.splitlines())
    assert len(lst.splitlines()) == bundle["test"]["images"] > 0
    rejected = json.loads(objects.get_object(Bucket=bundle["test"]["bucket"],
                                             Key=bundle["test"]["key"].replace("test.lst", "rejected.json"))["Body"].read())
    assert rejected == [{"line": 25, "reason": "annotation 0 is empty or outside the 320x240 image"}]


def test_the_job_trains_and_the_flow_reads_its_held_out_map(trained):
    project, aws, runs, _ = trained
    result = output(runs["approved"])
    job = aws.client("sagemaker").describe_training_job(TrainingJobName=result["training_job"])
    assert job["TrainingJobStatus"] == "Completed"
    assert job["HyperParameters"] == {"epochs": "1", "data-shape": "64"}
    log = (project / ".stepsmith" / "sagemaker" / "logs" / "TrainingJobs" / f"{result['training_job']}.log").read_text()
    printed = float(re.search(r"^test_mAP=([0-9.]+)$", log, re.MULTILINE).group(1))
    assert result["test_map"] == pytest.approx(printed) and 0 <= printed <= 1
    threshold = float(re.search(r"^test_score_threshold=([0-9.]+)$", log, re.MULTILINE).group(1))
    assert result["score_threshold"] == pytest.approx(threshold)


def test_an_approved_model_is_registered_with_its_metrics_and_serves_on_the_endpoint(trained):
    project, aws, runs, data = trained
    result = output(runs["approved"])
    sagemaker = aws.client("sagemaker")
    package = sagemaker.describe_model_package(ModelPackageName=result["model_package"])
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["CustomerMetadataProperties"] == {
        "training_job": result["training_job"], "test_map": str(result["test_map"]),
        "score_threshold": str(result["score_threshold"]), "min_test_map": "0", "test_lines": '["3"]',
        "decision": "approved"}
    job = sagemaker.describe_training_job(TrainingJobName=result["training_job"])
    container = package["InferenceSpecification"]["Containers"][0]
    assert container["ModelDataUrl"] == job["ModelArtifacts"]["S3ModelArtifacts"]
    names = entered(project, "approved")   # registered Approved once it serves, not before
    assert names[names.index("Serving") - 1:] == ["Deploy: wait: check", "Serving", "Register", "Outcome", "Deployed"]
    endpoint = sagemaker.describe_endpoint(EndpointName="tray-detector")
    assert endpoint["EndpointStatus"] == "InService" and result["endpoint"] == "tray-detector"
    frame = cv2.imencode(".jpg", cv2.imread(str(data / "images" / "line=3" / "00001.jpg")))[1].tobytes()
    answer = json.loads(aws.client("sagemaker-runtime").invoke_endpoint(
        EndpointName="tray-detector", ContentType="image/jpeg", Body=frame,
        Accept="application/json;score_threshold=0")["Body"].read())
    assert answer["prediction"] and all(len(p) == 6 and 0 <= p[1] <= 1 for p in answer["prediction"])


def test_a_model_below_the_gate_is_registered_rejected_and_not_deployed(trained):
    project, aws, runs, _ = trained
    assert runs["rejected"].exit_code == 1
    assert "ModelBelowGate" in runs["rejected"].output
    names = entered(project, "rejected")
    assert names[names.index("Good enough?") + 1:] == ["Below the gate", "Register", "Outcome", "Rejected"]
    sagemaker = aws.client("sagemaker")
    packages = sagemaker.list_model_packages(ModelPackageGroupName="tray-detector", SortBy="CreationTime",
                                             SortOrder="Ascending")["ModelPackageSummaryList"]
    assert [p["ModelApprovalStatus"] for p in packages] == ["Approved", "Rejected"]
    rejected = sagemaker.describe_model_package(ModelPackageName=packages[1]["ModelPackageArn"])
    assert rejected["CustomerMetadataProperties"]["decision"] == "rejected"
    assert rejected["CustomerMetadataProperties"]["min_test_map"] == "2"
    assert float(rejected["CustomerMetadataProperties"]["test_map"]) < 2
    # The endpoint still serves the approved model's configuration.
    approved = output(runs["approved"])
    config = sagemaker.describe_endpoint(EndpointName="tray-detector")["EndpointConfigName"]
    model = sagemaker.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"][0]["ModelName"]
    data_url = sagemaker.describe_model(ModelName=model)["PrimaryContainer"]["ModelDataUrl"]
    assert approved["training_job"] in data_url
