"""The typed workflow model: what a validated spec means, with no YAML and no AWS in it.

The front end (load.py → validate.py) builds it; the back end (asl.py, sam.py, iam.py) reads it.
Every object keeps its SourcePlace so later stages can still point at the user's file.
Implicit `Next` is already resolved here: every non-terminal step has either `next` or `end`.
"""
from __future__ import annotations

import enum
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from compiler.conditions import Condition

QueryLanguage = Literal["JSONPath", "JSONata"]
# A key path inside a step's YAML mapping, e.g. ("catch", 0, "next") or ("parameters", "JobId.$").
KeyPath = tuple[str | int, ...]


class Unset(enum.Enum):
    """Marks a field the spec did not set, where YAML `null` is itself meaningful (ResultPath: null)."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET = Unset.UNSET


@dataclass(frozen=True)
class SourcePlace:
    """A position in a spec file; line and col are 1-based like every editor shows them."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class Located:
    """Mixin: an object with a `place` and the places of the values under it (`places`)."""

    place: SourcePlace
    places: dict[KeyPath, SourcePlace]

    def where(self, *keys: str | int) -> SourcePlace:
        """The place of the value at `keys` under this object, or the closest enclosing one."""
        path: KeyPath = tuple(keys)
        while path:
            if path in self.places:
                return self.places[path]
            path = path[:-1]
        return self.place


# --- references inside strings: ${resource:name}, ${param:Name}, ${function:Step name}, ${workflow:name} -

REFERENCE_KINDS = ("resource", "param", "function", "workflow", "image")
REFERENCE = re.compile(r"\$\{(" + "|".join(REFERENCE_KINDS) + r"):([^}]*)\}")


@dataclass(frozen=True)
class Reference:
    kind: Literal["resource", "param", "function", "workflow", "image"]
    name: str
    keys: KeyPath  # where the string sits, relative to the object that was searched


def iter_references(value: Any, keys: KeyPath = ()) -> Iterator[Reference]:
    """Every ${kind:name} reference in a JSON-like value, with the key path of the string holding it."""
    if isinstance(value, str):
        for match in REFERENCE.finditer(value):
            yield Reference(match.group(1), match.group(2), keys)  # type: ignore[arg-type]
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from iter_references(item, (*keys, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from iter_references(item, (*keys, index))


def pascal_case(name: str) -> str:
    """`videos-out` / `Blur faces` → `VideosOut` / `BlurFaces` (CloudFormation logical ids)."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", name) if part)


def upper_snake(name: str) -> str:
    """`videos-out` → `VIDEOS_OUT` (environment variable names)."""
    return "_".join(part.upper() for part in re.split(r"[^A-Za-z0-9]+", name) if part)


# --- deploy-time things --------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Parameter(Located):
    """A SAM/CloudFormation Parameter, referenced as ${param:Name}."""

    name: str
    type: str = "String"
    default: Any = None  # None: no default (deploy must supply it)
    description: str | None = None
    allowed_values: list[Any] | None = None
    # CloudFormation's other constraints, enforced by CloudFormation on deploy and by run/serve locally.
    allowed_pattern: str | None = None
    min_value: float | None = None
    max_value: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    constraint_description: str | None = None
    place: SourcePlace
    places: dict[KeyPath, SourcePlace] = field(default_factory=dict, repr=False, compare=False)


ResourceType = Literal["bucket", "table", "topic", "queue", "parameter", "role", "model-group", "vpc_endpoints"]

# What ${resource:x} and the env var hold for each resource type, and the env var suffix.
RESOURCE_ENV_SUFFIX: dict[str, str] = {
    "bucket": "_BUCKET",          # bucket name
    "table": "_TABLE",            # table name
    "topic": "_TOPIC_ARN",        # topic ARN
    "queue": "_QUEUE_URL",        # queue URL
    "parameter": "_PARAMETER",    # SSM parameter name
    "role": "_ROLE_ARN",          # IAM role ARN (a role a service assumes, e.g. SageMaker training)
    "model-group": "_MODEL_GROUP",  # SageMaker model package group name
    "vpc_endpoints": "",          # none: endpoints are networking, not something steps use
}


# An IAM policy statement in IAM's own JSON shape (Sid, Effect, Action|NotAction, Resource|NotResource,
# Condition); strings may hold ${param:X}, ${resource:x} and ${AWS::Region|AccountId|Partition|URLSuffix}.
PolicyStatement = dict[str, Any]


@dataclass(kw_only=True)
class VpcEndpoints:
    """Interface VPC endpoints (a `vpc_endpoints` resource): optional networking for a private API."""

    vpc_id: str
    subnet_ids: str | list[str]  # a list, or one ${param:X} of a list parameter
    security_group_ids: str | list[str]
    services: list[str]  # after com.amazonaws.<region>. ; "studio" is aws.sagemaker.<region>.studio
    private_dns: bool = True
    when: str | None = None  # create only when this is "true" (usually ${param:X})


@dataclass(kw_only=True)
class Resource(Located):
    """A bucket, table, topic, queue, SSM parameter, service role or model package group the workflow owns
    or references."""

    name: str  # kebab-case, unique per workflow
    type: ResourceType
    # table: string hash key and optional TTL attribute
    key: str | None = None
    ttl: str | None = None
    # parameter: the SSM String value
    value: str | None = None
    # role: the AWS service that assumes it (e.g. "sagemaker") and what it may touch
    service: str | None = None
    reads: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    # role: extra statements, and the images (images/<name>/) whose ECR repositories it pulls from
    policies: list[PolicyStatement] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    # declared by another workflow of the project (shared on purpose); a role's reads/writes/policies
    # here are grants this workflow adds to it
    shared_from: str | None = None
    # external: reference an existing resource by name/ARN (may contain ${param:X}) instead of owning one
    external: str | None = None
    # shared: other workflows may declare it too (identically, also shared); one resource in the stack
    shared: bool = False
    # vpc_endpoints: interface endpoints for `services` in a VPC, only `when` that is "true"
    endpoints: VpcEndpoints | None = None
    # model-group: the deployed name the spec chose (`name:`; else the resource's own name), and a description
    given_name: str | None = None
    description: str | None = None
    place: SourcePlace
    places: dict[KeyPath, SourcePlace] = field(default_factory=dict, repr=False, compare=False)

    @property
    def env_var(self) -> str:
        """Environment variable that carries this resource's name/ARN/URL to handlers."""
        return upper_snake(self.name) + RESOURCE_ENV_SUFFIX[self.type]


@dataclass(kw_only=True)
class VpcConfig:
    """Run the function in a VPC. Each value is a list, or one `${param:X}` of a List<…> parameter."""

    subnet_ids: str | list[str]
    security_group_ids: str | list[str]


@dataclass(kw_only=True)
class FunctionConfig:
    """Lambda settings: the workflow's `functions` defaults, or a handler step's with its overrides merged."""

    runtime: str = "python3.11"
    memory: int = 512  # MB
    timeout: int = 60  # s
    architecture: str = "x86_64"
    ephemeral_storage: int = 512  # MB
    environment: dict[str, str] = field(default_factory=dict)
    vpc: VpcConfig | None = None


# --- triggers ------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class S3Trigger(Located):
    """Start on S3 "Object Created" events delivered through EventBridge."""

    bucket: str  # a bucket resource name
    suffix: list[str] = field(default_factory=list)  # matched case-insensitively; empty = any key
    prefix: str | None = None
    place: SourcePlace
    places: dict[KeyPath, SourcePlace] = field(default_factory=dict, repr=False, compare=False)


@dataclass(kw_only=True)
class ScheduleTrigger(Located):
    """Start on an EventBridge Scheduler schedule."""

    expression: str  # "rate(1 day)" or "cron(0 3 * * ? *)" (the Scheduler expression, wrapped)
    timezone: str = "UTC"
    input: Any = None  # execution input (JSON value); None = {}
    enabled: bool = True
    place: SourcePlace
    places: dict[KeyPath, SourcePlace] = field(default_factory=dict, repr=False, compare=False)


@dataclass(kw_only=True)
class ApiTrigger(Located):
    """Start from an API Gateway REST route, or answer it directly from a handler step (`respond`)."""

    method: str  # GET, POST, ... or ANY
    path: str  # "/saml"
    endpoint: Literal["regional", "private"] = "regional"
    vpc_endpoint_id: str | None = None  # private endpoints: may be ${param:X}
    respond: str | None = None  # a handler step that answers the request itself (Lambda proxy)
    place: SourcePlace
    places: dict[KeyPath, SourcePlace] = field(default_factory=dict, repr=False, compare=False)


@dataclass(kw_only=True)
class EventTrigger(Located):
    """Start on EventBridge events of the default bus that match `pattern` (EventBridge's own JSON shape;
    strings may hold ${resource:x} and ${param:X}), e.g. a SageMaker model package state change."""

    pattern: dict[str, Any]
    description: str | None = None
    place: SourcePlace
    places: dict[KeyPath, SourcePlace] = field(default_factory=dict, repr=False, compare=False)


Trigger = S3Trigger | ScheduleTrigger | ApiTrigger | EventTrigger


# --- error handling ------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class RetryRule(Located):
    """One ASL Retrier; `preset` names the shorthand it came from (lambda, throttling), if any."""

    errors: list[str]
    interval: float = 1  # IntervalSeconds
    max_attempts: int = 3
    backoff: float = 2.0  # BackoffRate
    max_delay: int | None = None  # MaxDelaySeconds
    jitter: Literal["FULL", "NONE"] | None = None  # JitterStrategy
    preset: str | None = None
    place: SourcePlace
    places: dict[KeyPath, SourcePlace] = field(default_factory=dict, repr=False, compare=False)


# The shorthand retry presets. Values follow AWS's recommended Lambda retrier; `throttling`'s errors
# are the generic codes here, expanded per step from its integration when the model is built
# (compiler/services.py: `DynamoDB.ProvisionedThroughputExceededException`, …).
RETRY_PRESETS: dict[str, dict[str, Any]] = {
    "lambda": {
        "errors": ["Lambda.ServiceException", "Lambda.AWSLambdaException",
                   "Lambda.SdkClientException", "Lambda.TooManyRequestsException"],
        "interval": 1, "max_attempts": 3, "backoff": 2.0,
    },
    "throttling": {
        "errors": ["ThrottlingException", "TooManyRequestsException",
                   "ProvisionedThroughputExceededException", "RequestLimitExceeded",
                   "LimitExceededException", "ServiceUnavailable", "SlowDown"],
        "interval": 2, "max_attempts": 6, "backoff": 2.0, "max_delay": 60, "jitter": "FULL",
    },
}


@dataclass(kw_only=True)
class CatchRule(Located):
    """One ASL Catcher."""

    errors: list[str]
    next: str
    result_path: str | None | Unset = UNSET
    assign: dict[str, Any] | None = None
    output: Any = UNSET  # JSONata only
    place: SourcePlace
    places: dict[KeyPath, SourcePlace] = field(default_factory=dict, repr=False, compare=False)


# --- steps ---------------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Step(Located):
    """Fields every step kind may carry. `places` maps key paths under the step's YAML to places."""

    name: str
    place: SourcePlace
    places: dict[KeyPath, SourcePlace] = field(default_factory=dict, repr=False, compare=False)
    query_language: QueryLanguage = "JSONPath"  # effective: the step's own or the workflow's
    comment: str | None = None
    next: str | None = None  # resolved: explicit `next:` or the following step in the same scope
    end: bool = False
    explicit_next: bool = False  # `next:` was written (vs implied by order)
    # JSONPath shaping (UNSET = not written; None = YAML null, meaningful in ASL)
    input_path: str | None | Unset = UNSET
    parameters: dict[str, Any] | None = None
    result_selector: dict[str, Any] | None = None
    result_path: str | None | Unset = UNSET
    output_path: str | None | Unset = UNSET
    # JSONata shaping
    arguments: Any = None  # object or "{% expr %}"
    output: Any = UNSET
    # both
    assign: dict[str, Any] | None = None
    # Task-like steps
    retry: list[RetryRule] = field(default_factory=list)
    catch: list[CatchRule] = field(default_factory=list)
    timeout: int | str | None = None  # TimeoutSeconds (str: a JSONata expression)
    timeout_path: str | None = None
    heartbeat: int | str | None = None
    heartbeat_path: str | None = None

    kind: str = "step"

    @property
    def terminal(self) -> bool:
        """True for steps that never continue (succeed, fail) or branch themselves (choice)."""
        return False

    def targets(self) -> Iterator[tuple[str, KeyPath]]:
        """Step names this step can transfer to in its own scope, with the key path that names each."""
        if self.next is not None:
            yield self.next, ("next",)
        for index, catch in enumerate(self.catch):
            yield catch.next, ("catch", index, "next")


@dataclass(kw_only=True)
class HandlerStep(Step):
    """A Python function in handlers/ run as a Lambda function (zip, or container image)."""

    module: str  # "face_blur" → handlers/face_blur.py
    function: str = "handler"
    image: str | None = None  # images/<image>/Dockerfile
    # `requirements:` as written: requirement lines, or a requirements file's path from the project root
    requirements: list[str] | str | None = None
    reads: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    config: FunctionConfig = field(default_factory=FunctionConfig)  # workflow defaults + step overrides
    policies: list[PolicyStatement] = field(default_factory=list)  # extra statements for its role
    wait_for_token: bool = False  # lambda:invoke.waitForTaskToken; the handler gets $$.Task.Token
    kind: str = "handler"

    @property
    def handler(self) -> str:
        """The Lambda `Handler` string, `module.function`."""
        return f"{self.module}.{self.function}"


# Optimized Step Functions integrations (arn:aws:states:::<service>:<action>[.suffix]). Anything else
# goes through the AWS SDK integration (arn:aws:states:::aws-sdk:<service>:<action>).
OPTIMIZED_INTEGRATIONS: frozenset[tuple[str, str]] = frozenset({
    ("lambda", "invoke"),
    ("sns", "publish"),
    ("sqs", "sendMessage"),
    ("dynamodb", "getItem"), ("dynamodb", "putItem"), ("dynamodb", "updateItem"), ("dynamodb", "deleteItem"),
    ("states", "startExecution"),
    ("events", "putEvents"),
    ("batch", "submitJob"),
    ("ecs", "runTask"),
    ("glue", "startJobRun"),
    ("athena", "startQueryExecution"), ("athena", "getQueryExecution"), ("athena", "getQueryResults"),
    ("athena", "stopQueryExecution"),
    ("codebuild", "startBuild"),
    ("sagemaker", "createTrainingJob"), ("sagemaker", "createTransformJob"), ("sagemaker", "createModel"),
    ("sagemaker", "createEndpointConfig"), ("sagemaker", "createEndpoint"), ("sagemaker", "updateEndpoint"),
    ("sagemaker", "createProcessingJob"), ("sagemaker", "createHyperParameterTuningJob"),
    ("sagemaker", "createLabelingJob"),
    ("bedrock", "invokeModel"),
    ("apigateway", "invoke"),
    ("http", "invoke"),
})

# Which optimized integrations support which suffix (.sync / .sync:2 / .waitForTaskToken).
INTEGRATION_SUFFIXES: dict[tuple[str, str], frozenset[str]] = {
    ("sagemaker", "createTrainingJob"): frozenset({"sync"}),
    ("sagemaker", "createTransformJob"): frozenset({"sync"}),
    ("sagemaker", "createProcessingJob"): frozenset({"sync"}),
    ("sagemaker", "createHyperParameterTuningJob"): frozenset({"sync"}),
    ("sagemaker", "createLabelingJob"): frozenset({"sync"}),
    ("states", "startExecution"): frozenset({"sync", "sync:2", "waitForTaskToken"}),
    ("batch", "submitJob"): frozenset({"sync"}),
    ("ecs", "runTask"): frozenset({"sync", "waitForTaskToken"}),
    ("glue", "startJobRun"): frozenset({"sync"}),
    ("athena", "startQueryExecution"): frozenset({"sync"}),
    ("codebuild", "startBuild"): frozenset({"sync"}),
    ("lambda", "invoke"): frozenset({"waitForTaskToken"}),
    ("sns", "publish"): frozenset({"waitForTaskToken"}),
    ("sqs", "sendMessage"): frozenset({"waitForTaskToken"}),
    ("events", "putEvents"): frozenset({"waitForTaskToken"}),
}


@dataclass(kw_only=True)
class ServiceStep(Step):
    """A direct AWS API call: an optimized integration or the aws-sdk integration."""

    service: str  # "rekognition", "sagemaker", "s3"
    action: str  # "startFaceDetection"
    integration: Literal["sync", "sync:2", "waitForTaskToken"] | None = None
    optimized: bool = False
    # Where the parameters choose a resource at run time, the ones it may be: they scope the role.
    reads: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    kind: str = "service"

    @property
    def resource(self) -> str:
        """The Task's Resource ARN."""
        base = (f"arn:aws:states:::{self.service}:{self.action}" if self.optimized
                else f"arn:aws:states:::aws-sdk:{self.service}:{self.action}")
        return f"{base}.{self.integration}" if self.integration else base


@dataclass(kw_only=True)
class TrainChannel:
    """One input channel of a training job."""

    name: str
    s3: str  # an S3 URI, or a JSONPath to one
    content_type: str | None = None
    input_mode: str | None = None
    manifest: bool = False  # a Ground Truth augmented manifest (AugmentedManifestFile)
    attributes: list[str] = field(default_factory=list)


@dataclass(kw_only=True)
class TrainStep(ServiceStep):
    """A SageMaker training job run to completion: `sagemaker:createTrainingJob.sync` with parameters
    built from these fields, and the named metrics read back into the result."""

    image: str
    role: str  # a role resource
    job_prefix: str
    instance_type: str = "ml.m5.xlarge"
    instance_count: int = 1
    volume_gb: int = 30
    max_runtime: int = 3600
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    channels: list[TrainChannel] = field(default_factory=list)
    output_uri: str = ""  # `train.output`: S3OutputPath
    metrics: dict[str, str] = field(default_factory=dict)  # name → regex
    kind: str = "train"


@dataclass(kw_only=True)
class PollStep(Step):
    """Call `task` every `every` seconds until `until` holds; `fail_if` → Fail; give up after `timeout`.

    The step's own retry/catch apply to the task; `task.name` equals the step's name and its
    shaping fields (parameters, result_selector, result_path …) come from inside `poll:`.
    Here `timeout` is the poll's give-up time (seconds), not the task's TimeoutSeconds.
    """

    task: ServiceStep | HandlerStep
    every: int = 10
    until: Condition
    until_text: str = ""
    fail_if: Condition | None = None
    fail_if_text: str | None = None
    error: str = "PollFailed"
    cause: str | None = None
    timeout_error: str = "Poll.TimedOut"
    # Where a workflow routes the outcomes instead of failing: the step after `fail_if` held / gave up.
    on_fail: str | None = None
    on_timeout: str | None = None
    # Set on every way out that continues the workflow (done, on_fail, on_timeout): a fragment's own
    # output and variables (a JSONata deploy step's `output`/`assign`).
    outcome_output: Any = UNSET
    outcome_assign: dict[str, Any] | None = None
    kind: str = "poll"

    def targets(self) -> Iterator[tuple[str, KeyPath]]:
        yield from super().targets()
        if self.on_fail is not None:
            yield self.on_fail, ("poll", "on_fail")
        if self.on_timeout is not None:
            yield self.on_timeout, ("poll", "on_timeout")


@dataclass(kw_only=True)
class DeployStep(Step):
    """Create-or-update a SageMaker endpoint and wait until it serves the new model: a fragment whose
    `parts` (built by compiler/ml.py) are ordinary steps, the first named like this step."""

    endpoint: str
    image: str
    role: str
    model_data: str
    name_prefix: str
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    environment: dict[str, Any] = field(default_factory=dict)
    every: int = 30
    give_up: int = 3600
    on_fail: str | None = None
    on_timeout: str | None = None
    parts: list[Step] = field(default_factory=list)
    kind: str = "deploy"

    def targets(self) -> Iterator[tuple[str, KeyPath]]:
        yield from super().targets()
        if self.on_fail is not None:
            yield self.on_fail, ("deploy", "on_fail")
        if self.on_timeout is not None:
            yield self.on_timeout, ("deploy", "on_timeout")


@dataclass(kw_only=True)
class ChoiceBranch(Located):
    condition: Condition
    text: str  # the condition as written, for graphs and messages
    next: str
    assign: dict[str, Any] | None = None
    output: Any = UNSET
    place: SourcePlace
    places: dict[KeyPath, SourcePlace] = field(default_factory=dict, repr=False, compare=False)


@dataclass(kw_only=True)
class ChoiceStep(Step):
    """Branch on readable conditions; no match → `default`, or States.NoChoiceMatched without one."""

    branches: list[ChoiceBranch]
    default: str | None = None
    kind: str = "choice"

    @property
    def terminal(self) -> bool:
        return True

    def targets(self) -> Iterator[tuple[str, KeyPath]]:
        for index, branch in enumerate(self.branches):
            yield branch.next, ("choice", index, "then")
        if self.default is not None:
            yield self.default, ("default",)


@dataclass(kw_only=True)
class WaitStep(Step):
    """Wait a number of seconds or until a timestamp; exactly one of the four is set."""

    seconds: int | str | None = None  # str: a JSONata expression
    seconds_path: str | None = None
    timestamp: str | None = None
    timestamp_path: str | None = None
    kind: str = "wait"


@dataclass(kw_only=True)
class ItemReader(Located):
    """Distributed map input read from S3."""

    bucket: str  # a bucket resource name
    key: str | None = None
    key_path: str | None = None
    prefix: str | None = None  # format "objects": list objects under this prefix
    format: Literal["csv", "json", "jsonl", "objects"] = "json"
    csv_header: Literal["first_row", "none"] = "first_row"
    max_items: int | None = None
    place: SourcePlace
    places: dict[KeyPath, SourcePlace] = field(default_factory=dict, repr=False, compare=False)


@dataclass(kw_only=True)
class ItemBatcher:
    max_items: int | None = None
    max_bytes: int | None = None
    input: dict[str, Any] | None = None  # BatchInput


@dataclass(kw_only=True)
class ResultWriter(Located):
    bucket: str  # a bucket resource name
    prefix: str = ""
    place: SourcePlace
    places: dict[KeyPath, SourcePlace] = field(default_factory=dict, repr=False, compare=False)


@dataclass(kw_only=True)
class MapStep(Step):
    """Run `steps` for each item: inline, or distributed (child executions, S3 reader/writer)."""

    mode: Literal["inline", "distributed"] = "inline"
    items: Any = None  # JSONPath: ItemsPath string; JSONata: Items (array or "{% %}")
    item_selector: dict[str, Any] | None = None
    reader: ItemReader | None = None
    batch: ItemBatcher | None = None
    writer: ResultWriter | None = None
    concurrency: int | None = None  # MaxConcurrency (0/None = unlimited)
    tolerated_failure_percentage: float | None = None
    tolerated_failure_count: int | None = None
    execution_type: Literal["standard", "express"] = "standard"  # distributed child executions
    label: str | None = None
    steps: list[Step] = field(default_factory=list)
    kind: str = "map"


@dataclass(kw_only=True)
class ParallelStep(Step):
    """Run every branch at once; the result is the list of branch outputs."""

    branches: list[list[Step]] = field(default_factory=list)
    kind: str = "parallel"


@dataclass(kw_only=True)
class PassStep(Step):
    result: Any = UNSET
    kind: str = "pass"


@dataclass(kw_only=True)
class SucceedStep(Step):
    kind: str = "succeed"

    @property
    def terminal(self) -> bool:
        return True


@dataclass(kw_only=True)
class FailStep(Step):
    error: str | None = None
    cause: str | None = None
    error_path: str | None = None
    cause_path: str | None = None
    kind: str = "fail"

    @property
    def terminal(self) -> bool:
        return True


TASK_KINDS = (HandlerStep, ServiceStep, PollStep)


# --- the workflow --------------------------------------------------------------------------------------


@dataclass(kw_only=True)
class Workflow(Located):
    """One workflow spec (one YAML file)."""

    name: str
    source: Path  # the spec file
    description: str | None = None
    query_language: QueryLanguage = "JSONPath"
    type: Literal["standard", "express"] = "standard"
    parameters: dict[str, Parameter] = field(default_factory=dict)
    resources: dict[str, Resource] = field(default_factory=dict)
    functions: FunctionConfig = field(default_factory=FunctionConfig)
    # What starts it (`trigger:` is a list of one): any of these starts an execution.
    triggers: list[Trigger] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    # A service control policy for the organisation's administrators → build/<workflow>.scp.json
    scp: list[PolicyStatement] = field(default_factory=list)
    place: SourcePlace
    places: dict[KeyPath, SourcePlace] = field(default_factory=dict, repr=False, compare=False)

    @property
    def trigger(self) -> Trigger | None:
        """The first trigger (workflows written with one `trigger:`), or None for manual-only ones."""
        return self.triggers[0] if self.triggers else None

    @property
    def api_trigger(self) -> ApiTrigger | None:
        """The workflow's API route, if it has one (validate allows at most one)."""
        return next((t for t in self.triggers if isinstance(t, ApiTrigger)), None)

    def all_steps(self) -> Iterator[Step]:
        """Every step, nested ones (map, parallel) included, depth first in document order."""
        yield from walk_steps(self.steps)

    def handler_steps(self) -> Iterator[HandlerStep]:
        """Every step that becomes a Lambda function (handler steps and handler polls)."""
        for step in self.all_steps():
            if isinstance(step, HandlerStep):
                yield step
            elif isinstance(step, PollStep) and isinstance(step.task, HandlerStep):
                yield step.task

    def step(self, name: str) -> Step | None:
        """The first step with this name anywhere in the workflow."""
        return next((step for step in self.all_steps() if step.name == name), None)


def walk_steps(steps: list[Step]) -> Iterator[Step]:
    """Depth-first walk over a step list and everything nested in it."""
    for step in steps:
        yield step
        if isinstance(step, MapStep):
            yield from walk_steps(step.steps)
        elif isinstance(step, DeployStep):
            yield from step.parts
        elif isinstance(step, ParallelStep):
            for branch in step.branches:
                yield from walk_steps(branch)
