"""The ML steps' meaning in service terms: a `train` step → CreateTrainingJob's parameters and result shape.

The model keeps the readable fields and these derived ones side by side (TrainStep.parameters,
.result_selector; in JSONata .arguments, .output, .assign), so every later stage (validate, asl, iam) sees
an ordinary `.sync` service step.

In JSONata a step's `output` and `assign` read its result as `$states.result`; for `train` and `deploy`
that is the readable result ({job_name, …, metrics} / {id, name, previous, endpoint}), not the raw
service answer, so each `$states.result` in them is replaced by the expression that computes it.
"""
from __future__ import annotations

import re
from typing import Any

from compiler.conditions import And, Comparison, JsonataCondition, Not, Or, Test
from compiler.model import (
    UNSET,
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
from compiler.parameters import jsonata_matches

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


_EXPRESSION = re.compile(r"^\s*\{%(.*)%\}\s*$", re.DOTALL)


def is_expression(value: Any) -> bool:
    """A JSONata `{% … %}` string."""
    return isinstance(value, str) and _EXPRESSION.match(value) is not None


def _text(value: Any, jsonata: bool) -> str:
    """A value the API takes as a string: numbers and booleans as text; a JSONata expression's value made text
    with $string (SageMaker refuses a number in HyperParameters or Environment)."""
    match = _EXPRESSION.match(value) if jsonata and isinstance(value, str) else None
    if match:
        return "{% $string(" + match.group(1).strip() + ") %}"
    return _string(value)


def _field(field: str, value: str, jsonata: bool) -> dict[str, str]:
    """A field that is literal or chosen at run time: JSONPath writes `field.$` for a path; in JSONata a
    `{% %}` value is itself the expression."""
    return {field: value} if jsonata else _uri(field, value)


_STATES_RESULT = re.compile(r"\$states\.result(?!\w)")


def _replace_result(expression: str, replacement: str) -> str:
    """`expression` with every `$states.result` outside string literals replaced by `replacement`."""
    pieces: list[str] = []
    last = 0
    for match in jsonata_matches(_STATES_RESULT, expression):
        pieces += [expression[last:match.start()], replacement]
        last = match.end()
    return "".join(pieces) + expression[last:]


def with_result(value: Any, replacement: str) -> Any:
    """`value` (an output or assign, any JSON) with `$states.result` in its expressions meaning `replacement`."""
    if isinstance(value, str):
        match = _EXPRESSION.match(value)
        return "{%" + _replace_result(match.group(1), replacement) + "%}" if match else value
    if isinstance(value, dict):
        return {key: with_result(item, replacement) for key, item in value.items()}
    if isinstance(value, list):
        return [with_result(item, replacement) for item in value]
    return value


def training_parameters(step: TrainStep) -> dict[str, Any]:
    """CreateTrainingJob's request, in the API's own shape (JSONPath Parameters, or JSONata Arguments)."""
    jsonata = step.query_language == "JSONata"
    algorithm: dict[str, Any] = {"TrainingImage": "${image:" + step.image + "}", "TrainingInputMode": "File"}
    if step.metrics:
        algorithm["MetricDefinitions"] = [{"Name": name, "Regex": regex} for name, regex in step.metrics.items()]
    channels = []
    for channel in step.channels:
        source: dict[str, Any] = {"S3DataType": "AugmentedManifestFile" if channel.manifest else "S3Prefix",
                                  **_field("S3Uri", channel.s3, jsonata), "S3DataDistributionType": "FullyReplicated"}
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
    # ≤ 63 characters: the prefix (≤ 26) and a UUID, new on every attempt so a retry never collides.
    parameters: dict[str, Any] = (
        {"TrainingJobName": "{% '" + step.job_prefix + "-' & $uuid() %}"} if jsonata else
        {"TrainingJobName.$": f"States.Format('{step.job_prefix}-{{}}', States.UUID())"})
    parameters["RoleArn"] = "${resource:" + step.role + "}"
    parameters["AlgorithmSpecification"] = algorithm
    if step.hyperparameters:
        parameters["HyperParameters"] = {key: value if key.endswith(".$") else _text(value, jsonata)
                                         for key, value in step.hyperparameters.items()}
    if step.environment:
        parameters["Environment"] = {key: _text(value, jsonata) for key, value in step.environment.items()}
    parameters["InputDataConfig"] = channels
    parameters["OutputDataConfig"] = _field("S3OutputPath", step.output_uri, jsonata)
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


def training_result_expression(step: TrainStep) -> str:
    """JSONata: the readable result computed from the finished job (`$states.result`), each declared metric
    read by name; a metric the job never logged fails the state (States.QueryEvaluationError) naming it."""
    job = "$states.result"
    fields = [f'"job_name": {job}.TrainingJobName',
              f'"model_artifacts": {job}.ModelArtifacts.S3ModelArtifacts', f'"status": {job}.TrainingJobStatus']
    if step.metrics:
        metrics = [f'"{metric_key(name)}": ($value := {job}.FinalMetricDataList[MetricName = \'{name}\'].Value; '
                   f'$exists($value) ? $value[0] : $error("training job " & {job}.TrainingJobName & '
                   f'" logged no value for metric {name}"))' for name in step.metrics]
        fields.append('"metrics": {' + ", ".join(metrics) + "}")
    return "{" + ", ".join(fields) + "}"


def training_output(step: TrainStep, output: Any, assign: dict[str, Any] | None) -> tuple[Any, Any]:
    """JSONata: the Task's Output and Assign, where `$states.result` is the readable result; without an
    `output` the step's output is that result (as any JSONata task's output is its result)."""
    readable = training_result_expression(step)
    if output is UNSET:
        return "{% " + readable + " %}", with_result(assign, f"({readable})")
    return with_result(output, f"({readable})"), with_result(assign, f"({readable})")


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
    if step.query_language == "JSONata":
        return _jsonata_deployment_parts(step)
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


def deployment_variable(step: DeployStep) -> str:
    """JSONata: the variable a deploy fragment keeps its names and the endpoint's state in."""
    # Step Functions variable names are at most 80 characters.
    return ("deploy_" + re.sub(r"[^A-Za-z0-9]+", "_", step.name).strip("_").lower())[:80]


def _jsonata_deployment_parts(step: DeployStep) -> list[Step]:
    """The deploy fragment in JSONata: the same states as in JSONPath, but its record ({id, name, previous,
    endpoint}) lives in a variable, every part passes the step's input through unchanged, and the step's
    `output`/`assign` (`$states.result` = the record) are applied on each way out that continues."""
    name = step.name
    names = {part: f"{name}: {part}" for part in ("model", "config", "current", "create or update",
                                                  "update", "create", "wait")}
    variable = deployment_variable(step)
    record = "$" + variable
    keep = "{% $states.input %}"  # the workflow's data flows through the fragment untouched
    generated = "{% '" + step.name_prefix + "-' & " + record + ".id %}"  # models and configs: same name
    common = {"place": step.place, "places": {}, "query_language": "JSONata"}

    def task(part: str, action: str, arguments: dict[str, Any], next_: str, *, optimized: bool = True,
             assign: dict[str, Any] | None = None, catch: list[CatchRule] | None = None) -> ServiceStep:
        return ServiceStep(name=names[part], service="sagemaker", action=action, optimized=optimized,
                           arguments=arguments, output=keep, assign=assign, next=next_, retry=list(step.retry),
                           catch=[*(catch or []), *step.catch], comment=None, **common)

    def merged(entry: str) -> dict[str, str]:
        return {variable: "{% $merge([" + record + ", " + entry + "]) %}"}

    container: dict[str, Any] = {"Image": "${image:" + step.image + "}", "ModelDataUrl": step.model_data}
    if step.environment:
        container["Environment"] = {key: _text(value, True) for key, value in step.environment.items()}
    endpoint = {"EndpointName": step.endpoint}
    status, config = f"{record}.endpoint.EndpointStatus", f"{record}.endpoint.EndpointConfigName"
    changing = "[" + ", ".join(f"'{value}'" for value in ENDPOINT_CHANGING) + "]"
    settled = f"$not({status} in {changing})"
    wait = PollStep(
        name=names["wait"], every=step.every, timeout=step.give_up,
        task=ServiceStep(name=names["wait"], service="sagemaker", action="describeEndpoint", optimized=False,
                         arguments=dict(endpoint), output=keep, assign=merged("{'endpoint': $states.result}"),
                         **common),
        until=JsonataCondition(settled), until_text=f"{status} not in [{', '.join(ENDPOINT_CHANGING)}]",
        fail_if=JsonataCondition(f"{settled} and ({status} != 'InService' or {config} != {record}.name)"),
        fail_if_text=f"settled, but not InService with {record}.name",
        error=f"{name}.Failed", cause=f"The endpoint settled without serving the new configuration ({name})",
        timeout_error=f"{name}.TimedOut", on_fail=step.on_fail, on_timeout=step.on_timeout,
        outcome_output=with_result(step.output, record) if step.output is not UNSET else "{% " + record + " %}",
        outcome_assign=with_result(step.assign, record),
        retry=list(step.retry), catch=list(step.catch), next=step.next, end=step.end,
        places={("poll", "fail_if"): step.place, ("poll", "timeout"): step.place},
        **{key: value for key, value in common.items() if key != "places"})
    missing = CatchRule(errors=list(ENDPOINT_MISSING), next=names["create or update"], output=keep,
                        assign=merged("{'previous': $states.errorOutput}"), place=step.place)
    return [
        PassStep(name=name, assign={variable: "{% ($id := $uuid(); {'id': $id, 'name': '" + step.name_prefix
                                    + "-' & $id}) %}"}, next=names["model"],
                 comment="One name for the new model and its endpoint configuration", **common),
        task("model", "createModel", {"ModelName": generated, "ExecutionRoleArn": "${resource:" + step.role + "}",
                                      "PrimaryContainer": container}, names["config"]),
        task("config", "createEndpointConfig", {
            "EndpointConfigName": generated,
            "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": generated,
                                    "InstanceType": step.instance_type,
                                    "InitialInstanceCount": step.instance_count}]}, names["current"]),
        task("current", "describeEndpoint", dict(endpoint), names["create or update"], optimized=False,
             assign=merged("{'previous': {'config': $states.result.EndpointConfigName}}"), catch=[missing]),
        ChoiceStep(name=names["create or update"], default=names["create"], branches=[ChoiceBranch(
            condition=JsonataCondition(f"$exists({record}.previous.config)"), text="an endpoint exists",
            next=names["update"], place=step.place)], **common),
        task("update", "updateEndpoint", {**endpoint, "EndpointConfigName": generated}, names["wait"]),
        task("create", "createEndpoint", {**endpoint, "EndpointConfigName": generated}, names["wait"]),
        wait,
    ]
