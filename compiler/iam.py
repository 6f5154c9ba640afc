"""Least-privilege IAM statements inferred from the model.

One state machine role carries exactly the actions its Task states call (read from each task's
integration and parameters); one role per function carries what its `reads`/`writes` declare,
scoped to the resource ARNs, plus its own CloudWatch Logs streams. No action is ever `*`. A
resource is `*` only where the service has no resource-level permissions for the action, and
then the Statement carries a `reason` that sam.py records in the role's Metadata and
serialize.py prints as a `#` comment above that statement in template.yaml.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from compiler import names
from compiler.errors import SpecError
from compiler.model import (
    REFERENCE,
    HandlerStep,
    MapStep,
    PollStep,
    Resource,
    ServiceStep,
    Step,
    Workflow,
    pascal_case,
)

WILDCARD = "*"


@dataclass(frozen=True)
class Statement:
    """One Allow statement. `resources` hold CloudFormation values (strings or intrinsics)."""

    sid: str
    actions: tuple[str, ...]
    resources: tuple[Any, ...]
    condition: dict[str, Any] | None = None
    reason: str | None = None  # why the resource is "*": becomes a comment in template.yaml

    def to_cfn(self) -> dict[str, Any]:
        """The statement as a policy document element."""
        out: dict[str, Any] = {"Sid": self.sid, "Effect": "Allow", "Action": list(self.actions),
                               "Resource": list(self.resources) if len(self.resources) != 1
                               else self.resources[0]}
        if self.condition:
            out["Condition"] = self.condition
        return out


def policy_document(statements: Iterable[Statement], written: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    """A PolicyDocument from generated statements (already merged and sorted), then those the spec wrote."""
    return {"Version": "2012-10-17", "Statement": [*(s.to_cfn() for s in statements), *written]}


# --- service names and actions ------------------------------------------------------------------------

# aws-sdk integration service names (the SDK's lower-case service id) whose IAM prefix differs.
IAM_PREFIX: dict[str, str] = {
    "sfn": "states", "stepfunctions": "states",
    "sagemakerruntime": "sagemaker", "sagemakerfeaturestoreruntime": "sagemaker",
    "cloudwatchlogs": "logs", "cloudwatchevents": "events", "eventbridge": "events",
    "efs": "elasticfilesystem", "elasticloadbalancingv2": "elasticloadbalancing",
    "sesv2": "ses", "apigatewaymanagementapi": "execute-api", "apigatewayv2": "apigateway",
    "cognitoidentityprovider": "cognito-idp", "cognitoidentity": "cognito-identity",
    "configservice": "config", "costexplorer": "ce", "applicationautoscaling": "application-autoscaling",
    "emrserverless": "emr-serverless", "emrcontainers": "emr-containers", "acmpca": "acm-pca",
    "dynamodbstreams": "dynamodb", "iotdata": "iot", "lexruntimev2": "lex", "lexmodelsv2": "lex",
    "bedrockruntime": "bedrock", "bedrockagentruntime": "bedrock", "bedrockagent": "bedrock",
    "elasticsearchservice": "es", "opensearch": "es", "kinesisanalyticsv2": "kinesisanalytics",
    "marketplacemetering": "aws-marketplace", "ssoadmin": "sso", "s3control": "s3",
    "textractanalyzeid": "textract", "timestreamwrite": "timestream", "timestreamquery": "timestream",
    "mediastoredata": "mediastore", "redshiftdata": "redshift-data", "ssmincidents": "ssm-incidents",
}

# API operations whose IAM action is named differently (or that need several actions).
IAM_ACTIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("s3", "listObjectsV2"): ("s3:ListBucket",),
    ("s3", "listObjects"): ("s3:ListBucket",),
    ("s3", "headBucket"): ("s3:ListBucket",),
    ("s3", "headObject"): ("s3:GetObject",),
    ("s3", "selectObjectContent"): ("s3:GetObject",),
    ("s3", "copyObject"): ("s3:GetObject", "s3:PutObject"),
    ("s3", "deleteObjects"): ("s3:DeleteObject",),
    ("s3", "listObjectVersions"): ("s3:ListBucketVersions",),
    ("s3", "getObjectAttributes"): ("s3:GetObject", "s3:GetObjectAttributes"),
    ("s3", "createMultipartUpload"): ("s3:PutObject",),
    ("s3", "uploadPart"): ("s3:PutObject",),
    ("s3", "completeMultipartUpload"): ("s3:PutObject",),
    ("s3", "listMultipartUploads"): ("s3:ListBucketMultipartUploads",),
    ("s3", "listParts"): ("s3:ListMultipartUploadParts",),
    # Batch calls are authorized by the single call's action (there is no sqs:SendMessageBatch action).
    ("sqs", "sendMessageBatch"): ("sqs:SendMessage",),
    ("sqs", "deleteMessageBatch"): ("sqs:DeleteMessage",),
    ("sqs", "changeMessageVisibilityBatch"): ("sqs:ChangeMessageVisibility",),
    ("sns", "publishBatch"): ("sns:Publish",),
    ("lambda", "invoke"): ("lambda:InvokeFunction",),
    ("lambda", "invokeAsync"): ("lambda:InvokeFunction",),
    ("dynamodb", "transactGetItems"): ("dynamodb:GetItem",),
    ("dynamodb", "transactWriteItems"): ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                                         "dynamodb:ConditionCheckItem"),
}

# S3 operations that act on the bucket itself rather than on objects in it.
_S3_BUCKET_ACTIONS = {"s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads",
                      "s3:GetBucketLocation", "s3:GetBucketTagging", "s3:GetBucketNotification",
                      "s3:PutBucketNotification", "s3:GetBucketPolicy"}

# Services (or actions) with no resource-level permissions at all: their statements must use "*".
_UNSCOPABLE_SERVICES = {
    "rekognition": "Rekognition video analysis and image detection APIs support no resource-level "
                   "permissions",
    "textract": "Textract supports no resource-level permissions",
    "comprehend": "Comprehend detection APIs support no resource-level permissions",
    "translate": "Translate supports no resource-level permissions",
    "transcribe": "Transcribe job APIs support no resource-level permissions",
    "polly": "Polly synthesis APIs are scoped only by lexicon",
    "cloudwatch": "CloudWatch PutMetricData supports no resource-level permissions",
    "xray": "X-Ray supports no resource-level permissions",
}

# Rekognition collection-based APIs can be scoped; everything else in Rekognition cannot.
_REKOGNITION_COLLECTION = re.compile(r"^(SearchFaces.*|IndexFaces|ListFaces|DeleteFaces|CreateCollection|"
                                     r"DeleteCollection|DescribeCollection|StartFaceSearch)$")

_SAGEMAKER_KINDS = {  # action noun → ARN resource type
    "TrainingJob": "training-job", "TransformJob": "transform-job", "ProcessingJob": "processing-job",
    "HyperParameterTuningJob": "hyper-parameter-tuning-job", "LabelingJob": "labeling-job",
    "EndpointConfig": "endpoint-config", "Endpoint": "endpoint", "Model": "model",
    "ModelPackage": "model-package", "ModelPackageGroup": "model-package-group", "Pipeline": "pipeline",
}

# Managed EventBridge rules Step Functions creates to learn that a .sync job finished.
_SYNC_RULES = {
    ("sagemaker", "createTrainingJob"): "StepFunctionsGetEventsForSageMakerTrainingJobsRule",
    ("sagemaker", "createTransformJob"): "StepFunctionsGetEventsForSageMakerTransformJobsRule",
    ("sagemaker", "createProcessingJob"): "StepFunctionsGetEventsForSageMakerProcessingJobsRule",
    ("sagemaker", "createHyperParameterTuningJob"): "StepFunctionsGetEventsForSageMakerTuningJobsRule",
    ("sagemaker", "createLabelingJob"): "StepFunctionsGetEventsForSageMakerLabelingJobsRule",
    ("states", "startExecution"): "StepFunctionsGetEventsForStepFunctionsExecutionRule",
    ("batch", "submitJob"): "StepFunctionsGetEventsForBatchJobsRule",
    ("ecs", "runTask"): "StepFunctionsGetEventsForECSTaskRule",
    ("codebuild", "startBuild"): "StepFunctionsGetEventsForCodeBuildStartBuildRule",
}


def iam_prefix(service: str) -> str:
    """The IAM action prefix of an aws-sdk service name (`sfn` → `states`)."""
    return IAM_PREFIX.get(service.lower(), service.lower())


def iam_actions(service: str, action: str) -> tuple[str, ...]:
    """IAM actions one API call needs: `rekognition`, `startFaceDetection` → `rekognition:StartFaceDetection`."""
    key = (service.lower(), action)
    if key in IAM_ACTIONS:
        return IAM_ACTIONS[key]
    return (f"{iam_prefix(service)}:{action[:1].upper()}{action[1:]}",)


def _arn(service_part: str) -> dict[str, str]:
    return {"Fn::Sub": "arn:${AWS::Partition}:" + service_part}


def _regional(service: str, rest: str) -> dict[str, str]:
    return _arn(f"{service}:${{AWS::Region}}:${{AWS::AccountId}}:{rest}")


# --- finding the resources a task's parameters name ---------------------------------------------------


def _referenced(workflow: Workflow, value: Any, kind: str) -> list[Resource] | None:
    """Resources of `kind` a parameter value names via ${resource:x}; None when it is decided at run time."""
    if isinstance(value, str):
        found = [workflow.resources[m.group(2)] for m in REFERENCE.finditer(value)
                 if m.group(1) == "resource" and m.group(2) in workflow.resources]
        found = [r for r in found if r.type == kind]
        if found:
            return found
    return None


def _parameter(parameters: Any, *keys: str) -> tuple[Any, bool]:
    """The value at `keys` in task parameters and whether it is a path (decided at run time)."""
    node = parameters
    for i, key in enumerate(keys):
        if not isinstance(node, dict):
            return None, False
        if key + ".$" in node and i == len(keys) - 1:
            return node[key + ".$"], True
        if key not in node:
            return None, False
        node = node[key]
    if isinstance(node, str) and node.startswith("{%"):
        return node, True
    return node, False


def _listed(workflow: Workflow, step: Step, kind: str) -> list[Resource]:
    """The resources of `kind` a service step lists under reads/writes. (A handler's lists grant its own
    role access, not the state machine's.)"""
    named = [*step.reads, *step.writes] if isinstance(step, ServiceStep) else []
    return [workflow.resources[name] for name in named
            if name in workflow.resources and workflow.resources[name].type == kind]


def _resource_scope(workflow: Workflow, step: Step, parameters: Any, kind: str,
                    *keys: str) -> tuple[list[Resource], str | None]:
    """Resources a task touches: the one its parameter names, else those the step lists under
    reads/writes, else every declared resource of that kind.

    Returns the resources and, when the choice was a fallback, why.
    """
    value, dynamic = _parameter(parameters, *keys)
    if value is not None and not dynamic:
        found = _referenced(workflow, value, kind)
        if found:
            return found, None
    listed = _listed(workflow, step, kind)
    if listed:
        return listed, None
    declared = [r for r in workflow.resources.values() if r.type == kind]
    return declared, f"{'.'.join(keys)} is chosen at run time"


# --- state machine role -------------------------------------------------------------------------------


class _Collector:
    """Accumulates statements by Sid, merging actions and resources of the same purpose."""

    def __init__(self) -> None:
        self.by_sid: dict[str, dict[str, Any]] = {}

    def add(self, sid: str, actions: Iterable[str], resources: Iterable[Any],
            condition: dict[str, Any] | None = None, reason: str | None = None) -> None:
        entry = self.by_sid.setdefault(sid, {"actions": [], "resources": [], "condition": condition,
                                             "reason": reason})
        for action in actions:
            if action not in entry["actions"]:
                entry["actions"].append(action)
        for resource in resources:
            if resource not in entry["resources"]:
                entry["resources"].append(resource)
        if reason and not entry["reason"]:
            entry["reason"] = reason

    def statements(self) -> list[Statement]:
        out = []
        for sid in sorted(self.by_sid):
            entry = self.by_sid[sid]
            resources = entry["resources"]
            if WILDCARD in resources:
                resources = [WILDCARD]
            out.append(Statement(sid, tuple(sorted(entry["actions"])), tuple(_sort_values(resources)),
                                 entry["condition"], entry["reason"] if resources == [WILDCARD] else None))
        return out


def _sort_values(values: list[Any]) -> list[Any]:
    import json

    return sorted(values, key=lambda v: json.dumps(v, sort_keys=True))


def state_machine_statements(workflow: Workflow) -> list[Statement]:
    """Everything the workflow's state machine role needs: one statement group per task integration."""
    collector = _Collector()
    for step in workflow.all_steps():
        task: Step = step.task if isinstance(step, PollStep) else step
        if isinstance(task, HandlerStep):
            _handler_task(collector, workflow, task)
        elif isinstance(task, ServiceStep):
            if task.optimized:
                _optimized_task(collector, workflow, task)
            else:
                _sdk_task(collector, workflow, task)
        if isinstance(step, MapStep) and step.mode == "distributed":
            _distributed_map(collector, workflow, step)
    if workflow.type == "express":
        # CloudWatch Logs delivery APIs have no resource-level permissions (AWS documents "*").
        collector.add("LogDelivery", ["logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
                                      "logs:DeleteLogDelivery", "logs:ListLogDeliveries",
                                      "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
                                      "logs:DescribeLogGroups"], [WILDCARD],
                      reason="CloudWatch Logs log-delivery APIs used by express workflow logging support no "
                             "resource-level permissions")
    return collector.statements()


def _handler_task(collector: _Collector, workflow: Workflow, step: HandlerStep) -> None:
    function = names.function_id(workflow, step.name)
    collector.add("InvokeFunctions", ["lambda:InvokeFunction"],
                  [{"Fn::GetAtt": [function, "Arn"]}, {"Fn::Sub": "${" + function + ".Arn}:*"}])


# Services whose calls name their one resource in a parameter: (resource kind, parameter, Sid noun).
_NAMED_BY_PARAMETER = {
    "dynamodb": ("table", "TableName", "Tables"),
    "sns": ("topic", "TopicArn", "Topics"),
    "sqs": ("queue", "QueueUrl", "Queues"),
    "ssm": ("parameter", "Name", "Parameters"),
}


def misnamed_resources(workflow: Workflow) -> list[SpecError]:
    """Service steps whose resource-naming parameter (TableName, QueueUrl, Bucket …) names a resource of
    another type: the call would fail on AWS, and the grant could not be scoped to what it names."""
    errors = []
    for step in workflow.all_steps():
        task = step.task if isinstance(step, PollStep) else step
        if not isinstance(task, ServiceStep):
            continue
        prefix = task.service if task.optimized else iam_prefix(task.service)
        kind, key = ("bucket", "Bucket") if prefix == "s3" else _NAMED_BY_PARAMETER.get(prefix, (None, None, None))[:2]
        field = "parameters" if task.query_language == "JSONPath" else "arguments"
        value = getattr(task, field)
        if kind is None or not isinstance(value, dict) or not isinstance(value.get(key), str):
            continue
        for match in REFERENCE.finditer(value[key]):
            resource = workflow.resources.get(match.group(2))
            if match.group(1) == "resource" and resource is not None and resource.type != kind:
                errors.append(SpecError(task.where(field, key), f"{key} names resource '{resource.name}', a "
                                        f"{resource.type}; {task.service}:{task.action} needs a {kind}",
                                        f"name a {kind} resource"))
    return errors


def _scoped_by_parameter(collector: _Collector, workflow: Workflow, step: ServiceStep, parameters: Any,
                         prefix: str, actions: Iterable[str]) -> None:
    """A call scoped to the resource its parameter names (or the step lists, or all of that kind)."""
    kind, key, noun = _NAMED_BY_PARAMETER[prefix]
    resources, why = _resource_scope(workflow, step, parameters, kind, key)
    _scoped(collector, pascal_case(prefix) + noun, actions, resources, why, kind)


def _sdk_task(collector: _Collector, workflow: Workflow, step: ServiceStep) -> None:
    service = step.service.lower()
    prefix = iam_prefix(service)
    actions = iam_actions(service, step.action)
    sid_base = pascal_case(prefix)
    parameters = step.parameters if step.query_language == "JSONPath" else step.arguments
    if prefix == "s3":
        buckets, why = _resource_scope(workflow, step, parameters, "bucket", "Bucket")
        _s3(collector, sid_base, actions, buckets, why)
        if step.action == "copyObject":
            # CopySource names the source object as "bucket/key": read access on the declared buckets.
            _s3(collector, sid_base, ("s3:GetObject",), [r for r in workflow.resources.values()
                                                         if r.type == "bucket"], "CopySource")
        return
    if prefix in _NAMED_BY_PARAMETER:
        _scoped_by_parameter(collector, workflow, step, parameters, prefix, actions)
        return
    if prefix == "sagemaker":
        _sagemaker(collector, workflow, step, actions, parameters)
        return
    if prefix == "states":
        collector.add("StatesApi", actions, [_regional("states", "stateMachine:*"),
                                            _regional("states", "execution:*:*")])
        return
    if prefix == "lambda":
        collector.add("LambdaApi", actions, [_regional("lambda", "function:*")])
        return
    if prefix == "rekognition" and _REKOGNITION_COLLECTION.match(actions[0].split(":")[1]):
        collector.add("RekognitionCollections", actions, [_regional("rekognition", "collection/*")])
        return
    reason = _UNSCOPABLE_SERVICES.get(prefix) or (
        f"{prefix} is not in Stepsmith's table of resource-scoped services; narrow this by hand if "
        f"{prefix} supports resource-level permissions")
    collector.add(f"{sid_base}Unscoped", actions, [WILDCARD], reason=reason)
    if prefix in ("rekognition", "textract", "comprehend", "transcribe") and \
            not step.action.startswith(("get", "list", "describe")):
        # These services read S3 inputs with the caller's credentials (fetching results reads none).
        buckets = [r for r in workflow.resources.values() if r.type == "bucket"]
        readers = [r for r in buckets if _names_resource(parameters, r)] or _listed(workflow, step, "bucket") \
            or buckets
        _s3(collector, f"{sid_base}Reads", ("s3:GetObject",), readers, None)


def _names_resource(parameters: Any, resource: Resource) -> bool:
    import json

    return f"${{resource:{resource.name}}}" in json.dumps(parameters)


def _s3(collector: _Collector, sid_base: str, actions: Iterable[str], buckets: list[Resource],
        why: str | None) -> None:
    object_actions = [a for a in actions if a not in _S3_BUCKET_ACTIONS]
    bucket_actions = [a for a in actions if a in _S3_BUCKET_ACTIONS]
    if not buckets:
        collector.add(f"{sid_base}Unscoped", actions, [WILDCARD],
                      reason=f"{why or 'the bucket'} names no bucket the workflow declares")
        return
    for resource in buckets:
        bucket_arn, objects_arn = names.resource_arns(resource)
        if object_actions:
            collector.add(f"{sid_base}Objects", object_actions, [objects_arn])
        if bucket_actions:
            collector.add(f"{sid_base}Buckets", bucket_actions, [bucket_arn])


def _scoped(collector: _Collector, sid: str, actions: Iterable[str], resources: list[Resource],
            why: str | None, kind: str) -> None:
    if not resources:
        collector.add(sid, actions, [WILDCARD], reason=f"{why or 'the ' + kind} names no {kind} the workflow "
                                                       "declares")
        return
    for resource in resources:
        collector.add(sid, actions, names.resource_arns(resource))


def _sagemaker_arns(action_name: str, parameters: Any = None) -> list[Any]:
    """The ARNs a SageMaker call acts on: named ones where its parameters fix the name (or its prefix)
    at compile time, else every resource of the action's type. List actions take no resource ([])."""
    if action_name.startswith("List"):   # SageMaker's List* actions support no resource-level permissions
        return []
    for noun in sorted(_SAGEMAKER_KINDS, key=len, reverse=True):
        if action_name.endswith((noun, noun + "s")):
            nouns = [noun]
            if noun == "Endpoint" and action_name in ("CreateEndpoint", "UpdateEndpoint"):
                nouns.append("EndpointConfig")
            return [_regional("sagemaker", f"{_SAGEMAKER_KINDS[one]}/{_sagemaker_name_pattern(parameters, one)}")
                    for one in nouns]
    return []


_FORMAT_PREFIX = re.compile(r"^States\.Format\('([A-Za-z0-9-]*)\{\}")
_JSONATA_PREFIX = re.compile(r"^\{%\s*'([A-Za-z0-9-]*)'\s*&")  # JSONata: {% 'retrain-' & $uuid() %}


def _sagemaker_name_pattern(parameters: Any, noun: str) -> str:
    """`my-endpoint` for a literal name, the deployed value for a whole `${param:Name}`, `retrain-*` for
    States.Format('retrain-{}', ...) (or JSONata's `'retrain-' & …`), `group/*` for a package of a literal
    model package group, else `*`.

    SageMaker writes names lower case in its ARNs, so the pattern is lower case too (a parameter's value
    cannot be lowered at deploy time: give it a lower-case value)."""
    if not isinstance(parameters, dict):
        return "*"
    group = parameters.get("ModelPackageGroupName")
    if noun == "ModelPackage" and isinstance(group, str) and re.fullmatch(r"[A-Za-z0-9-]+", group):
        return group.lower() + "/*"   # a version of that group: model-package/<group>/<version>
    key = noun + "Name"
    literal = parameters.get(key)
    if isinstance(literal, str) and re.fullmatch(r"[A-Za-z0-9-]+", literal):
        return literal.lower()
    if isinstance(literal, str) and re.fullmatch(r"\$\{param:[A-Za-z0-9]+\}", literal):
        # The deployed value, as given: SageMaker's ARNs carry names in lower case, so the parameter's
        # description asks for a lower-case name.
        return names.substitute_params(literal)
    formatted = _FORMAT_PREFIX.match(str(parameters.get(key + ".$", ""))) or _JSONATA_PREFIX.match(str(literal or ""))
    if formatted and formatted.group(1):
        return formatted.group(1).lower() + "*"
    return "*"


def _model_groups_named(workflow: Workflow, step: ServiceStep, parameters: Any) -> list[Resource]:
    """The model groups a call may act on: the one its ModelPackageGroupName names (`${resource:x}`),
    else those the step lists under reads/writes (a package named by a path: its group is listed)."""
    if isinstance(parameters, dict):
        found = _referenced(workflow, parameters.get("ModelPackageGroupName"), "model-group")
        if found:
            return found
    return _listed(workflow, step, "model-group")


def _sagemaker(collector: _Collector, workflow: Workflow, step: ServiceStep, actions: tuple[str, ...],
               parameters: Any) -> None:
    action_name = actions[0].split(":")[1]
    groups = _model_groups_named(workflow, step, parameters)
    arns = _sagemaker_arns(action_name, parameters)
    if groups and action_name.endswith(("ModelPackage", "ModelPackageGroup")):
        # A package of a declared group (or the group itself): that group and its versions only.
        arns = [arn for group in groups for arn in names.resource_arns(group)]
    if arns:
        collector.add("SageMaker", actions, arns)
    else:
        collector.add("SageMakerUnscoped", actions, [WILDCARD],
                      reason=f"sagemaker:{action_name} acts on no single resource type")
    if isinstance(parameters, dict) and any(k in parameters for k in ("RoleArn", "RoleArn.$", "ExecutionRoleArn",
                                                                        "ExecutionRoleArn.$")):
        _pass_role(collector, workflow, step, parameters, "sagemaker")


def _pass_role(collector: _Collector, workflow: Workflow, step: Step, parameters: Any, service: str) -> None:
    key = "ExecutionRoleArn" if any(k.startswith("ExecutionRoleArn") for k in parameters) else "RoleArn"
    roles, why = _resource_scope(workflow, step, parameters, "role", key)
    condition = {"StringEquals": {"iam:PassedToService": f"{service}.amazonaws.com"}}
    sid = f"PassRoleTo{pascal_case(service)}"
    if roles:
        for role in roles:
            collector.add(sid, ["iam:PassRole"], names.resource_arns(role), condition)
    else:
        collector.add(sid, ["iam:PassRole"], [WILDCARD], condition,
                      reason=f"{why or key} names no role the workflow declares; the PassedToService "
                             f"condition limits it to {service}")


_OPTIMIZED_ACTIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("sagemaker", "createTrainingJob"): ("sagemaker:CreateTrainingJob",),
    ("sagemaker", "createTransformJob"): ("sagemaker:CreateTransformJob",),
    ("sagemaker", "createProcessingJob"): ("sagemaker:CreateProcessingJob",),
    ("sagemaker", "createHyperParameterTuningJob"): ("sagemaker:CreateHyperParameterTuningJob",),
    ("sagemaker", "createLabelingJob"): ("sagemaker:CreateLabelingJob",),
    ("sagemaker", "createModel"): ("sagemaker:CreateModel",),
    ("sagemaker", "createEndpointConfig"): ("sagemaker:CreateEndpointConfig",),
    ("sagemaker", "createEndpoint"): ("sagemaker:CreateEndpoint",),
    ("sagemaker", "updateEndpoint"): ("sagemaker:UpdateEndpoint",),
}

# What a .sync integration polls and stops besides the create call.
_SYNC_EXTRA: dict[tuple[str, str], tuple[str, ...]] = {
    ("sagemaker", "createTrainingJob"): ("sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob"),
    ("sagemaker", "createTransformJob"): ("sagemaker:DescribeTransformJob", "sagemaker:StopTransformJob"),
    ("sagemaker", "createProcessingJob"): ("sagemaker:DescribeProcessingJob", "sagemaker:StopProcessingJob"),
    ("sagemaker", "createHyperParameterTuningJob"): ("sagemaker:DescribeHyperParameterTuningJob",
                                                     "sagemaker:StopHyperParameterTuningJob",
                                                     "sagemaker:ListTrainingJobsForHyperParameterTuningJob"),
    ("sagemaker", "createLabelingJob"): ("sagemaker:DescribeLabelingJob", "sagemaker:StopLabelingJob"),
}


def _optimized_task(collector: _Collector, workflow: Workflow, step: ServiceStep) -> None:
    key = (step.service, step.action)
    parameters = step.parameters if step.query_language == "JSONPath" else step.arguments
    sync = step.integration in ("sync", "sync:2")
    if step.service == "sagemaker":
        actions = list(_OPTIMIZED_ACTIONS.get(key, iam_actions("sagemaker", step.action)))
        if sync:
            actions += _SYNC_EXTRA.get(key, ())
        if isinstance(parameters, dict) and ("Tags" in parameters or "Tags.$" in parameters):
            actions.append("sagemaker:AddTags")
        collector.add("SageMaker", actions, _sagemaker_arns(actions[0].split(":")[1], parameters))
        if isinstance(parameters, dict) and any(k.startswith(("RoleArn", "ExecutionRoleArn")) for k in parameters):
            _pass_role(collector, workflow, step, parameters, "sagemaker")
    elif step.service == "lambda":
        value, dynamic = _parameter(parameters, "FunctionName")
        function = _function_reference(workflow, value) if not dynamic else None
        if function:
            collector.add("InvokeFunctions", ["lambda:InvokeFunction"],
                          [{"Fn::GetAtt": [function, "Arn"]}, {"Fn::Sub": "${" + function + ".Arn}:*"}])
        else:
            collector.add("InvokeFunctions", ["lambda:InvokeFunction"], [_regional("lambda", "function:*")])
    elif step.service in _NAMED_BY_PARAMETER:
        _scoped_by_parameter(collector, workflow, step, parameters, step.service,
                             iam_actions(step.service, step.action))
    elif step.service == "states":
        value, dynamic = _parameter(parameters, "StateMachineArn")
        started = ([m.group(2) for m in REFERENCE.finditer(value) if m.group(1) == "workflow"]
                   if isinstance(value, str) and not dynamic else [])
        if started:
            # ${workflow:x}: only that state machine, and (for .sync) only its executions.
            collector.add("StartExecutions", ["states:StartExecution"],
                          [names.workflow_state_machine_arn(name) for name in started])
            if sync:
                collector.add("ChildExecutions", ["states:DescribeExecution", "states:StopExecution"],
                              [names.workflow_executions_arn(name) for name in started])
        else:
            collector.add("StartExecutions", ["states:StartExecution"], [_regional("states", "stateMachine:*")])
            if sync:
                collector.add("ChildExecutions", ["states:DescribeExecution", "states:StopExecution"],
                              [_regional("states", "execution:*:*")])
    elif step.service == "events":
        collector.add("PutEvents", ["events:PutEvents"], [_regional("events", "event-bus/default")])
    else:
        collector.add(f"{pascal_case(step.service)}Unscoped", iam_actions(step.service, step.action), [WILDCARD],
                      reason=f"{step.service}:{step.action} resources are chosen at run time")
    if sync and key in _SYNC_RULES:
        collector.add("SyncJobEvents", ["events:DescribeRule", "events:PutRule", "events:PutTargets"],
                      [_regional("events", f"rule/{_SYNC_RULES[key]}")])


def _function_reference(workflow: Workflow, value: Any) -> str | None:
    if isinstance(value, str):
        for match in REFERENCE.finditer(value):
            if match.group(1) == "function":
                return names.function_id(workflow, match.group(2))
    return None


def _distributed_map(collector: _Collector, workflow: Workflow, step: MapStep) -> None:
    # A distributed Map starts child executions of its own state machine.
    own = workflow.name
    collector.add("DistributedMapExecutions", ["states:StartExecution"], [names.state_machine_arn(workflow)])
    collector.add("DistributedMapChildren", ["states:DescribeExecution", "states:StopExecution"],
                  [{"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:"
                               "${AWS::StackName}-" + own + "/*"}])
    if step.reader is not None:
        bucket = workflow.resources[step.reader.bucket]
        bucket_arn, objects_arn = names.resource_arns(bucket)
        collector.add("MapReaderObjects", ["s3:GetObject"], [objects_arn])
        if step.reader.format == "objects":
            collector.add("MapReaderBuckets", ["s3:ListBucket"], [bucket_arn])
    if step.writer is not None:
        bucket = workflow.resources[step.writer.bucket]
        _, objects_arn = names.resource_arns(bucket)
        collector.add("MapResultWriter", ["s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
                                          "s3:PutObject"], [objects_arn])


# --- function roles -----------------------------------------------------------------------------------

READ_ACTIONS: dict[str, tuple[str, ...]] = {
    "bucket": ("s3:GetObject", "s3:ListBucket"),
    "table": ("dynamodb:BatchGetItem", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable",
              "dynamodb:GetItem", "dynamodb:Query", "dynamodb:Scan"),
    "topic": ("sns:GetTopicAttributes",),
    "queue": ("sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
              "sqs:ReceiveMessage"),
    "parameter": ("ssm:GetParameter", "ssm:GetParameters"),
    "role": ("iam:GetRole",),
    "model-group": ("sagemaker:DescribeModelPackage", "sagemaker:DescribeModelPackageGroup"),
}
WRITE_ACTIONS: dict[str, tuple[str, ...]] = {
    "bucket": ("s3:AbortMultipartUpload", "s3:DeleteObject", "s3:PutObject"),
    "table": ("dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:UpdateItem"),
    "topic": ("sns:Publish",),
    "queue": ("sqs:GetQueueAttributes", "sqs:SendMessage"),
    "parameter": ("ssm:PutParameter",),
    "role": ("iam:PassRole",),
    "model-group": ("sagemaker:CreateModelPackage", "sagemaker:UpdateModelPackage"),
}


def access_statements(workflow: Workflow, reads: Iterable[str], writes: Iterable[str]) -> list[Statement]:
    """Statements granting read/write access to named workflow resources, scoped to their ARNs."""
    collector = _Collector()
    for mode, names_, table in (("Read", reads, READ_ACTIONS), ("Write", writes, WRITE_ACTIONS)):
        for name in names_:
            resource = workflow.resources[name]
            sid = f"{mode}{pascal_case(resource.name)}{pascal_case(resource.type)}"
            actions = table[resource.type]
            if resource.type == "bucket":
                bucket_arn, objects_arn = names.resource_arns(resource)
                object_actions = [a for a in actions if a not in _S3_BUCKET_ACTIONS]
                bucket_actions = [a for a in actions if a in _S3_BUCKET_ACTIONS]
                collector.add(sid + "Objects", object_actions, [objects_arn])
                if bucket_actions:
                    collector.add(sid, bucket_actions, [bucket_arn])
            elif resource.type == "role" and mode == "Write":
                condition = ({"StringEquals": {"iam:PassedToService": f"{resource.service}.amazonaws.com"}}
                             if resource.service else None)
                collector.add(f"PassRole{pascal_case(resource.name)}", actions,
                              names.resource_arns(resource), condition)
            else:
                collector.add(sid, actions, names.resource_arns(resource))
            if resource.type == "model-group" and mode == "Read":
                collector.add("ListModelPackages", ["sagemaker:ListModelPackages"], [WILDCARD],
                              reason="sagemaker:ListModelPackages supports no resource-level permissions")
    return collector.statements()


# What AWSLambdaVPCAccessExecutionRole grants: Lambda attaches the function to its subnets through
# network interfaces it creates and deletes in the function's name.
VPC_ACTIONS = ("ec2:AssignPrivateIpAddresses", "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
               "ec2:DescribeNetworkInterfaces", "ec2:UnassignPrivateIpAddresses")
VPC_REASON = ("ec2:DescribeNetworkInterfaces supports no resource-level permissions and the interfaces "
              "Lambda creates do not exist before deployment (as in AWSLambdaVPCAccessExecutionRole)")


def function_statements(workflow: Workflow, step: HandlerStep) -> list[Statement]:
    """A handler's role: its declared reads/writes, its own log streams, and VPC network interfaces
    when it runs in a VPC."""
    statements = access_statements(workflow, step.reads, step.writes)
    if step.config.vpc is not None:
        statements.append(Statement("VpcNetworkInterfaces", VPC_ACTIONS, (WILDCARD,), reason=VPC_REASON))
    # The function name is generated by CloudFormation (<stack>-<LogicalId>-<suffix>), so the log
    # group is scoped to this stack's Lambda log groups rather than to one function.
    logs = Statement("WriteLogs", ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"),
                     (_regional("logs", "log-group:/aws/lambda/${AWS::StackName}-*"),
                      _regional("logs", "log-group:/aws/lambda/${AWS::StackName}-*:*")))
    return sorted([*statements, logs], key=lambda s: s.sid)


ECR_PULL_ACTIONS = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")


def service_role_statements(workflow: Workflow, resource: Resource) -> list[Statement]:
    """What a role resource (assumed by e.g. SageMaker) may touch: its own reads/writes plus logs, the
    metrics SageMaker publishes for its jobs, and pulls of the images it lists."""
    statements = role_grant_statements(workflow, resource)
    if resource.service == "sagemaker":
        statements.append(Statement(
            "SageMakerLogs", ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams",
                              "logs:PutLogEvents"),
            (_regional("logs", "log-group:/aws/sagemaker/*"), _regional("logs", "log-group:/aws/sagemaker/*:*"))))
        statements.append(Statement(
            "SageMakerMetrics", ("cloudwatch:PutMetricData",), (WILDCARD,),
            {"StringLike": {"cloudwatch:namespace": ["/aws/sagemaker/*", "aws/sagemaker/*"]}},
            reason="CloudWatch PutMetricData supports no resource-level permissions; the namespace condition "
                   "keeps it to SageMaker's own"))
    return sorted(statements, key=lambda s: s.sid)


def role_grant_statements(workflow: Workflow, resource: Resource) -> list[Statement]:
    """The reads/writes and image pulls a workflow grants a role (its own, or one shared `from` another)."""
    statements = access_statements(workflow, resource.reads, resource.writes)
    if resource.images:
        statements.append(Statement("PullImages", ECR_PULL_ACTIONS,
                                    tuple({"Fn::GetAtt": [names.image_repository_id(image), "Arn"]}
                                          for image in sorted(resource.images))))
        statements.append(Statement("EcrLogin", ("ecr:GetAuthorizationToken",), (WILDCARD,),
                                    reason="ecr:GetAuthorizationToken supports no resource-level permissions"))
    return sorted(statements, key=lambda s: s.sid)


def start_execution_statements(workflow: Workflow) -> list[Statement]:
    """The policy of the role EventBridge or Scheduler assumes to start the workflow."""
    return [Statement("StartWorkflow", ("states:StartExecution",), ({"Ref": names.state_machine_id(workflow)},))]


def wildcard_reasons(statements: Iterable[Statement]) -> dict[str, str]:
    """Sid → why its resource is "*", for every statement that has one."""
    return {s.sid: s.reason for s in statements if s.reason}


def written_statements(workflow: Workflow, statements: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Statements a spec wrote itself (a step's `policies:`), references turned into ARNs and parameters."""
    return [names.iam_substitute(workflow, statement) for statement in statements]


def written_wildcard_reasons(statements: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Sid → a note for every spec-written statement on "*", so the template says who chose it."""
    reasons = {}
    for statement in statements:
        resource = statement.get("Resource")
        if statement.get("Sid") and (resource == WILDCARD or (isinstance(resource, list) and WILDCARD in resource)):
            effect = "denies on every resource" if statement.get("Effect") == "Deny" else "allows on every resource"
            reasons[statement["Sid"]] = f"written in the spec's `policies:` ({effect})"
    return reasons


def service_control_policy(workflow: Workflow, overrides: dict[str, str] | None = None
                           ) -> tuple[dict[str, Any], list[str]]:
    """The workflow's `scp:` as a policy document, parameters filled in from overrides or defaults.

    An SCP is attached outside the stack, so nothing can resolve a parameter later: the placeholders
    still in the document (a parameter without a default, `${AWS::…}`) are returned for a note.
    """
    statements, left = names.fill_parameters(workflow, workflow.scp, overrides)
    return {"Version": "2012-10-17", "Statement": statements}, left
