"""What the compiler knows of AWS APIs: botocore's service models, read at compile time (no calls).

Service steps name an API (`rekognition:startFaceDetection`); this room finds its operation model,
the error names the Task raises for it, and the throttling errors a retry preset expands to. The
naming rules themselves are the engine's (`engine.tasks`), so local runs and compiled retriers agree.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
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
    """The throttling codes one service (botocore's name) sends: those its model declares, the generic
    `ThrottlingException` (`Throttling` on query APIs, named alike in Step Functions), and known
    undeclared ones (S3's SlowDown)."""
    model = _model(service)
    declared = {error.name for operation in model.operation_names
                for error in model.operation_model(operation).error_shapes}
    codes = ["ThrottlingException", *(code for code in throttling_codes() if code in declared)]
    return tuple(dict.fromkeys([*codes, *_UNDECLARED_THROTTLING.get(service, ())]))


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
        if task.optimized and task.service == "http":
            return ["States.Http.StatusCode.429"]  # HTTP Task failures are named by status code
        model = _step_model(task)
        if model is None:  # http:invoke, or a service validate reports as unknown
            return list(throttling_codes())
        from engine.tasks import integration_error

        return list(dict.fromkeys(integration_error(task.service, task.optimized, code)
                                  for code in service_throttling_codes(model.service_name)))
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


# --- checking a service step against the API ------------------------------------------------------------

# Optimized integrations whose API lives under another botocore name.
_OPTIMIZED_MODELS = {("states", "startExecution"): "stepfunctions", ("bedrock", "invokeModel"): "bedrock-runtime"}
_PLACEHOLDER = re.compile(r"\$\{[^}]*\}")
_JSONATA = re.compile(r"^\s*\{%.*%\}\s*$", re.DOTALL)
_NOT_TEXT = ("integer", "long", "float", "double", "boolean")
_TYPE_NAMES = {"structure": "a mapping", "list": "a list", "map": "a mapping", "string": "a string",
               "integer": "an integer", "long": "an integer", "float": "a number", "double": "a number",
               "boolean": "true or false", "timestamp": "a timestamp", "blob": "a string"}


@dataclass(frozen=True)
class ApiProblem:
    """Something wrong in a service step's name or parameters; `keys` is where, under `parameters`."""

    keys: tuple[str | int, ...]
    message: str
    hint: str | None = None
    on_name: bool = False  # the problem is in `service:` itself, not its parameters
    at_key: bool = False  # placed on the key that names the value (an unknown or incomplete member)


def api_model(step: ServiceStep) -> tuple[Any, ApiProblem | None]:
    """The operation model `step` calls, or the problem with its service/action name."""
    if step.optimized and step.service in _NOT_AN_API:
        return None, None
    model = _step_model(step)
    if model is None:
        from engine.tasks import SDK_SERVICE_NAMES

        choices = sorted({*(name.replace("-", "") for name in service_names()), *SDK_SERVICE_NAMES})
        hint = _close(step.service, choices)
        if step.service == "states":
            hint = "the AWS SDK integration calls Step Functions `sfn` (e.g. sfn:listExecutions)"
        return None, ApiProblem((), f"unknown service '{step.service}'", hint or "see the AWS SDK integrations "
                                "list: service names are lowercase, e.g. dynamodb, sagemaker", on_name=True)
    operations = {name[:1].lower() + name[1:]: name for name in model.operation_names}
    if step.action in operations:
        return model.operation_model(operations[step.action]), None
    same = next((action for action in operations if action.lower() == step.action.lower()), None)
    if same is not None:
        return None, ApiProblem((), f"'{step.action}' is not {step.service}'s spelling of the action",
                                f"actions are camelCase: write {step.service}:{same}", on_name=True)
    elsewhere = next((name.replace("-", "") for name in service_names() if name.startswith(step.service + "-")
                      and step.action in {op[:1].lower() + op[1:] for op in _model(name).operation_names}), None)
    hint = f"write {elsewhere}:{step.action}" if elsewhere else _close(step.action, operations)
    return None, ApiProblem((), f"{step.service} has no action '{step.action}'",
                            hint or f"see {step.service}'s API reference", on_name=True)


def _step_model(step: ServiceStep) -> Any:
    """botocore's model of the service a step calls (an optimized integration's own API), or None."""
    if step.optimized and step.service in _NOT_AN_API:
        return None
    model_name = _OPTIMIZED_MODELS.get((step.service, step.action)) if step.optimized else None
    return _model(model_name) if model_name else service_model(step.service)


def _close(word: str, choices: Any) -> str | None:
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


@cache
def _model(name: str) -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model(name)


def check_parameters(step: ServiceStep, payload: Any, jsonata: bool) -> list[ApiProblem]:
    """Problems in the fixed parts of a service step's parameters, judged by the API's input shape:
    unknown members, wrong types, missing required members, values outside an enum. `.$` keys, JSONata
    and `${…}` strings are dynamic: their members must exist and count as present, their values are
    not judged."""
    operation, problem = api_model(step)
    if problem is not None:
        return [problem]
    if operation is None or operation.input_shape is None or (jsonata and isinstance(payload, str)):
        return []
    problems: list[ApiProblem] = []
    _check_value(operation.input_shape, payload if payload is not None else {}, (), step.optimized, problems,
                 f"{step.service}:{step.action}")
    return problems


def _dynamic(value: Any) -> bool:
    return isinstance(value, str) and (_JSONATA.match(value) is not None or _PLACEHOLDER.search(value) is not None)


def _check_value(shape: Any, value: Any, keys: tuple[str | int, ...], optimized: bool,
                 problems: list[ApiProblem], label: str | None = None) -> None:
    kind = shape.type_name
    label = label or shape.name
    if isinstance(value, str) and _PLACEHOLDER.fullmatch(value.strip()) and kind in _NOT_TEXT and keys:
        # A reference is substituted as text: the API would get "5", not 5.
        member = str(keys[-1])
        problems.append(ApiProblem(keys, f"{label} takes {_TYPE_NAMES[kind]}, and {value.strip()} becomes text",
                                   f"write {member}.$: States.StringToJson('{value.strip()}')"))
        return
    if _dynamic(value):
        return
    if kind == "structure":
        if not isinstance(value, dict):
            problems.append(ApiProblem(keys, f"expected {_TYPE_NAMES[kind]}, got {_shown_type(value)}"))
            return
        # Step Functions writes members in PascalCase even where the API's own names are camelCase.
        members = {name[:1].upper() + name[1:]: name for name in shape.members}
        present = set()
        for key, item in value.items():
            name = key.removesuffix(".$")
            if name not in members:
                close = _close(name, members)
                problems.append(ApiProblem((*keys, key), f"'{name}' is not a member of {label}",
                                           close or "members: " + ", ".join(members), at_key=True))
                if close:  # a misspelt required member is reported once, here
                    present.add(members[close.split("'")[1]])
                continue
            present.add(members[name])
            if not key.endswith(".$"):
                _check_value(shape.members[members[name]], item, (*keys, key), optimized, problems, name)
        for missing in [name for name in shape.required_members if name not in present]:
            member = missing[:1].upper() + missing[1:]
            problems.append(ApiProblem(keys, f"{label} needs '{member}'",
                                       f"add {member}: value, or {member}.$: a path", at_key=True))
    elif kind == "list":
        if not isinstance(value, list):
            problems.append(ApiProblem(keys, f"expected a list, got {_shown_type(value)}"))
            return
        for index, item in enumerate(value):
            _check_value(shape.member, item, (*keys, index), optimized, problems)
    elif kind == "map":
        if not isinstance(value, dict):
            problems.append(ApiProblem(keys, f"expected a mapping, got {_shown_type(value)}"))
            return
        for key, item in value.items():
            if not key.endswith(".$"):
                _check_value(shape.value, item, (*keys, key), optimized, problems)
    elif not _scalar_fits(kind, value, optimized):
        problems.append(ApiProblem(keys, f"expected {_TYPE_NAMES.get(kind, kind)} for {label}, "
                                   f"got {_shown_type(value)}"))
    elif kind == "string" and shape.enum and value not in shape.enum:
        problems.append(ApiProblem(keys, f"{value!r} is not one of: {', '.join(shape.enum)}",
                                   _close(str(value), shape.enum)))


def _scalar_fits(kind: str, value: Any, optimized: bool) -> bool:
    if kind in ("string", "blob"):
        # Optimized integrations serialise a JSON body given as an object (Payload, Message, Input, …).
        return isinstance(value, str) or (optimized and isinstance(value, (dict, list)))
    if kind in ("integer", "long"):
        return isinstance(value, int) and not isinstance(value, bool)
    if kind in ("float", "double"):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "timestamp":
        return isinstance(value, (str, int, float)) and not isinstance(value, bool)
    return True


def _shown_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    return "a list" if isinstance(value, list) else "a mapping"
