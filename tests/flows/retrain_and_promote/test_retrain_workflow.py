"""retrain-and-promote end to end, as a user runs it: `stepsmith run retrain-and-promote --file <manifest>`.

One project, four runs in order (each a fixture that needs the one before, so any test order works),
with the real review-classifier image (MXNet, its environment cached in ~/.cache/stepsmith/venvs) on
small generated photo sets, trained for a few seconds:

1. a clean set: trained, scored, promoted; the endpoint serves it and the registry says why;
2. the same kind of set with most labels shuffled: rejected with the numbers; the endpoint unchanged;
3. a new release of the inference script that cannot load a model: the endpoint update fails, SageMaker
   keeps the first model serving, the run registers the candidate as rolled back and ends FAILED;
4. a candidate that serves but fails its smoke test (the smoke-test Lambda mocked to fail): the workflow
   itself puts the previous endpoint configuration back, and ends FAILED;
5. the shuffled set again, judged on a curated held-out set (HeldOutManifest) with the floor out of the
   way: the production model, scored on correct labels, beats the candidate, which is rejected by the
   comparison alone; the curated photos the manifest also holds are not trained on.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import Result
from retrain_checks import (
    DATASETS,
    WORKFLOW,
    answers,
    history,
    new_project,
    packages,
    review_images,
    serving,
    stepsmith,
    stop_endpoints,
    upload_set,
)

# A few seconds of training each: 40 photos a class, 24 px, 5 epochs.
TRAINING = "MinImagesPerClass=10 TrainingEpochs=5 TrainingImageSize=24 TrainingBatchSize=8"
FLOOR = 0.5
GATE = f"MinMacroF1={FLOOR} MinImprovement=0.01"
ANY_CANDIDATE = "MinMacroF1=0 MinImprovement=-1"    # runs 3 and 4 are about deploying, not the gate
CURATED = "held-out/curated.manifest"                # outside manifests/: uploading it starts no run

BROKEN_INFERENCE = '''
def model_fn(model_dir):
    raise RuntimeError("this release of the inference script cannot load the model")
'''


@dataclass
class Run:
    name: str
    result: Result
    record: dict
    packages: list[dict]
    serving: dict
    answers: list[dict]

    @property
    def output(self) -> dict:
        return json.loads(self.record["output"]) if self.record["output"] else {}

    @property
    def published(self) -> list[dict]:
        return self.record["published"].get("sns", [])

    @property
    def package(self) -> dict:
        """The model package this run registered (the newest)."""
        return self.packages[-1]


@dataclass
class Loop:
    project: Path
    probes: list[Path]
    clean: object
    worse: object
    curated: object


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory):
    project = new_project(tmp_path_factory.mktemp("retrain") / "project")
    generator = review_images()
    data = tmp_path_factory.mktemp("data")
    clean = generator.make_set(data / "clean", per_class=40, seed=21, size=32, bucket=DATASETS,
                               prefix="reviews/clean/", name="clean")
    worse = generator.make_set(data / "worse", per_class=40, seed=22, size=32, bucket=DATASETS,
                               prefix="reviews/worse/", name="worse", shuffle_labels=0.75)
    probes = generator.make_set(data / "probes", per_class=1, seed=23, size=32, name="probe")
    curated = generator.make_set(data / "curated", per_class=10, seed=24, size=32, bucket=DATASETS,
                                 prefix="reviews/curated/", name="curated")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(project)
        upload_set(clean, "reviews/clean/")
        upload_set(worse, "reviews/worse/")
        upload_set(curated, "reviews/curated/")
        result = stepsmith("s3", "cp", str(curated.manifest), f"s3://{DATASETS}/{CURATED}")
        assert result.exit_code == 0, result.output
        try:
            yield Loop(project, sorted((probes.folder / "images").glob("*.jpg")), clean, worse, curated)
        finally:
            stop_endpoints(project)


def run(loop: Loop, name: str, manifest: Path, key: str, parameters: str, *extra: str) -> Run:
    result = stepsmith("run", WORKFLOW, "--file", str(manifest), "--key", key, "--name", name,
                       "--parameter-overrides", f"{TRAINING} {parameters}", *extra)
    return Run(name, result, history(loop.project, name), packages(loop.project), serving(loop.project),
               answers(loop.project, loop.probes))


@pytest.fixture(scope="module")
def first(loop) -> Run:
    return run(loop, "first", loop.clean.manifest, "manifests/clean.manifest", GATE)


@pytest.fixture(scope="module")
def worse(loop, first) -> Run:
    return run(loop, "worse", loop.worse.manifest, "manifests/worse.manifest", GATE)


@pytest.fixture(scope="module")
def broken_update(loop, worse) -> Run:
    inference = loop.project / "images" / "review-classifier" / "code" / "inference.py"
    good = inference.read_text()
    inference.write_text(BROKEN_INFERENCE)
    try:
        return run(loop, "broken-update", loop.clean.manifest, "manifests/again.manifest", ANY_CANDIDATE)
    finally:
        inference.write_text(good)


@pytest.fixture(scope="module")
def failed_smoke_test(loop, broken_update) -> Run:
    mocks = loop.project / "smoke-fails.json"
    mocks.write_text(json.dumps({
        "StateMachines": {WORKFLOW: {"TestCases": {"SmokeFails": {"Smoke test": "Refused"}}}},
        "MockedResponses": {"Refused": {"0": {"Throw": {
            "Error": "SmokeTestFailed", "Cause": "probe-0: probabilities sum to 0.5000, not 1"}}}}}))
    return run(loop, "failed-smoke-test", loop.clean.manifest, "manifests/third.manifest", ANY_CANDIDATE,
               "--mock-config", str(mocks), "--test-case", "SmokeFails")


@pytest.fixture(scope="module")
def judged_on_curated(loop, failed_smoke_test) -> Run:
    # The shuffled set, which also holds the curated photos (a user's dataset may): they are dropped.
    manifest = loop.project.parent / "worse-and-curated.manifest"
    manifest.write_text(loop.worse.manifest.read_text() + loop.curated.manifest.read_text())
    return run(loop, "judged-on-curated", manifest, "manifests/worse-again.manifest",
               f"MinMacroF1=0 MinImprovement=0.01 HeldOutManifest={CURATED}")


def metadata(package: dict) -> dict:
    return package["CustomerMetadataProperties"]


def test_a_first_clean_dataset_is_trained_promoted_and_served(first):
    assert first.result.exit_code == 0, first.result.output
    assert first.output["decision"] == "promoted"
    assert first.output["production_macro_f1"] is None              # no production model yet: the floor only
    assert first.output["candidate_macro_f1"] >= FLOOR
    # the registry holds it, Approved, with the contract's metadata
    assert len(first.packages) == 1
    package = first.package
    assert package["ModelApprovalStatus"] == "Approved"
    meta = metadata(package)
    assert meta["decision"] == "promoted" and meta["production_macro_f1"] == "none"
    assert float(meta["macro_f1"]) == first.output["candidate_macro_f1"]
    assert meta["training_job"] == first.output["training_job"]
    assert all(0 <= float(meta[f"recall_{name}"]) <= 1 for name in ("package", "product", "full-length", "half-length"))
    container = package["InferenceSpecification"]["Containers"][0]
    # the endpoint serves exactly that model, and answers as the review classifier does
    assert first.serving["status"] == "InService"
    assert (first.serving["model_data"], first.serving["image"]) == (container["ModelDataUrl"], container["Image"])
    for answer in first.answers:
        assert answer["label"] in ("package", "product", "full-length", "half-length")
        assert sum(answer["probabilities"].values()) == pytest.approx(1, abs=1e-3)
    # and the promotion was announced with the numbers
    (message,) = first.published
    assert message["subject"] == "review-classifier candidate promoted"
    assert f"Candidate macro-F1 {meta['macro_f1']}" in message["message"]
    assert "production macro-F1 none" in message["message"]


def test_a_worse_dataset_is_rejected_with_the_numbers_and_the_endpoint_keeps_the_first_model(first, worse):
    assert worse.result.exit_code == 0, worse.result.output         # the loop did its job: it said no
    assert worse.output["decision"] == "rejected"
    assert len(worse.packages) == 2
    package = worse.package
    assert package["ModelApprovalStatus"] == "Rejected"
    meta = metadata(package)
    candidate, production = float(meta["macro_f1"]), float(meta["production_macro_f1"])
    assert meta["decision"] == "rejected"
    assert candidate < FLOOR or candidate < production + 0.01        # what the gate says, by its own numbers
    assert f"macro-F1 {round(candidate, 4)}" in meta["reason"]
    assert (f"below the floor {FLOOR}" in meta["reason"]) == (candidate < FLOOR)
    (message,) = worse.published
    assert message["subject"] == "review-classifier candidate rejected"
    assert f"Candidate macro-F1 {meta['macro_f1']}" in message["message"]
    assert f"production macro-F1 {meta['production_macro_f1']}" in message["message"]
    # the production model was scored on the same validation images the candidate was
    evaluation = next(e for e in worse.record["events"] if e.get("type") == "TaskStateEntered"
                      and e["stateEnteredEventDetails"]["name"] == "Evaluate production model")
    state = json.loads(evaluation["stateEnteredEventDetails"]["input"])
    assert state["production"]["model_data"] == first.serving["model_data"]
    assert meta["validation_manifest"] == state["dataset"]["validation"]
    # nothing changed behind the endpoint
    assert worse.serving == first.serving
    assert worse.answers == first.answers
    assert first.packages[0]["ModelApprovalStatus"] == "Approved"


def test_an_update_the_endpoint_cannot_load_is_rolled_back(first, broken_update):
    assert broken_update.result.exit_code == 1
    assert broken_update.record["error"] == "PromotionRolledBack"
    package = broken_update.package
    assert package["ModelApprovalStatus"] == "Rejected"
    meta = metadata(package)
    assert meta["decision"] == "rolled-back"
    assert "cannot load the model" in meta["reason"]
    (message,) = broken_update.published
    assert message["subject"] == "review-classifier candidate rolled-back"
    # SageMaker kept the first configuration serving; the first model still answers, unchanged
    assert broken_update.serving["config"] == first.serving["config"]
    assert broken_update.serving["status"] == "InService"
    assert broken_update.answers == first.answers
    approved = [p for p in broken_update.packages if p["ModelApprovalStatus"] == "Approved"]
    assert approved == [broken_update.packages[0]]                    # production is still the first model


def test_a_candidate_that_fails_its_smoke_test_is_replaced_by_the_previous_configuration(first, failed_smoke_test):
    run_ = failed_smoke_test
    assert run_.result.exit_code == 1
    assert run_.record["error"] == "PromotionRolledBack"
    entered = [e["stateEnteredEventDetails"]["name"] for e in run_.record["events"]
               if "stateEnteredEventDetails" in e]
    assert "Deploy candidate: update" in entered and "Restore previous configuration" in entered
    meta = metadata(run_.package)
    assert meta["decision"] == "rolled-back" and "SmokeTestFailed" in meta["reason"]
    assert run_.package["ModelApprovalStatus"] == "Rejected"
    assert run_.serving["config"] == first.serving["config"]
    assert run_.serving["status"] == "InService"
    assert run_.answers == first.answers


def stored_lines(loop: Loop, uri: str) -> list[dict]:
    """A manifest in the project's local S3 (objects are plain files there), as JSON lines."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    text = (loop.project / ".stepsmith" / "s3" / bucket / key).read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_on_a_curated_held_out_set_the_shuffled_candidate_loses_to_production_with_the_numbers(
        loop, first, judged_on_curated):
    run_ = judged_on_curated
    assert run_.result.exit_code == 0, run_.result.output
    meta = metadata(run_.package)
    candidate, production = float(meta["macro_f1"]), float(meta["production_macro_f1"])
    print(f"on the curated set: candidate macro-F1 {candidate}, production {production}")
    # the floor is 0 here: only the comparison with production can say no, and it does
    assert run_.output["decision"] == meta["decision"] == "rejected"
    assert run_.package["ModelApprovalStatus"] == "Rejected"
    assert f"does not beat the production model's {round(production, 4)}" in meta["reason"]
    assert candidate < production
    assert production >= FLOOR               # scored against correct labels, the production model is good
    # both were scored on the curated set and nothing else; its photos were not trained on
    prepared = next(json.loads(e["stateExitedEventDetails"]["output"]) for e in run_.record["events"]
                    if e.get("type") == "TaskStateExited"
                    and e["stateExitedEventDetails"]["name"] == "Prepare dataset")["dataset"]
    assert prepared["held_out"] == f"s3://{DATASETS}/{CURATED}"
    curated = [json.loads(text) for text in loop.curated.manifest.read_text().splitlines()]
    assert stored_lines(loop, prepared["validation"]) == curated
    assert prepared["held_out_dropped"] == len(curated) == 40
    trained = {line["source-ref"] for line in stored_lines(loop, prepared["train"])}
    assert trained.isdisjoint(line["source-ref"] for line in curated) and len(trained) == 160
    assert meta["validation_manifest"] == prepared["validation"]
    (message,) = run_.published
    assert (f"production macro-F1 {meta['production_macro_f1']} on 40 held-out images of "
            f"s3://{DATASETS}/{CURATED}") in message["message"]
    assert run_.serving == first.serving and run_.answers == first.answers    # the first model still serves
