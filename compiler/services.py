"""What the compiler knows of AWS APIs: botocore's service models, read at compile time (no calls).

Service steps name an API (`rekognition:startFaceDetection`); this room finds its operation model,
the error names the Task raises for it, and the throttling errors a retry preset expands to. The
naming rules themselves are the engine's (`engine.tasks`), so local runs and compiled retriers agree.
"""
from __future__ import annotations

from functools import cache
from typing import Any

from compiler.model import HandlerStep, MapStep, ParallelStep, PollStep, ServiceStep, Step, walk_steps

# Error codes AWS SDKs treat as throttling (botocore's standard retry mode keeps the list).
_THROTTLING_FALLBACK = ("Throttling", "ThrottlingException", "TooManyRequestsException",
                        "ProvisionedThroughputExceededException", "RequestLimitExceeded", "SlowDown")
# A Lambda invoke that was throttled (the handler never ran), for handler steps.
_LAMBDA_THROTTLED = ("Lambda.TooManyRequestsException", "Lambda.EC2ThrottledException")
# Optimized integrations with no API model of their own.
_NOT_AN_API = {"http", "apigateway"}


@cache
def throttling_codes() -> tuple[str, ...]:
    """The error codes botocore retries as throttling, in its order."""
    try:
        from botocore.retries.standard import ThrottledRetryableChecker

        return tuple(ThrottledRetryableChecker._THROTTLED_ERROR_CODES)
    except (ImportError, AttributeError):  # a botocore that moved the list: keep the common codes
        return _THROTTLING_FALLBACK


# Throttling codes services send without declaring them in their model.
_UNDECLARED_THROTTLING = {"s3": ("SlowDown",)}


@cache
def service_throttling_codes(service: str) -> tuple[str, ...]:
    """The throttling codes one service sends: those its model declares, the generic
    `ThrottlingException` (`Throttling` on query APIs, named alike in Step Functions), and known
    undeclared ones (S3's SlowDown)."""
    model = service_model(service)
    declared = {error.name for operation in model.operation_names
                for error in model.operation_model(operation).error_shapes}
    codes = ["ThrottlingException", *(code for code in throttling_codes() if code in declared)]
    return tuple(dict.fromkeys([*codes, *_UNDECLARED_THROTTLING.get(sdk_service(service) or "", ())]))


@cache
def sdk_service(name: str) -> str | None:
    """botocore's name for a Step Functions service name (`sfn` → `stepfunctions`), None if unknown."""
    from engine.asl.tasks import TaskFailed
    from engine.tasks import boto3_service

    try:
        return boto3_service(name)
    except TaskFailed:
        return None


@cache
def service_names() -> tuple[str, ...]:
    """Every service botocore has a model for."""
    import botocore.session

    return tuple(botocore.session.get_session().get_available_services())


@cache
def service_model(name: str) -> Any:
    """botocore's ServiceModel for a Step Functions service name, or None."""
    import botocore.session

    service = sdk_service(name)
    return botocore.session.get_session().get_service_model(service) if service else None


def operation_model(service: str, action: str) -> Any:
    """The OperationModel of `service:action` (action in Step Functions' camelCase), or None."""
    model = service_model(service)
    if model is None:
        return None
    wanted = action[:1].upper() + action[1:]
    return model.operation_model(wanted) if wanted in model.operation_names else None


def throttling_errors(step: Step) -> list[str]:
    """The error names a `throttling` retry preset must list for this step: the integration's own
    `<Service>.<Exception>` names for a service call; for a handler, a throttled invoke and the bare
    names the handler's own boto3 errors carry; for a map or parallel, those of the tasks inside."""
    task = step.task if isinstance(step, PollStep) else step
    if isinstance(task, ServiceStep):
        if task.service in _NOT_AN_API or sdk_service(task.service) is None:
            return list(throttling_codes())
        from engine.tasks import integration_error

        return list(dict.fromkeys(integration_error(task.service, task.optimized, code)
                                  for code in service_throttling_codes(task.service)))
    if isinstance(task, HandlerStep):
        return [*_LAMBDA_THROTTLED, *throttling_codes()]
    inner: list[Step] = []
    if isinstance(step, MapStep):
        inner = list(walk_steps(step.steps))
    elif isinstance(step, ParallelStep):
        inner = [child for branch in step.branches for child in walk_steps(branch)]
    names: list[str] = []
    for child in inner:
        if isinstance(child, (ServiceStep, HandlerStep, PollStep)):
            names += [name for name in throttling_errors(child) if name not in names]
    return names or list(throttling_codes())
