"""Providers: real local compute behind specific AWS operations (e.g. Rekognition face detection).

A provider answers one botocore operation before moto sees it. Every boto3 client created while a
`LocalAWS` is active — the engine's and the handlers' alike — consults the registry first, so
handlers keep calling `boto3.client(...)` unchanged. Before either a provider or moto answers, the call
passes the IAM check of engine/aws/access.py (when the LocalAWS checks IAM). A provider's own boto3 calls
are judged as its caller's (Rekognition reads the video with the caller's credentials, as on AWS); work
done as another principal goes inside `access.acting_as(role_arn, "SageMaker")`, in every thread that does
it, and a SageMaker job's S3 work through `sagemaker_data.JobStorage`, which is judged as the job's role.

    from engine.aws.providers import register, ServiceError

    def start_face_detection(params: dict, aws: LocalAWS) -> dict:
        ...                                   # params: the API parameters as the caller passed them
        return {"JobId": job_id}              # shaped exactly like the real API's response
    register("rekognition", "StartFaceDetection", start_face_detection)

Raising `ServiceError(code, message, status)` reaches the caller as botocore's ClientError with that
code, just as a real service error would. A response may carry `ResponseMetadata.HTTPHeaders`, which the
caller sees among the response's headers.
"""
from __future__ import annotations

import contextvars
import copy
import importlib
import os
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.awsrequest import AWSResponse
from botocore.handlers import BUILTIN_HANDLERS

from engine.aws import access

if TYPE_CHECKING:
    from engine.aws import LocalAWS

Provider = Callable[[dict, "LocalAWS"], dict]

# service (boto3 client name) → provider modules that register its operations. Imported on the first
# call to that service inside a LocalAWS, so heavy dependencies (OpenCV, …) load only when used.
# Flow engineers: add one line per provider module.
PROVIDER_MODULES: dict[str, tuple[str, ...]] = {
    "stepfunctions": ("engine.aws.providers.stepfunctions",),
    "rekognition": ("engine.aws.providers.rekognition",),
    "sagemaker": ("engine.aws.providers.sagemaker_studio", "engine.aws.providers.sagemaker_training",
                  "engine.aws.providers.sagemaker_hosting", "engine.aws.providers.sagemaker_transform",
                  "engine.aws.providers.sagemaker_registry"),
    "sagemaker-runtime": ("engine.aws.providers.sagemaker_hosting",),
}

# The Lambda function on whose behalf a call is answered: set by the Lambda runner (engine/lambdas.py)
# while it answers a call from that function's worker process; None for the engine's own calls.
calling_function: contextvars.ContextVar[str | None] = contextvars.ContextVar("stepsmith_calling_function",
                                                                              default=None)


def function_calling() -> str | None:
    """The name of the Lambda function making the call in progress, if a function makes it."""
    return calling_function.get() or os.environ.get("AWS_LAMBDA_FUNCTION_NAME")


_registry: dict[tuple[str, str], Provider] = {}
_loaded_services: set[str] = set()
_load_lock = threading.Lock()
_active: LocalAWS | None = None


# Set while the interpreter itself calls a service for a Task state. Its polls wait in virtual time (no real
# time passes), so a provider whose work runs in real time in the background may answer such a caller once
# that work has settled (see sagemaker_hosting.describe_endpoint); other callers see every transition.
called_by_state_machine: contextvars.ContextVar[bool] = contextvars.ContextVar("called_by_state_machine",
                                                                               default=False)


class ServiceError(Exception):
    """An AWS service error raised by a provider; boto3 callers see ClientError with this code."""

    def __init__(self, code: str, message: str = "", status: int = 400, fields: dict | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.fields = dict(fields or {})   # the error's extra members (ModelError's OriginalStatusCode, …)


def operation_name(name: str) -> str:
    """Normalise `startFaceDetection` / `start_face_detection` / `StartFaceDetection` to botocore's form."""
    if "_" in name:
        return "".join(part[:1].upper() + part[1:] for part in name.split("_"))
    return name[:1].upper() + name[1:]


def register(service: str, operation: str, fn: Provider) -> None:
    """Answer `service`'s `operation` (boto3 client name, API operation name) with `fn` from now on."""
    _registry[(service.lower(), operation_name(operation))] = fn


def unregister(service: str, operation: str) -> None:
    """Stop answering an operation locally (it falls back to moto)."""
    _registry.pop((service.lower(), operation_name(operation)), None)


def provider_for(service: str, operation: str) -> Provider | None:
    """The provider registered for an operation, importing the service's provider modules first."""
    service = service.lower()
    if service not in _loaded_services:
        with _load_lock:
            if service not in _loaded_services:
                for module in PROVIDER_MODULES.get(service, ()):
                    importlib.import_module(module)
                _loaded_services.add(service)
    return _registry.get((service, operation_name(operation)))


def activate(aws: LocalAWS | None) -> None:
    """Route provider calls to `aws` (None: providers stay silent and boto3 behaves as usual)."""
    global _active
    _active = aws


def _remember_params(params: dict, model: Any, context: dict, **_: Any) -> None:
    # before-call only sees the serialised HTTP request; keep the caller's own parameters for providers
    # and for the IAM check.
    aws = _active
    if aws is not None and (aws.permissions is not None
                            or provider_for(model.service_model.service_name, model.name) is not None):
        context["stepsmith_params"] = copy.copy(params)


def _answer(model: Any, context: dict, **_: Any) -> tuple[AWSResponse, dict] | None:
    aws = _active
    if aws is None:
        return None
    service = model.service_model.service_name
    aws.touched.add(service)
    params = context.get("stepsmith_params", {})
    refusal = None
    if aws.permissions is not None:
        refusal = access.refusal_for_call(aws.permissions, service, model.service_model.signing_name,
                                          model.name, params, aws.region, aws.account)
    fn = provider_for(service, model.name)
    if fn is None and refusal is None:
        return None
    try:
        if refusal is not None:
            raise ServiceError(refusal.code, refusal.message, refusal.status)
        parsed = dict(fn(params, aws) or {})
        headers = dict((parsed.pop("ResponseMetadata", None) or {}).get("HTTPHeaders") or {})
        status, parsed = with_metadata(200, parsed, headers)
    except ServiceError as error:
        status, parsed = error_answer(error)
    request_id = parsed["ResponseMetadata"]["RequestId"]
    return AWSResponse("https://stepsmith.local/", status, {"x-amzn-requestid": request_id}, None), parsed


def error_answer(error: ServiceError) -> tuple[int, dict]:
    """(status, parsed response) as botocore receives a service error: what callers catch as ClientError."""
    parsed = {"Error": {"Code": error.code, "Message": error.message}, **error.fields}
    if error.message:
        parsed["message"] = error.message
    return with_metadata(error.status, parsed)


def with_metadata(status: int, parsed: dict, headers: dict | None = None) -> tuple[int, dict]:
    """`parsed` with the ResponseMetadata a real answer carries (a fresh request id)."""
    request_id = str(uuid.uuid4())
    parsed["ResponseMetadata"] = {
        "RequestId": request_id,
        "HTTPStatusCode": status,
        "HTTPHeaders": {**(headers or {}), "x-amzn-requestid": request_id},
        "RetryAttempts": 0,
    }
    return status, parsed


# Registered once, at import, into every botocore session created afterwards (moto does the same for
# its stubber); inert while no LocalAWS is active.
BUILTIN_HANDLERS.append(("before-parameter-build", _remember_params))
BUILTIN_HANDLERS.append(("before-call", _answer))
