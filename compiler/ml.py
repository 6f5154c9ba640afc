"""The ML steps' meaning in service terms: a `train` step → CreateTrainingJob's parameters and result shape.

The model keeps the readable fields and these derived ones side by side (TrainStep.parameters,
.result_selector), so every later stage (validate, asl, iam) sees an ordinary `.sync` service step.
"""
from __future__ import annotations

import re
from typing import Any

from compiler.model import TrainStep

# What a finished job's DescribeTrainingJob (the .sync result) is reduced to.
TRAIN_RESULT = {"job_name.$": "$.TrainingJobName", "model_artifacts.$": "$.ModelArtifacts.S3ModelArtifacts",
                "status.$": "$.TrainingJobStatus"}


def metric_key(name: str) -> str:
    """`validation:macro_f1` → `validation_macro_f1`: the key a metric has in the step's result."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")


def _uri(field: str, value: str) -> dict[str, str]:
    """An S3 URI field: literal, or `field.$` when the value is a path."""
    return {f"{field}.$": value} if value.startswith("$") else {field: value}


def _string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def training_parameters(step: TrainStep) -> dict[str, Any]:
    """CreateTrainingJob's request, in the API's own shape (JSONPath Parameters)."""
    algorithm: dict[str, Any] = {"TrainingImage": "${image:" + step.image + "}", "TrainingInputMode": "File"}
    if step.metrics:
        algorithm["MetricDefinitions"] = [{"Name": name, "Regex": regex} for name, regex in step.metrics.items()]
    channels = []
    for channel in step.channels:
        source: dict[str, Any] = {"S3DataType": "AugmentedManifestFile" if channel.manifest else "S3Prefix",
                                  **_uri("S3Uri", channel.s3), "S3DataDistributionType": "FullyReplicated"}
        if channel.attributes:
            source["AttributeNames"] = list(channel.attributes)
        entry: dict[str, Any] = {"ChannelName": channel.name, "DataSource": {"S3DataSource": source}}
        if channel.content_type:
            entry["ContentType"] = channel.content_type
        if channel.input_mode:
            entry["InputMode"] = channel.input_mode
        if channel.manifest and channel.input_mode == "Pipe":
            entry["RecordWrapperType"] = "RecordIO"  # augmented manifests stream as RecordIO in Pipe mode
        channels.append(entry)
    parameters: dict[str, Any] = {
        # ≤ 63 characters: the prefix (≤ 26) and a UUID, new on every attempt so a retry never collides.
        "TrainingJobName.$": f"States.Format('{step.job_prefix}-{{}}', States.UUID())",
        "RoleArn": "${resource:" + step.role + "}",
        "AlgorithmSpecification": algorithm,
    }
    if step.hyperparameters:
        parameters["HyperParameters"] = {key: value if key.endswith(".$") else _string(value)
                                         for key, value in step.hyperparameters.items()}
    if step.environment:
        parameters["Environment"] = {key: _string(value) for key, value in step.environment.items()}
    parameters["InputDataConfig"] = channels
    parameters["OutputDataConfig"] = _uri("S3OutputPath", step.output_uri)
    parameters["ResourceConfig"] = {"InstanceType": step.instance_type, "InstanceCount": step.instance_count,
                                    "VolumeSizeInGB": step.volume_gb}
    parameters["StoppingCondition"] = {"MaxRuntimeInSeconds": step.max_runtime}
    return parameters


def training_result_selector(step: TrainStep) -> dict[str, Any]:
    """The job's name, artifacts and status, and each declared metric's values (a list) by key."""
    selector: dict[str, Any] = dict(TRAIN_RESULT)
    if step.metrics:
        selector["metrics"] = {f"{metric_key(name)}.$": f"$.FinalMetricDataList[?(@.MetricName == '{name}')].Value"
                               for name in step.metrics}
    return selector


def metrics_state_name(step: TrainStep) -> str:
    """The Pass state that turns each metric's list of values into its one value."""
    return f"{step.name}: metrics"
