"""A scratch project holding the retrain-and-promote flow, and what a user looks at after a run."""
from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

from click.testing import CliRunner, Result

from engine.aws import LocalAWS
from engine.cli import main

ROOT = Path(__file__).resolve().parents[3]
WORKFLOW = "retrain-and-promote"
DATASETS = "stepsmith-datasetsbucket"        # `datasets` in the stack `stepsmith` (samconfig.toml)
ENDPOINT = "review-classifier"
GROUP = "review-classifier"


def review_images():
    """bench/review_images.py, the labelled review-photo generator, as a module."""
    if "bench_review_images" not in sys.modules:
        spec = importlib.util.spec_from_file_location("bench_review_images", ROOT / "bench" / "review_images.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["bench_review_images"] = module   # dataclasses look their module up while the class is built
        spec.loader.exec_module(module)
    return sys.modules["bench_review_images"]


def new_project(root: Path) -> Path:
    """This flow's spec, handlers and image (copied: a test may break its inference script)."""
    (root / "workflows").mkdir(parents=True)
    shutil.copy(ROOT / "workflows" / f"{WORKFLOW}.yaml", root / "workflows")
    shutil.copy(ROOT / "samconfig.toml", root)
    shutil.copytree(ROOT / "handlers" / "retrain_and_promote", root / "handlers" / "retrain_and_promote",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "images" / "review-classifier", root / "images" / "review-classifier",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return root


def stepsmith(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def upload_set(labelled, prefix: str) -> None:
    """The set's images to s3://<datasets>/<prefix>images/, as a user stages them before the manifest."""
    result = stepsmith("s3", "cp", str(labelled.folder / "images"), f"s3://{DATASETS}/{prefix}images", "--recursive")
    assert result.exit_code == 0, result.output


def history(project: Path, name: str) -> dict:
    return json.loads((project / ".stepsmith" / "executions" / f"{name}.json").read_text())


def packages(project: Path) -> list[dict]:
    """Every model package of the review-classifier group, oldest first, described."""
    with LocalAWS(project / ".stepsmith") as aws:
        sagemaker = aws.client("sagemaker")
        listed = sagemaker.list_model_packages(ModelPackageGroupName=GROUP, SortBy="CreationTime",
                                               SortOrder="Ascending")["ModelPackageSummaryList"]
        return [sagemaker.describe_model_package(ModelPackageName=p["ModelPackageArn"]) for p in listed]


def serving(project: Path) -> dict:
    """The endpoint as a caller sees it: status, configuration, the model data it serves."""
    with LocalAWS(project / ".stepsmith") as aws:
        sagemaker = aws.client("sagemaker")
        endpoint = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
        config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
        model = sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
        return {"status": endpoint["EndpointStatus"], "config": endpoint["EndpointConfigName"],
                "model_data": model["PrimaryContainer"]["ModelDataUrl"], "image": model["PrimaryContainer"]["Image"],
                "failure": endpoint.get("FailureReason")}


def answers(project: Path, photos: list[Path]) -> list[dict]:
    """What the endpoint answers for each photo, through `stepsmith invoke-endpoint`."""
    found = []
    for photo in photos:
        result = stepsmith("invoke-endpoint", ENDPOINT, "--body", f"@{photo}", "--content-type", "image/jpeg")
        assert result.exit_code == 0, result.output
        found.append(json.loads(result.stdout))
    return found


def stop_endpoints(project: Path) -> None:
    with LocalAWS(project / ".stepsmith") as aws:
        sagemaker = aws.client("sagemaker")
        for endpoint in sagemaker.list_endpoints()["Endpoints"]:
            sagemaker.delete_endpoint(EndpointName=endpoint["EndpointName"])
    shutil.rmtree(project / ".stepsmith" / "sagemaker", ignore_errors=True)
