"""tray-count end to end: `stepsmith run tray-count --file line-3.mp4 --out-dir out/` on a generated line video.

A scratch project as a user has it after the README's two commands: a tray detector trained by
tray-detector-training (tray_checks.trained_detector: trained once per version of the code and cached) serves
on the local `tray-detector` endpoint, and the counting flow runs on a video whose trays per bin the
generator knows. The counts must be exact: the detector's scores are calibrated on its held-out line and the
counter's default MIN_CONFIDENCE of 0.5 is that calibration's "as likely a tray as not".
"""

from __future__ import annotations

import json
import shutil
import time

import pytest
from tray_checks import ROOT, invoke, load_packing_line, trained_detector

from engine.aws import LocalAWS
from engine.commands import run
from engine.s3_commands import s3


@pytest.fixture(scope="module")
def counted(tmp_path_factory: pytest.TempPathFactory):
    """A line of three bins counted once in a fresh project whose tray-detector endpoint serves the trained model."""
    base = tmp_path_factory.mktemp("count")
    model = trained_detector(tmp_path_factory.mktemp("detector"))
    project = base / "project"
    (project / "workflows").mkdir(parents=True)
    shutil.copy(ROOT / "workflows" / "tray-count.yaml", project / "workflows")
    shutil.copytree(ROOT / "handlers" / "tray_count", project / "handlers" / "tray_count",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (project / "images").mkdir()
    for image in ("tray-detector", "tray-count"):
        (project / "images" / image).symlink_to(ROOT / "images" / image)
    line = load_packing_line().make_line(base / "line-3.mp4", 3, seed=7)
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(project)
        assert invoke(s3, "mb", "s3://models").exit_code == 0
        assert invoke(s3, "cp", str(model), "s3://models/tray-detector/model.tar.gz").exit_code == 0
        with LocalAWS(project / ".stepsmith") as aws:
            deploy(aws, "s3://models/tray-detector/model.tar.gz")
        result = invoke(run, "tray-count", "--file", str(line.path), "--out-dir", str(base / "out"), "--name", "count")
    try:
        with LocalAWS(project / ".stepsmith") as aws:
            yield line, result, base / "out", aws
    finally:   # the endpoint's model server stops when its record goes
        shutil.rmtree(project / ".stepsmith" / "sagemaker", ignore_errors=True)


def deploy(aws, model_data: str) -> None:
    """What tray-detector-training's Deploy step does, for a model it trained earlier."""
    sagemaker = aws.client("sagemaker")
    role = "arn:aws:iam::111111111111:role/tray-detector"
    image = "111111111111.dkr.ecr.us-east-1.amazonaws.com/tray-detector:latest"
    sagemaker.create_model(ModelName="tray-detector-1", ExecutionRoleArn=role,
                           PrimaryContainer={"Image": image, "ModelDataUrl": model_data})
    sagemaker.create_endpoint_config(EndpointConfigName="tray-detector-1", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "tray-detector-1", "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large"}])
    sagemaker.create_endpoint(EndpointName="tray-detector", EndpointConfigName="tray-detector-1")
    deadline = time.monotonic() + 300
    while (status := sagemaker.describe_endpoint(EndpointName="tray-detector")["EndpointStatus"]) == "Creating":
        assert time.monotonic() < deadline, "the tray-detector endpoint is still Creating after 300 s"
        time.sleep(0.2)
    assert status == "InService", status


def test_every_bin_of_the_line_is_counted_exactly(counted):
    line, result, _, _ = counted
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout[result.stdout.index("{"):])
    assert answer["line"] == "3"
    assert answer["bins"] == line.bins
    assert answer["total"] == sum(line.bins)


def test_the_counts_are_written_to_out_and_to_the_table(counted):
    line, _, out, aws = counted
    written = json.loads((out / "counts" / "line=3" / "line-3.mp4.json").read_text())
    assert (written["bins"], written["total"], written["frames"]) == (line.bins, sum(line.bins), len(line.frames))
    detections = json.loads((out / "detections" / "line-3.mp4.json").read_text())
    assert len(detections["frames"]) == len(line.frames)
    table = next(name for name in aws.client("dynamodb").list_tables()["TableNames"] if name.endswith("-TrayCountsTable"))
    row = aws.client("dynamodb").get_item(TableName=table, Key={"id": {"S": "3#line-3.mp4"}})["Item"]
    assert row["bins"] == {"L": [{"N": str(n)} for n in line.bins]} and row["total"] == {"N": str(sum(line.bins))}
