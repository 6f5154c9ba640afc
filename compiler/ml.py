"""The ML steps' meaning in service terms: a `train` step → CreateTrainingJob's parameters and result shape.

The model keeps the readable fields and these derived ones side by side (TrainStep.parameters,
.result_selector), so every later stage (validate, asl, iam) sees an ordinary `.sync` service step.
"""
from __future__ import annotations

import re
from typing import Any

from compiler.conditions import And, Comparison, Not, Or, Test
from compiler.model import (
    CatchRule,
    ChoiceBranch,
    ChoiceStep,
    DeployStep,
    PassStep,
    PollStep,
    ServiceStep,
    Step,
    TrainStep,
)

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


# --- deploy: create-or-update an endpoint and wait until it serves the new model ----------------------

# DescribeEndpoint statuses of an endpoint still on its way somewhere.
ENDPOINT_CHANGING = ("Creating", "Updating", "SystemUpdating", "RollingBack")
# What DescribeEndpoint raises for an endpoint that does not exist (the SDK reports a ValidationException;
# Step Functions names it after the service's exception class).
ENDPOINT_MISSING = ["SageMaker.ValidationException", "SageMaker.SageMakerException",
                    "SageMaker.AmazonSageMakerException"]


def deployment_parts(step: DeployStep) -> list[Step]:
    """The deploy fragment as ordinary steps, the first named like the step; see DeployStep."""
    result = str(step.result_path)
    name = step.name
    names = {part: f"{name}: {part}" for part in ("name", "model", "config", "current", "create or update",
                                                  "update", "create", "wait")}
    generated = f"States.Format('{step.name_prefix}-{{}}', {result}.id)"  # models and configs: same name
    place = {"place": step.place, "places": {}}

    def task(part: str, service: str, action: str, parameters: dict[str, Any], next_: str, *,
             optimized: bool = True, result_path: Any = None, selector: dict[str, Any] | None = None,
             catch: list[CatchRule] | None = None) -> ServiceStep:
        return ServiceStep(name=names[part], service=service, action=action, optimized=optimized,
                           parameters=parameters, result_path=result_path, result_selector=selector,
                           next=next_, retry=list(step.retry), catch=[*(catch or []), *step.catch],
                           comment=None, **place)

    container: dict[str, Any] = {"Image": "${image:" + step.image + "}", **_uri("ModelDataUrl", step.model_data)}
    if step.environment:
        container["Environment"] = {key: _string(value) for key, value in step.environment.items()}
    endpoint = {"EndpointName": step.endpoint}
    status, config = f"{result}.endpoint.EndpointStatus", f"{result}.endpoint.EndpointConfigName"
    changing = Or(tuple(Comparison(status, "==", value, "string") for value in ENDPOINT_CHANGING))
    settled_elsewhere = And((Not(changing), Or((Not(Comparison(status, "==", "InService", "string")),
                                                Not(Comparison(config, "==", f"{result}.name", "string", True))))))
    wait = PollStep(
        name=names["wait"], every=step.every, timeout=step.give_up,
        task=ServiceStep(name=names["wait"], service="sagemaker", action="describeEndpoint", optimized=False,
                         parameters=dict(endpoint), result_path=f"{result}.endpoint", **place),
        until=Not(changing), until_text=f"{status} not in [{', '.join(ENDPOINT_CHANGING)}]",
        fail_if=settled_elsewhere, fail_if_text=f"settled, but not InService with {result}.name",
        error=f"{name}.Failed", cause=f"The endpoint settled without serving the new configuration ({name})",
        timeout_error=f"{name}.TimedOut", on_fail=step.on_fail, on_timeout=step.on_timeout,
        retry=list(step.retry), catch=list(step.catch), next=step.next, end=step.end,
        place=step.place, places={("poll", "fail_if"): step.place, ("poll", "timeout"): step.place})
    missing = CatchRule(errors=list(ENDPOINT_MISSING), next=names["create or update"],
                        result_path=f"{result}.previous", **place)
    return [
        PassStep(name=name, parameters={"id.$": "States.UUID()"}, result_path=result, next=names["name"],
                 comment="One name for the new model and its endpoint configuration", **place),
        PassStep(name=names["name"], parameters={"id.$": f"{result}.id", "name.$": generated}, result_path=result,
                 next=names["model"], **place),
        task("model", "sagemaker", "createModel", {"ModelName.$": generated,
                                                   "ExecutionRoleArn": "${resource:" + step.role + "}",
                                                   "PrimaryContainer": container}, names["config"]),
        task("config", "sagemaker", "createEndpointConfig", {
            "EndpointConfigName.$": generated,
            "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName.$": generated,
                                    "InstanceType": step.instance_type,
                                    "InitialInstanceCount": step.instance_count}]}, names["current"]),
        task("current", "sagemaker", "describeEndpoint", dict(endpoint), names["create or update"],
             optimized=False, result_path=f"{result}.previous", selector={"config.$": "$.EndpointConfigName"},
             catch=[missing]),
        ChoiceStep(name=names["create or update"], default=names["create"], branches=[ChoiceBranch(
            condition=Test(f"{result}.previous.config", "present"), text="an endpoint exists",
            next=names["update"], **place)], **place),
        task("update", "sagemaker", "updateEndpoint", {**endpoint, "EndpointConfigName.$": generated}, names["wait"]),
        task("create", "sagemaker", "createEndpoint", {**endpoint, "EndpointConfigName.$": generated}, names["wait"]),
        wait,
    ]
