"""Local SageMaker training jobs: CreateTrainingJob / DescribeTrainingJob / StopTrainingJob / ListTrainingJobs.

A job really runs the training image's script (engine/aws/providers/sagemaker_container.py `train`) in
the image's cached environment, in an `/opt/ml`-shaped folder `.stepsmith/sagemaker/training-jobs/<job>/`:

    Starting     the image's environment is found or built (the image pull; not counted in the runtime)
    Downloading  channels are copied from S3 into input/data/<channel>/, config files written
    Training     the script runs; its output goes to the job's log; MetricDefinitions regexes read it
    Uploading    model/ → <S3OutputPath>/<job>/output/model.tar.gz, output/data/ → output.tar.gz
    Completed | Failed (FailureReason from output/failure) | Stopped (StopTrainingJob, or
                MaxRuntimeExceeded when StoppingCondition.MaxRuntimeInSeconds runs out)

A stop sends SIGTERM to the script and, like SageMaker, waits up to 120 s for it to save its model, whose
artefacts are then uploaded. The job runs in a thread of the process that created it (it needs that
process's local S3); if that process ends first, the next Describe reports the job Failed and says why.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.aws import providers
from engine.aws.providers import ServiceError, register
from engine.aws.providers.sagemaker_data import (
    DataError,
    JobStorage,
    download_channel,
    split_uri,
    upload_folder_as_tar,
)
from engine.aws.providers.sagemaker_images import ImageError, image_python
from engine.aws.providers.sagemaker_state import (
    Records,
    check_name,
    image_of,
    log_path,
    now,
    process_alive,
    timestamp,
)

if TYPE_CHECKING:
    from engine.aws import LocalAWS

CONTAINER = Path(__file__).with_name("sagemaker_container.py")
STOP_GRACE_SECONDS = 120       # SageMaker's SIGTERM → SIGKILL window
_WATCH_SECONDS = 0.2
_MESSAGES = {
    "Starting": "Preparing the instances for training",
    "Downloading": "Downloading input data",
    "Training": "Training image download completed. Training in progress.",
    "Uploading": "Uploading generated training model",
    "Completed": "Training job completed",
    "Stopping": "Stopping the training job",
    "Stopped": "Training job stopped",
    "MaxRuntimeExceeded": "Training job exceeded MaxRuntimeInSeconds provided",
}


def _jobs(aws: LocalAWS) -> Records:
    return Records(aws, "training-jobs")


def _transition(record: dict, status: str, message: str | None = None) -> None:
    """Close the open secondary status and open `status` (SecondaryStatusTransitions, as AWS lists them)."""
    moment = now()
    transitions = record.setdefault("SecondaryStatusTransitions", [])
    if transitions and transitions[-1].get("EndTime") is None:
        transitions[-1]["EndTime"] = moment
    transitions.append({"Status": status, "StartTime": moment,
                        "StatusMessage": message or _MESSAGES.get(status, status)})
    record["SecondaryStatus"] = status
    record["LastModifiedTime"] = moment


def _finish(record: dict, status: str, secondary: str, message: str | None = None) -> None:
    _transition(record, secondary, message)
    moment = record["LastModifiedTime"]
    record["SecondaryStatusTransitions"][-1]["EndTime"] = moment
    record["TrainingJobStatus"] = status
    record["TrainingEndTime"] = moment
    if record.get("TrainingStartTime"):
        seconds = max(1, round(moment - record["TrainingStartTime"]))
        record["TrainingTimeInSeconds"] = record["BillableTimeInSeconds"] = seconds


def compile_metrics(definitions: Any) -> list[tuple[str, re.Pattern]]:
    """MetricDefinitions as (name, compiled regex); ValidationException for a bad one."""
    compiled = []
    for definition in definitions or []:
        name, pattern = definition.get("Name"), definition.get("Regex")
        try:
            compiled.append((str(name), re.compile(str(pattern))))
        except re.error as error:
            raise ServiceError("ValidationException", f"MetricDefinitions: the regex of metric {name!r} "
                               f"({pattern!r}) is not valid: {error}") from None
    return compiled


def read_metrics(line: str, metrics: list[tuple[str, re.Pattern]]) -> list[tuple[str, float]]:
    """The metric values one log line reports: the regex's first group (or whole match) as a number."""
    found = []
    for name, pattern in metrics:
        match = pattern.search(line)
        if match is None:
            continue
        text = match.group(1) if pattern.groups else match.group(0)
        try:
            value = float(text)
        except (TypeError, ValueError):
            continue
        if math.isfinite(value):
            found.append((name, value))
    return found


# --------------------------------------------------------------------------- the API


def create_training_job(params: dict, aws: LocalAWS) -> dict:
    """CreateTrainingJob: record the job and start it in the background."""
    name = check_name(params.get("TrainingJobName"), "trainingJobName")
    algorithm = params.get("AlgorithmSpecification") or {}
    if not algorithm.get("TrainingImage"):
        raise ServiceError("ValidationException", "AlgorithmSpecification.TrainingImage is required locally "
                           "(built-in algorithms by AlgorithmName do not run offline)")
    if algorithm.get("TrainingInputMode", "File") != "File":
        raise ServiceError("ValidationException", f"TrainingInputMode {algorithm['TrainingInputMode']} does not "
                           "run locally; use File")
    compile_metrics(algorithm.get("MetricDefinitions"))
    split_uri(params.get("OutputDataConfig", {}).get("S3OutputPath"), "OutputDataConfig.S3OutputPath")
    channels = params.get("InputDataConfig") or []
    seen: set[str] = set()
    for channel in channels:
        channel_name = channel.get("ChannelName", "")
        if not re.fullmatch(r"[A-Za-z0-9\.\-_]+", channel_name) or channel_name in seen:
            raise ServiceError("ValidationException", f"channel name {channel_name!r} is invalid or repeated")
        seen.add(channel_name)
        if channel.get("InputMode", "File") != "File":
            raise ServiceError("ValidationException", f"channel {channel_name}: InputMode {channel['InputMode']} "
                               "does not run locally; use File")
        source = (channel.get("DataSource") or {}).get("S3DataSource") or {}
        split_uri(source.get("S3Uri"), f"channel {channel_name} S3Uri")
    jobs = _jobs(aws)
    arn = jobs.arn("training-job", name)
    with jobs.locked():
        if jobs.get(name) is not None:
            raise ServiceError("ResourceInUse", "Training job names must be unique within an AWS account and "
                               f"region, and a training job with this name already exists ({arn})")
        moment = now()
        record = {
            "TrainingJobName": name, "TrainingJobArn": arn, "TrainingJobStatus": "InProgress",
            "AlgorithmSpecification": algorithm, "RoleArn": params.get("RoleArn"),
            "InputDataConfig": channels, "OutputDataConfig": params.get("OutputDataConfig"),
            "ResourceConfig": params.get("ResourceConfig"), "StoppingCondition": params.get("StoppingCondition"),
            "HyperParameters": {k: str(v) for k, v in (params.get("HyperParameters") or {}).items()},
            "Environment": params.get("Environment") or {}, "CreationTime": moment, "LastModifiedTime": moment,
            "EnableNetworkIsolation": params.get("EnableNetworkIsolation", False),
            "_owner": {"pid": os.getpid(), "marker": None}, "_log": str(log_path(aws, "training-jobs", name)),
        }
        _transition(record, "Starting")
        jobs.put(record, name)
    log_path(aws, "training-jobs", name).write_text("", encoding="utf-8")
    _TrainingRun(aws, name).start()
    return {"TrainingJobArn": arn}


def describe_training_job(params: dict, aws: LocalAWS) -> dict:
    """DescribeTrainingJob, shaped as the service answers it."""
    name = str(params.get("TrainingJobName", ""))
    jobs = _jobs(aws)
    record = jobs.get(name)
    if record is None:
        raise ServiceError("ValidationException", "Requested resource not found.")
    if record["TrainingJobStatus"] in ("InProgress", "Stopping") and \
            not process_alive(record["_owner"]["pid"]) and record["_owner"]["pid"] != os.getpid():
        record = jobs.update(name, _orphaned) or record
    return describe(record)


def _orphaned(record: dict) -> None:
    if record["TrainingJobStatus"] in ("InProgress", "Stopping"):
        record["FailureReason"] = (f"InternalServerError: the stepsmith process that ran this job "
                                   f"(pid {record['_owner']['pid']}) ended before the job finished")
        _finish(record, "Failed", "Failed", record["FailureReason"])


def describe(record: dict) -> dict:
    """A stored job as DescribeTrainingJob's response (timestamps as datetimes, private fields dropped)."""
    answer = {key: value for key, value in record.items() if not key.startswith("_")}
    for key in ("CreationTime", "LastModifiedTime", "TrainingStartTime", "TrainingEndTime"):
        if key in answer:
            answer[key] = timestamp(answer[key])
    answer["SecondaryStatusTransitions"] = [
        {**item, "StartTime": timestamp(item["StartTime"]),
         **({"EndTime": timestamp(item["EndTime"])} if item.get("EndTime") is not None else {})}
        for item in record.get("SecondaryStatusTransitions", [])]
    if "FinalMetricDataList" in record:
        answer["FinalMetricDataList"] = [{**item, "Timestamp": timestamp(item["Timestamp"])}
                                         for item in record["FinalMetricDataList"]]
    if not answer.get("ModelArtifacts"):
        answer["ModelArtifacts"] = {"S3ModelArtifacts": ""}
    return answer


def stop_training_job(params: dict, aws: LocalAWS) -> dict:
    """StopTrainingJob: the running job gets SIGTERM (within a fraction of a second, from any process)."""
    name = str(params.get("TrainingJobName", ""))
    jobs = _jobs(aws)

    def request_stop(record: dict) -> None:
        if record["TrainingJobStatus"] != "InProgress":
            raise ServiceError("ValidationException", f"The request was rejected because the training job is in "
                               f"status {record['TrainingJobStatus']}.")
        record["TrainingJobStatus"] = "Stopping"
        record["_stop"] = "Stopped"
        _transition(record, "Stopping")

    if jobs.update(name, request_stop) is None:
        raise ServiceError("ValidationException", "Requested resource not found.")
    return {}


def list_training_jobs(params: dict, aws: LocalAWS) -> dict:
    """ListTrainingJobs (newest first; NameContains and StatusEquals filters)."""
    jobs = _jobs(aws)
    contains = str(params.get("NameContains", "")).lower()
    status = params.get("StatusEquals")
    summaries = []
    for name in jobs.names():
        record = jobs.get(name)
        if record is None or contains not in record["TrainingJobName"].lower():
            continue
        if status and record["TrainingJobStatus"] != status:
            continue
        summaries.append({key: record.get(key) for key in ("TrainingJobName", "TrainingJobArn",
                                                           "CreationTime", "TrainingEndTime",
                                                           "LastModifiedTime", "TrainingJobStatus")})
    summaries.sort(key=lambda item: item["CreationTime"], reverse=True)
    for item in summaries:
        for key in ("CreationTime", "TrainingEndTime", "LastModifiedTime"):
            if item.get(key) is None:
                item.pop(key)
            else:
                item[key] = timestamp(item[key])
    return {"TrainingJobSummaries": summaries[: int(params.get("MaxResults", 100))]}


# --------------------------------------------------------------------------- running one job


class _TrainingRun:
    """The background work of one job; every status change goes through the stored record."""

    def __init__(self, aws: LocalAWS, name: str) -> None:
        self.aws = aws
        self.name = name
        self.jobs = _jobs(aws)
        self.log = log_path(aws, "training-jobs", name)

    def start(self) -> None:
        threading.Thread(target=self._run, name=f"training-job:{self.name}", daemon=True).start()

    def _update(self, change: Any) -> dict:
        record = self.jobs.update(self.name, change)
        assert record is not None
        return record

    def _write_log(self, text: str) -> None:
        with open(self.log, "a", encoding="utf-8") as handle:
            handle.write(text)

    def _run(self) -> None:
        try:
            self._train()
        except (ImageError, DataError) as error:
            self._fail(f"ClientError: {error}" if not str(error).startswith("ClientError") else str(error))
        except Exception as error:  # noqa: BLE001 - whatever breaks locally is the job's failure, not a hang
            self._fail(f"InternalServerError: {type(error).__name__}: {error}")

    def _fail(self, reason: str) -> None:
        self._write_log(f"[stepsmith] job failed: {reason}\n")

        def fail(record: dict) -> None:
            if record["TrainingJobStatus"] in ("InProgress", "Stopping"):
                record["FailureReason"] = reason[:1024]
                _finish(record, "Failed", "Failed", f"Training job failed. Reason: {reason[:900]}")
        self._update(fail)

    def _session_alive(self) -> None:
        # S3 is this process's local AWS: once that session ends, there is nowhere to read or write.
        if providers._active is not self.aws:
            raise DataError("the local AWS session that started the job ended before the job finished")

    def _train(self) -> None:
        record = self.jobs.get(self.name)
        assert record is not None
        image = image_of(self.aws, record["AlgorithmSpecification"]["TrainingImage"])
        environment = image_python(image, log=self.log)
        if environment.build_seconds:
            self._write_log(f"[stepsmith] built the environment of image {image.name} in "
                            f"{environment.build_seconds:.1f} s (cached for later jobs)\n")
        if self.jobs.get(self.name).get("_stop"):   # stopped while the environment was being built
            self._update(lambda r: _finish(r, "Stopped", "Stopped"))
            return
        record = self._update(lambda r: (r.update(TrainingStartTime=now()), _transition(r, "Downloading")))
        root = self.jobs.workdir(self.name) / "opt" / "ml"
        shutil.rmtree(root, ignore_errors=True)
        config = root / "input" / "config"
        config.mkdir(parents=True)
        hyperparameters = record["HyperParameters"]
        (config / "hyperparameters.json").write_text(json.dumps(hyperparameters), encoding="utf-8")
        (config / "inputdataconfig.json").write_text(json.dumps({
            channel["ChannelName"]: {key: channel[key] for key in ("ContentType", "TrainingInputMode",
                                                                    "S3DistributionType", "RecordWrapperType")
                                     if key in channel} | {"TrainingInputMode": channel.get("InputMode", "File")}
            for channel in record["InputDataConfig"]}), encoding="utf-8")
        (config / "resourceconfig.json").write_text(json.dumps({
            "current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "lo"}), encoding="utf-8")
        shutil.copytree(image.code_dir, root / "code", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        storage = JobStorage(self.aws, record.get("RoleArn"))   # the job's data is read and written as its role
        for channel in record["InputDataConfig"]:
            self._session_alive()
            count = download_channel(storage, channel, root / "input" / "data" / channel["ChannelName"])
            self._write_log(f"[stepsmith] channel {channel['ChannelName']}: {count} files\n")
        started = time.monotonic()
        record = self._update(lambda r: _transition(r, "Training"))
        outcome = self._run_container(environment.python, root, record, started)
        if outcome == "Failed":
            failure = root / "output" / "failure"
            reason = failure.read_text(encoding="utf-8", errors="replace").strip() if failure.exists() else ""
            self._fail(f"AlgorithmError: {reason or 'the training container exited with an error'}")
            return
        if outcome == "Completed":   # a stopped job uploads what it saved while it is Stopping
            self._update(lambda r: _transition(r, "Uploading"))
        self._session_alive()
        output = record["OutputDataConfig"]["S3OutputPath"].rstrip("/")
        model_uri = f"{output}/{self.name}/output/model.tar.gz"
        upload_folder_as_tar(storage, root / "model", model_uri)
        if any((root / "output" / "data").iterdir()):
            upload_folder_as_tar(storage, root / "output" / "data", f"{output}/{self.name}/output/output.tar.gz")

        def done(r: dict) -> None:
            r["ModelArtifacts"] = {"S3ModelArtifacts": model_uri}
            if outcome == "Completed":
                _finish(r, "Completed", "Completed")
            else:
                _finish(r, "Stopped", outcome)
        self._update(done)

    def _run_container(self, python: Path, root: Path, record: dict, started: float) -> str:
        """Run `train`; returns Completed, Failed, Stopped or MaxRuntimeExceeded."""
        metrics = compile_metrics(record["AlgorithmSpecification"].get("MetricDefinitions"))
        limit = (record.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
        env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ") if key in os.environ}
        env.update({str(k): str(v) for k, v in record.get("Environment", {}).items()})
        env.update({"STEPSMITH_OPT_ML": str(root), "PYTHONUNBUFFERED": "1",
                    "TRAINING_JOB_NAME": self.name, "TRAINING_JOB_ARN": record["TrainingJobArn"]})
        process = subprocess.Popen([str(python), str(CONTAINER), "train"], cwd=root, env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
        latest: dict[str, tuple[float, float]] = {}
        reader = threading.Thread(target=self._read_output, args=(process, metrics, latest), daemon=True)
        reader.start()
        stop_reason: str | None = None
        signalled_at = 0.0
        while True:
            try:
                process.wait(timeout=_WATCH_SECONDS)
                break
            except subprocess.TimeoutExpired:
                pass
            if stop_reason is None:
                requested = (self.jobs.get(self.name) or {}).get("_stop")
                if requested:
                    stop_reason = requested
                elif limit and time.monotonic() - started > float(limit):
                    stop_reason = "MaxRuntimeExceeded"
                    self._write_log(f"[stepsmith] MaxRuntimeInSeconds ({limit}) reached: stopping the job\n")
                    self._update(lambda r: (r.update(TrainingJobStatus="Stopping"), _transition(r, "Stopping")))
                if stop_reason is not None:
                    _signal(process, signal.SIGTERM)
                    signalled_at = time.monotonic()
            elif time.monotonic() - signalled_at > STOP_GRACE_SECONDS:
                _signal(process, signal.SIGKILL)
        reader.join(timeout=5)
        if latest:
            order = [name for name, _ in metrics]
            self._update(lambda r: r.update(FinalMetricDataList=[
                {"MetricName": name, "Value": latest[name][0], "Timestamp": latest[name][1]}
                for name in order if name in latest]))
        if stop_reason is not None:
            return stop_reason
        return "Completed" if process.returncode == 0 else "Failed"

    def _read_output(self, process: subprocess.Popen, metrics: list, latest: dict) -> None:
        assert process.stdout is not None
        with open(self.log, "ab") as log:
            for raw in process.stdout:
                log.write(raw)
                log.flush()
                line = raw.decode("utf-8", errors="replace")
                for name, value in read_metrics(line, metrics):
                    latest[name] = (value, now())


def _signal(process: subprocess.Popen, which: int) -> None:
    try:
        os.killpg(process.pid, which)
    except (ProcessLookupError, PermissionError):
        pass


register("sagemaker", "CreateTrainingJob", create_training_job)
register("sagemaker", "DescribeTrainingJob", describe_training_job)
register("sagemaker", "StopTrainingJob", stop_training_job)
register("sagemaker", "ListTrainingJobs", list_training_jobs)
