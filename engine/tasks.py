"""Task dispatch for local runs: Lambda ARNs run your real handlers, service ARNs call boto3 (local AWS).

    dispatcher = LocalDispatcher(app)                 # inside `with LocalAWS(...)`
    execute(definition, input_text, dispatcher=dispatcher)

Lambda functions run in worker processes (engine/lambdas.py), imported as Lambda imports them (their
CodeUri on sys.path, `Handler` as module.function), with their environment variables and a
Lambda-shaped context; overlapping invocations get workers of their own, as Lambda gives every
concurrent invocation its own execution environment. Container-image functions run the same way: the
handler module is found where the Dockerfile copies it from, and the image's own dependencies must be
installed in the local venv. A handler that outlives its Timeout is reported as AWS reports it
(Lambda.Unknown) and its worker is killed.
"""
from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import os
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import botocore.exceptions
import botocore.session
from botocore import xform_name

from engine.asl.tasks import TaskCall, TaskFailed
from engine.lambdas import Invocation, LambdaRunner

if TYPE_CHECKING:
    from collections.abc import Iterator

    from engine.app import App, Function

# --------------------------------------------------------------------------- boto3 calls, AWS's way


# aws-sdk integration service names that differ from boto3's client names.
_SDK_SERVICES = {
    "sfn": "stepfunctions", "eventbridge": "events", "cloudwatchlogs": "logs",
    "elasticloadbalancingv2": "elbv2", "elasticloadbalancing": "elb", "cognitoidentityprovider": "cognito-idp",
    "cognitoidentity": "cognito-identity", "mediastoredata": "mediastore-data", "iotdataplane": "iot-data",
    "lexruntimev2": "lexv2-runtime", "lexmodelsv2": "lexv2-models", "sagemakerruntime": "sagemaker-runtime",
    "applicationautoscaling": "application-autoscaling", "acmpca": "acm-pca", "emrcontainers": "emr-containers",
    "emrserverless": "emr-serverless", "redshiftdata": "redshift-data", "secretsmanager": "secretsmanager",
}
SDK_SERVICE_NAMES = tuple(_SDK_SERVICES)  # the aws-sdk names that are not boto3's (for "did you mean")
_OPTIMIZED = {   # optimized integration → (boto3 service, error prefix, SDK v1 service name for causes)
    "lambda": ("lambda", "Lambda", "AWSLambda"), "sns": ("sns", "SNS", "AmazonSNS"),
    "sqs": ("sqs", "SQS", "AmazonSQS"), "dynamodb": ("dynamodb", "DynamoDB", "AmazonDynamoDBv2"),
    "sagemaker": ("sagemaker", "SageMaker", "AmazonSageMaker"), "states": ("stepfunctions", "StepFunctions",
                                                                           "AWSStepFunctions"),
    "events": ("events", "EventBridge", "AmazonEventBridge"), "glue": ("glue", "Glue", "AWSGlue"),
    "batch": ("batch", "Batch", "AWSBatch"), "ecs": ("ecs", "ECS", "AmazonECS"),
    "s3": ("s3", "S3", "AmazonS3"), "apigateway": ("apigateway", "ApiGateway", "AmazonApiGateway"),
}


_clients: dict[tuple[str, str | None, int], Any] = {}


def _client(service: str) -> Any:
    """A boto3 client for the current default session and region, made once (clients are thread-safe)."""
    key = (service, os.environ.get("AWS_DEFAULT_REGION"), id(boto3.DEFAULT_SESSION))
    client = _clients.get(key)
    if client is None:
        client = _clients[key] = boto3.client(service)
    return client


@functools.lru_cache(maxsize=256)
def boto3_service(sdk_name: str) -> str:
    """The boto3 client name for an aws-sdk integration's service name (`sfn` → `stepfunctions`)."""
    if sdk_name in _SDK_SERVICES:
        return _SDK_SERVICES[sdk_name]
    available = boto3.session.Session().get_available_services()
    if sdk_name in available:
        return sdk_name
    for name in available:
        if name.replace("-", "") == sdk_name:
            return name
    raise TaskFailed("States.Runtime", f"The resource provided arn:aws:states:::aws-sdk:{sdk_name} is not "
                                       "recognized. The value is not a valid resource ARN, or the resource "
                                       "is not available in this region.")


def pascal_service_name(service_id: str) -> str:
    """AWS's PascalCase service name for aws-sdk error names: `DynamoDB` → `DynamoDb`, `ACM PCA` → `AcmPca`."""
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z][a-z]*|[a-z]+|\d+", service_id)
    return "".join(word[:1].upper() + word[1:].lower() for word in words)


def _exception_name(code: str) -> str:
    return code if code.endswith("Exception") else f"{code}Exception"


def integration_error(service: str, optimized: bool, code: str) -> str:
    """The error name a Task raises when `service` answers with error `code`, as Step Functions names it:
    `DynamoDB.ProvisionedThroughputExceededException` (optimized), `Rekognition.ThrottlingException`
    (aws-sdk: the service id in PascalCase, `Exception` appended where the code lacks it)."""
    if optimized and service in _OPTIMIZED:
        prefix = _OPTIMIZED[service][1]
    else:
        model = botocore.session.get_session().get_service_model(boto3_service(service))
        prefix = pascal_service_name(str(model.service_id))
    return f"{prefix}.{_exception_name(code)}"


def _to_api(value: Any, shape: Any) -> Any:
    """Step Functions' PascalCase parameters → the API's own member names (some services are camelCase)."""
    if shape is None:
        return value
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        members = {name.lower(): name for name in shape.members}
        converted = {}
        for key, item in value.items():
            name = members.get(key.lower(), key)
            converted[name] = _to_api(item, shape.members.get(name))
        return converted
    if kind == "list" and isinstance(value, list):
        return [_to_api(item, shape.member) for item in value]
    if kind == "map" and isinstance(value, dict):
        return {key: _to_api(item, shape.value) for key, item in value.items()}
    if kind == "blob" and isinstance(value, str):
        return value.encode()
    if kind == "timestamp" and isinstance(value, str | int | float):
        return value
    return value


def _from_api(value: Any, shape: Any, timestamps: str) -> Any:
    """An API response → what Step Functions returns: PascalCase members, JSON types only."""
    if isinstance(value, dict):
        members = getattr(shape, "members", None) if shape is not None and shape.type_name == "structure" else None
        result = {}
        for key, item in value.items():
            if key == "ResponseMetadata":
                continue
            if members is not None:
                result[key[:1].upper() + key[1:]] = _from_api(item, members.get(key), timestamps)
            else:
                result[key] = _from_api(item, getattr(shape, "value", None), timestamps)
        return result
    if isinstance(value, list):
        return [_from_api(item, getattr(shape, "member", None), timestamps) for item in value]
    if isinstance(value, dt.datetime):
        if timestamps == "millis":
            return int(value.timestamp() * 1000)
        text = value.astimezone(dt.UTC).isoformat(timespec="milliseconds")
        return text.replace("+00:00", "Z")
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return base64.b64encode(bytes(value)).decode()
    if hasattr(value, "read"):   # StreamingBody: Step Functions returns the body as text
        return _from_api(value.read(), None, timestamps)
    return value


@dataclass
class _ServiceCall:
    service: str
    operation: str      # API operation name, e.g. GetObject
    error_prefix: str   # e.g. S3 (aws-sdk) or DynamoDB (optimized)
    cause_style: str    # "v2" (aws-sdk) | "v1" (optimized)
    v1_name: str = ""


def _call(spec: _ServiceCall, parameters: Any, timestamps: str) -> tuple[Any, dict]:
    """Call one API through boto3; returns (response converted for Step Functions, response metadata)."""
    client = _client(spec.service)
    model = client.meta.service_model
    operations = {name.lower(): name for name in model.operation_names}
    operation = operations.get(spec.operation.lower())
    if operation is None:
        raise TaskFailed("States.Runtime", f"The API action {spec.operation} is not supported by "
                                           f"{spec.service}.")
    input_shape = model.operation_model(operation).input_shape
    arguments = _to_api(parameters or {}, input_shape)
    from engine.aws.providers import called_by_state_machine

    marked = called_by_state_machine.set(True)
    try:
        response = getattr(client, xform_name(operation))(**arguments)
    except botocore.exceptions.ParamValidationError as error:
        raise TaskFailed(f"{spec.error_prefix}.ValidationException" if spec.cause_style == "v2" else
                         "States.Runtime", str(error).replace("\n", " ")) from None
    except botocore.exceptions.ClientError as error:
        raise _service_failure(spec, error) from None
    finally:
        called_by_state_machine.reset(marked)
    metadata = response.get("ResponseMetadata", {})
    output_shape = model.operation_model(operation).output_shape
    return _from_api(response, output_shape, timestamps), metadata


def _service_failure(spec: _ServiceCall, error: botocore.exceptions.ClientError) -> TaskFailed:
    info = error.response.get("Error", {})
    code = str(info.get("Code") or "UnknownError")
    message = info.get("Message") or error.response.get("message") or ""
    metadata = error.response.get("ResponseMetadata", {})
    status = metadata.get("HTTPStatusCode", 400)
    request_id = metadata.get("RequestId") or str(uuid.uuid4())
    name = f"{spec.error_prefix}.{_exception_name(code)}"
    if spec.cause_style == "v2":
        cause = f"{message} (Service: {spec.error_prefix}, Status Code: {status}, Request ID: {request_id})"
    else:
        cause = (f"{message} (Service: {spec.v1_name}; Status Code: {status}; Error Code: {code}; "
                 f"Request ID: {request_id}; Proxy: null)")
    return TaskFailed(name, cause)


def _sdk_metadata(metadata: dict) -> dict:
    """The SdkHttpMetadata/SdkResponseMetadata pair optimized integrations add to results."""
    headers = {key: str(value) for key, value in (metadata.get("HTTPHeaders") or {}).items()}
    request_id = metadata.get("RequestId") or headers.get("x-amzn-requestid") or str(uuid.uuid4())
    return {
        "SdkHttpMetadata": {
            "AllHttpHeaders": {key: [value] for key, value in headers.items()},
            "HttpHeaders": headers,
            "HttpStatusCode": metadata.get("HTTPStatusCode", 200),
        },
        "SdkResponseMetadata": {"RequestId": request_id},
    }


# --------------------------------------------------------------------------- the dispatcher


# The IAM check lives with local AWS (engine/aws/access.py), imported on use: the compiler imports this
# module for its service tables and must not load moto.

def _acting_as(arn: str, session: str | None = None) -> Any:
    from engine.aws import access

    return access.acting_as(arn, session)


def _refusal(service: str, action: str, resource: str) -> Any:
    """Whether the active LocalAWS's IAM refuses the current caller `action` on `resource` (None: allowed)."""
    from engine.aws import access, providers

    aws = providers._active
    return access.refusal_now(aws.permissions if aws is not None else None, service, action, resource)


_LAMBDA_ARN = re.compile(r"^arn:aws[\w-]*:lambda:[\w-]+:\d{12}:function:[\w-]+(:[\w$-]+)?$")
_SERVICE_ARN = re.compile(r"^arn:aws[\w-]*:states:::(?P<sdk>aws-sdk:)?(?P<service>[\w-]+):(?P<action>\w+)"
                          r"(?:\.(?P<pattern>sync(?::2)?|waitForTaskToken))?$")
_TERMINAL = {"Completed", "Failed", "Stopped"}


def _invoked_functions(node: Any) -> Iterator[str]:
    """Function ARNs and names the Task states in an ASL document (or part of one) invoke, in order."""
    if isinstance(node, dict):
        resource = node.get("Resource") if node.get("Type") == "Task" else None
        service = _SERVICE_ARN.match(resource) if isinstance(resource, str) else None
        if isinstance(resource, str) and _LAMBDA_ARN.match(resource):
            yield resource
        elif service and not service["sdk"] and (service["service"], service["action"]) == ("lambda", "invoke"):
            arguments = node.get("Parameters") or node.get("Arguments")
            name = arguments.get("FunctionName") if isinstance(arguments, dict) else None
            if isinstance(name, str):
                yield name
        for value in node.values():
            yield from _invoked_functions(value)
    elif isinstance(node, list):
        for value in node:
            yield from _invoked_functions(value)


class LocalDispatcher:
    """The engine's TaskDispatcher for local runs: handlers in-process, services through local AWS."""

    def __init__(self, app: App | None = None, *, clock: Any = None, runner: LambdaRunner | None = None,
                 poll_seconds: float = 0.05) -> None:
        self.app = app
        self.clock = clock
        self.runner = runner or LambdaRunner()
        self.poll_seconds = poll_seconds
        self.child_executions: list[Any] = []   # results of states:startExecution children, in order

    # -- the protocol

    def run_task(self, call: TaskCall) -> Any:
        """Run one Task attempt; return its result or raise TaskFailed as AWS would name the error."""
        if self.clock is None or type(self.clock).__name__ != "VirtualClock":
            return self._run(call)
        # Work takes the time it really takes, even on the virtual clock, so the history shows how long
        # each task ran; parallel tasks overlap (sleep_until never goes back) instead of adding up.
        virtual_start, real_start = self.clock.now(), time.monotonic()
        try:
            return self._run(call)
        finally:
            self.clock.sleep_until(virtual_start + time.monotonic() - real_start)

    def _run(self, call: TaskCall) -> Any:
        # Everything a Task does on AWS is done as the state machine's role.
        machine = (call.context.get("StateMachine") or {}).get("Id")
        if not machine:
            return self._dispatch(call)
        with _acting_as(machine, (call.context.get("Execution") or {}).get("Name")):
            return self._dispatch(call)

    def _dispatch(self, call: TaskCall) -> Any:
        resource = call.resource
        if _LAMBDA_ARN.match(resource):
            return self._lambda_function(call)
        match = _SERVICE_ARN.match(resource)
        if match is None:
            if ":activity:" in resource:
                raise TaskFailed("States.TaskFailed", f"Activity {resource} has no local worker; answer it "
                                                      "with a mock config (--mock-config).")
            raise TaskFailed("States.Runtime", f"The resource provided {resource} is not recognized. The value "
                                               "is not a valid resource ARN, or the resource is not available "
                                               "in this region.")
        service, action, pattern = match["service"], match["action"], match["pattern"]
        if match["sdk"]:
            return self._aws_sdk(call, service, action, pattern)
        if service == "lambda" and action == "invoke":
            return self._lambda_invoke(call, pattern)
        if service == "states" and action == "startExecution":
            return self._start_execution(call, pattern)
        if service == "s3" and action in ("getObject", "listObjectsV2", "putObject"):
            return self._s3_for_map(call, action)
        return self._optimized(call, service, action, pattern)

    # -- Lambda

    def warm_functions(self, definition: dict) -> None:
        """Start workers now for the app's Lambda functions that `definition`'s Task states invoke, in the
        order the states come (LambdaRunner.warm): their cold starts overlap the run instead of adding up."""
        if self.app is None:
            return
        functions = {}
        for ref in _invoked_functions(definition):
            function = self.app.function(ref)
            if function is not None:
                functions.setdefault(function.arn, function)
        self.runner.warm(functions.values())

    def function(self, ref: str) -> Function:
        """The app's function for an ARN or name, or Lambda.ResourceNotFoundException as AWS reports it."""
        function = self.app.function(ref) if self.app is not None else None
        if function is None:
            region = self.app.region if self.app else os.environ.get("AWS_REGION", "us-east-1")
            account = self.app.account if self.app else "111111111111"
            arn = ref if ref.startswith("arn:") else f"arn:aws:lambda:{region}:{account}:function:{ref}"
            raise TaskFailed("Lambda.ResourceNotFoundException",
                             f"Function not found: {arn} (Service: AWSLambda; Status Code: 404; Error Code: "
                             f"ResourceNotFoundException; Request ID: {uuid.uuid4()}; Proxy: null)")
        return function

    def _invoke(self, call: TaskCall, function: Function, event: Any) -> Invocation:
        refusal = _refusal("lambda", "lambda:InvokeFunction", function.arn)
        if refusal is not None:
            raise TaskFailed("Lambda.AWSLambdaException",
                             f"{refusal.message} (Service: AWSLambda; Status Code: {refusal.status}; Error Code: "
                             f"{refusal.code}; Request ID: {uuid.uuid4()}; Proxy: null)")
        invocation = self.runner.invoke(function, event, task_timeout=call.timeout_seconds)
        if invocation.timed_out_by_task:
            raise TaskFailed("States.Timeout", None)
        if invocation.failed:
            raise TaskFailed(invocation.error or "Lambda.Unknown", invocation.cause)
        return invocation

    def _lambda_function(self, call: TaskCall) -> Any:
        return self._invoke(call, self.function(call.resource), call.arguments).payload

    def _lambda_invoke(self, call: TaskCall, pattern: str | None) -> Any:
        arguments = call.arguments if isinstance(call.arguments, dict) else {}
        name = arguments.get("FunctionName")
        if not isinstance(name, str):
            raise TaskFailed("States.Runtime", "The field 'FunctionName' is required for lambda:invoke.")
        event = arguments.get("Payload", {})
        if isinstance(event, str):
            try:
                event = json.loads(event)
            except ValueError:
                pass
        function = self.function(name)
        invocation = self._invoke(call, function, event)
        if pattern == "waitForTaskToken":
            return None
        asynchronous = arguments.get("InvocationType") == "Event"
        headers = {
            "Connection": "keep-alive", "Content-Type": "application/json",
            "Date": dt.datetime.now(dt.UTC).strftime("%a, %d %b %Y %H:%M:%S GMT"),
            "X-Amz-Executed-Version": "$LATEST", "x-amzn-RequestId": invocation.request_id,
        }
        status = 202 if asynchronous else 200
        return {
            "ExecutedVersion": "$LATEST",
            "Payload": "" if asynchronous else invocation.payload,
            **_sdk_metadata({"HTTPHeaders": headers, "HTTPStatusCode": status, "RequestId": invocation.request_id}),
            "StatusCode": status,
        }

    # -- AWS SDK integrations

    def _aws_sdk(self, call: TaskCall, service: str, action: str, pattern: str | None) -> Any:
        if pattern and pattern != "waitForTaskToken":
            raise TaskFailed("States.Runtime", f"The resource arn:aws:states:::aws-sdk:{service}:{action}."
                                               f"{pattern} is not supported: AWS SDK integrations support "
                                               "Request Response and .waitForTaskToken only.")
        client_name = boto3_service(service)
        service_id = _client(client_name).meta.service_model.service_id
        spec = _ServiceCall(client_name, action, pascal_service_name(str(service_id)), "v2")
        result, _ = _call(spec, call.arguments, "iso")
        return None if pattern == "waitForTaskToken" else result

    # -- optimized integrations

    def _optimized(self, call: TaskCall, service: str, action: str, pattern: str | None) -> Any:
        if service not in _OPTIMIZED:
            raise TaskFailed("States.Runtime", f"The resource arn:aws:states:::{service}:{action} is not "
                                               "supported locally.")
        client_name, prefix, v1_name = _OPTIMIZED[service]
        arguments = dict(call.arguments or {}) if isinstance(call.arguments, dict) else {}
        # Step Functions serialises JSON bodies given as objects for these fields.
        for field_name in ("Message", "MessageBody", "Input", "Detail"):
            if field_name in arguments and not isinstance(arguments[field_name], str):
                arguments[field_name] = json.dumps(arguments[field_name], separators=(",", ":"))
        if service == "events" and action == "putEvents":
            for entry in arguments.get("Entries", []):
                if isinstance(entry.get("Detail"), dict):
                    entry["Detail"] = json.dumps(entry["Detail"], separators=(",", ":"))
        spec = _ServiceCall(client_name, action, prefix, "v1", v1_name)
        result, metadata = _call(spec, arguments, "millis")
        if pattern == "waitForTaskToken":
            return None
        if pattern and pattern.startswith("sync"):
            return self._wait_for_job(spec, action, result)
        return {**result, **_sdk_metadata(metadata)}

    def _wait_for_job(self, spec: _ServiceCall, action: str, created: dict) -> Any:
        """`.sync` for SageMaker jobs: poll Describe* (advancing the engine clock) until a terminal status."""
        kind = re.sub(r"^create", "", action)            # TrainingJob, TransformJob, ProcessingJob…
        name_field = f"{kind}Name"
        arn_field = f"{kind}Arn"
        name = created.get(name_field) or str(created.get(arn_field, "")).rsplit("/", 1)[-1]
        if spec.service != "sagemaker" or not name:
            raise TaskFailed("States.Runtime", f"{spec.service}:{action}.sync is not supported locally.")
        describe = _ServiceCall("sagemaker", f"Describe{kind}", spec.error_prefix, "v1", spec.v1_name)
        while True:
            status, _ = _call(describe, {name_field: name}, "millis")
            state = status.get(f"{kind}Status")
            if state in _TERMINAL:
                break
            self._pause()
        if state != "Completed":
            raise TaskFailed("States.TaskFailed", json.dumps(status, separators=(",", ":"), default=str))
        return status

    def _pause(self) -> None:
        time.sleep(self.poll_seconds)
        if self.clock is not None and type(self.clock).__name__ == "VirtualClock":
            self.clock.sleep(self.poll_seconds)

    # -- S3 reads and writes made on behalf of a distributed Map (ItemReader / ResultWriter)

    def _s3_for_map(self, call: TaskCall, action: str) -> Any:
        # getObject → the body text; listObjectsV2 → {"Contents": every page}; putObject → {ETag}.
        arguments = call.arguments if isinstance(call.arguments, dict) else {}
        spec = _ServiceCall("s3", action, "S3", "v1", "Amazon S3")
        if action == "getObject":
            result, _ = _call(spec, {"Bucket": arguments.get("Bucket"), "Key": arguments.get("Key"),
                                     **({"VersionId": arguments["VersionId"]} if "VersionId" in arguments else {})},
                              "iso")
            return result.get("Body", "")
        if action == "putObject":
            body = arguments.get("Body", "")
            if not isinstance(body, str):
                body = json.dumps(body, separators=(",", ":"))
            result, _ = _call(spec, {"Bucket": arguments.get("Bucket"), "Key": arguments.get("Key"),
                                     "Body": body}, "iso")
            return result
        objects: list[dict] = []
        parameters = {key: value for key, value in arguments.items() if key in ("Bucket", "Prefix")}
        while True:
            page, _ = _call(spec, parameters, "iso")
            objects.extend(page.get("Contents", []))
            if not page.get("IsTruncated"):
                return {"Contents": objects}
            parameters["ContinuationToken"] = page["NextContinuationToken"]

    # -- nested state machines

    def _start_execution(self, call: TaskCall, pattern: str | None) -> Any:
        from engine import execute

        arguments = call.arguments if isinstance(call.arguments, dict) else {}
        arn = str(arguments.get("StateMachineArn", ""))
        machine = self.app.state_machine(arn) if self.app is not None else None
        if machine is None:
            raise TaskFailed("StepFunctions.StateMachineDoesNotExistException",
                             f"State Machine Does Not Exist: '{arn}' (Service: AWSStepFunctions; Status Code: "
                             "400; Error Code: StateMachineDoesNotExist; Request ID: "
                             f"{uuid.uuid4()}; Proxy: null)")
        refusal = _refusal("stepfunctions", "states:StartExecution", machine.arn)
        if refusal is not None:
            raise TaskFailed("StepFunctions.AccessDeniedException",
                             f"{refusal.message} (Service: AWSStepFunctions; Status Code: {refusal.status}; Error "
                             f"Code: {refusal.code}; Request ID: {uuid.uuid4()}; Proxy: null)")
        input_value = arguments.get("Input", {})
        input_text = input_value if isinstance(input_value, str) else json.dumps(input_value)
        name = str(arguments.get("Name") or uuid.uuid4())
        parts = machine.arn.split(":")
        region, account = parts[3], parts[4]
        now = self.clock.now if self.clock is not None else time.time
        started = now()
        result = execute(machine.definition, input_text, state_machine_name=machine.name, execution_name=name,
                         account=account, region=region, dispatcher=self, clock=self.clock)
        self.child_executions.append(result)
        execution_arn = f"arn:aws:states:{region}:{account}:execution:{machine.name}:{name}"
        if not pattern:
            return {"ExecutionArn": execution_arn, "StartDate": int(started * 1000)}
        described = {
            "ExecutionArn": execution_arn, "Input": input_text, "InputDetails": {"Included": True},
            "Name": name, "StartDate": int(started * 1000), "StateMachineArn": machine.arn,
            "Status": result.status, "StopDate": int(now() * 1000),
        }
        if result.status != "SUCCEEDED":
            described.update({"Error": result.error, "Cause": result.cause})
            raise TaskFailed("States.TaskFailed", json.dumps(described, separators=(",", ":")))
        output = result.output
        described["Output"] = json.loads(output) if pattern == "sync:2" and output is not None else output
        described["OutputDetails"] = {"Included": True}
        return described


# --------------------------------------------------------------------------- task tokens from other processes


class TokenMailbox:
    """Answers for `.waitForTaskToken` tasks sent by another process (`stepsmith send-task`).

    The sender drops `<dir>/<token>.json` ({"action": "success"|"failure"|"heartbeat", ...}); the running
    execution polls the folder while a token is waited on, applies the answer and deletes the file, so
    the sender knows it was taken. Same-process callers use engine.asl.tokens (or boto3's
    send_task_success inside LocalAWS) directly.
    """

    _TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,1024}$")
    _installed: TokenMailbox | None = None

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    @classmethod
    def listen(cls, directory: str | Path) -> TokenMailbox:
        """Start polling `directory` for answers (one mailbox per process; later calls move it)."""
        from engine.asl import tokens

        if cls._installed is None:
            cls._installed = cls(directory)
            tokens.add_source(lambda: cls._installed.poll() if cls._installed is not None else None)
        else:
            cls._installed.directory = Path(directory)
        return cls._installed

    @classmethod
    def valid(cls, token: str) -> bool:
        """Whether a token can name a mailbox file (local tokens are hex)."""
        return bool(cls._TOKEN.match(token))

    def post(self, token: str, action: str, **fields: Any) -> Path:
        """Leave an answer for `token`; returns the file written."""
        if not self.valid(token):
            raise ValueError(f"not a local task token: {token!r}")
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"{token}.json"
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps({"action": action, **fields}), encoding="utf-8")
        partial.replace(path)   # atomic: the poller never reads half a file
        return path

    def poll(self) -> None:
        """Apply every answer waiting for a token this process is waiting on."""
        from engine.asl import tokens

        if not self.directory.is_dir():
            return
        waiting = set(tokens.pending())
        for path in self.directory.glob("*.json"):
            token = path.stem
            if token not in waiting:
                continue
            try:
                message = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            try:
                if message.get("action") == "success":
                    tokens.send_task_success(token, message.get("output"))
                elif message.get("action") == "failure":
                    tokens.send_task_failure(token, message.get("error"), message.get("cause"))
                elif message.get("action") == "heartbeat":
                    tokens.send_task_heartbeat(token)
            except tokens.InvalidToken:
                pass
            path.unlink(missing_ok=True)
