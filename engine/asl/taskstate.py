"""The Task state: hands the work to the dispatcher, waits for a task token when asked."""
from __future__ import annotations

from typing import Any

from . import expressions, jsonpath, tokens
from .errors import (
    HEARTBEAT_TIMEOUT,
    RUNTIME,
    TASK_FAILED,
    TIMEOUT,
    DefinitionError,
    FieldFailure,
    StateFailure,
)
from .payload import compile_jsonata_template, compile_jsonpath_template, dumps
from .states import RecoverableState, Scope, number_from_path
from .tasks import TaskCall, TaskFailed

_NOT_TRUNCATED = {"truncated": False}


def split_resource(resource: str) -> tuple[str, str]:
    """(resourceType, resource) as history events show them, e.g. ('lambda', 'invoke.waitForTaskToken')."""
    if resource.startswith("arn:") and ":states:::" in resource:
        parts = resource.split(":states:::", 1)[1].split(":")
        if len(parts) > 2 and parts[-1].isdigit():  # versioned patterns such as startExecution.sync:2
            parts[-2:] = [f"{parts[-2]}:{parts[-1]}"]
        return ":".join(parts[:-1]), parts[-1]
    parts = resource.split(":")
    if len(parts) > 2 and parts[2] == "lambda":
        return "lambda", resource
    if len(parts) > 5 and parts[5] == "activity":
        return "activity", resource
    return "unknown", resource


class TaskState(RecoverableState):
    """``Type: Task``: one unit of work done by the dispatcher (Lambda, a service call, an activity)."""

    kind = "Task"
    retry_count_in_context = True
    allowed = frozenset({"InputPath", "OutputPath", "Parameters", "ResultSelector", "ResultPath", "Resource",
                         "TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath",
                         "Retry", "Catch", "Credentials", "Arguments", "Output"})

    def __init__(self, name: str, spec: dict, query_language: str) -> None:
        super().__init__(name, spec, query_language)
        resource = spec.get("Resource")
        if not isinstance(resource, str) or not resource:
            raise DefinitionError("A Task state needs 'Resource'", name, "Resource")
        self.resource = resource
        self.resource_type, self.resource_name = split_resource(resource)
        self.wait_for_token = resource.endswith(".waitForTaskToken")
        self.legacy_lambda = self.resource_type == "lambda" and resource.startswith("arn:") and (
            ":function:" in resource
        )
        self.timeout = self._seconds("TimeoutSeconds")
        self.heartbeat = self._seconds("HeartbeatSeconds")
        credentials = spec.get("Credentials")
        self.credentials = None
        if credentials is not None:
            if self.jsonata:
                self.credentials, _ = compile_jsonata_template(credentials, "Credentials")
            else:
                self.credentials, _ = compile_jsonpath_template(credentials, name, "Credentials")

    def _seconds(self, key: str) -> Any:
        """A constant, a JSONata expression, or a path (``…Path``): compiled to (kind, value)."""
        path_key = key + "Path"
        if key in self.spec and path_key in self.spec:
            raise DefinitionError(f"Use '{key}' or '{path_key}', not both", self.name, path_key)
        if path_key in self.spec:
            text = self.spec[path_key]
            if not isinstance(text, str):
                raise DefinitionError(f"'{path_key}' must be a path", self.name, path_key)
            return ("path", expressions.compile_path(text, path_key, self.name), text)
        if key not in self.spec:
            return None
        value = self.spec[key]
        if self.jsonata and expressions.is_jsonata(value):
            return ("jsonata", expressions.compile_jsonata(value, key), value)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise DefinitionError(f"'{key}' must be a positive integer", self.name, key)
        return ("const", value, None)

    def _resolve_seconds(self, spec: Any, key: str, data: Any, scope: Scope) -> int | None:
        if spec is None:
            return None
        kind, value, text = spec
        if kind == "const":
            return value
        if kind == "jsonata":
            seconds = value(data, scope)
            if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 1:
                raise FieldFailure(RUNTIME, f"The {key} field must be a positive integer, but was: {dumps(seconds)}")
            return int(seconds)
        try:
            found = value.get(data, scope.context, scope.variables)
        except jsonpath.PathError as exc:
            raise FieldFailure(RUNTIME, exc.cause) from None
        seconds = number_from_path(found, key + "Path", text, "integer")
        if seconds < 1:
            raise FieldFailure(RUNTIME, f"The {key}Path field must be a positive integer: {text}")
        return seconds

    def attempt(self, run: Any, raw: Any, scope: Scope, entered: int, retry_count: int) -> Any:
        context = scope.context
        if retry_count:
            context = dict(context)
            context["State"] = dict(context["State"], RetryCount=retry_count)
            scope.context = context
        token = tokens.new_token() if self.wait_for_token else None
        if token is not None:
            scope.context = dict(scope.context, Task={"Token": token})
        try:
            arguments = self.effective_input(raw, scope)
            data = self.states_binding(raw, scope) if self.jsonata else raw
            timeout = self._resolve_seconds(self.timeout, "TimeoutSeconds", data, scope)
            heartbeat = self._resolve_seconds(self.heartbeat, "HeartbeatSeconds", data, scope)
            credentials = self.credentials(data, scope) if self.credentials is not None else None
        except Exception:
            if token is not None:
                tokens.discard(token)
            raise
        return self._dispatch(run, scope, arguments, timeout, heartbeat, credentials, token)

    def _dispatch(self, run: Any, scope: Scope, arguments: Any, timeout: int | None, heartbeat: int | None,
                  credentials: Any, token: str | None) -> Any:
        if self.legacy_lambda:
            details: dict = {"resource": self.resource, "input": dumps(arguments), "inputDetails": _NOT_TRUNCATED}
            if timeout is not None:
                details["timeoutInSeconds"] = timeout
            run.event(scope, "LambdaFunctionScheduled", details)
            run.event(scope, "LambdaFunctionStarted")
        else:
            details = {"resourceType": self.resource_type, "resource": self.resource_name,
                       "region": run.region, "parameters": dumps(arguments)}
            if timeout is not None:
                details["timeoutInSeconds"] = timeout
            if heartbeat is not None:
                details["heartbeatInSeconds"] = heartbeat
            run.event(scope, "TaskScheduled", details)
            run.event(scope, "TaskStarted", {"resourceType": self.resource_type, "resource": self.resource_name})
        call = TaskCall(
            state_name=self.name, resource=self.resource, arguments=arguments, timeout_seconds=timeout,
            heartbeat_seconds=heartbeat, task_token=token, credentials=credentials, context=scope.context,
        )
        started = run.clock.now()
        try:
            with run.working():
                result = run.dispatcher.run_task(call)
            if token is not None:
                run.event(scope, "TaskSubmitted", {
                    "resourceType": self.resource_type, "resource": self.resource_name,
                    "output": dumps(result), "outputDetails": _NOT_TRUNCATED,
                })
                remaining = None if timeout is None else max(0.0, timeout - (run.clock.now() - started))
                with run.working(cancel=lambda: _abandon(token)):
                    failed, output, error, cause = tokens.wait(token, remaining, heartbeat)
                if failed:
                    raise TaskFailed(error or "", cause)
                result = output
        except TaskFailed as f:
            if token is not None:
                tokens.discard(token)
            if f.error in (TIMEOUT, HEARTBEAT_TIMEOUT):  # the dispatcher enforced the state's timeout
                self._timed_out(run, scope, f.error, f.cause)
            else:
                self._failed(run, scope, f.error, f.cause)
            raise StateFailure(f.error, f.cause) from None
        except tokens.TaskTimedOut as t:
            error = HEARTBEAT_TIMEOUT if t.heartbeat else TIMEOUT
            self._timed_out(run, scope, error, None)
            raise StateFailure(error, None) from None
        except StateFailure:
            raise
        except Exception as exc:  # noqa: BLE001 — a dispatcher bug surfaces as a task failure, not a crash
            if token is not None:
                tokens.discard(token)
            cause = f"{type(exc).__name__}: {exc}"
            self._failed(run, scope, TASK_FAILED, cause)
            raise StateFailure(TASK_FAILED, cause) from None
        if isinstance(result, str) and token is not None:
            result = _maybe_json(result)
        if self.legacy_lambda:
            run.event(scope, "LambdaFunctionSucceeded", {"output": dumps(result), "outputDetails": _NOT_TRUNCATED})
        else:
            run.event(scope, "TaskSucceeded", {
                "resourceType": self.resource_type, "resource": self.resource_name,
                "output": dumps(result), "outputDetails": _NOT_TRUNCATED,
            })
        return result

    def _failed(self, run: Any, scope: Scope, error: str | None, cause: str | None) -> None:
        details: dict = {}
        if not self.legacy_lambda:
            details = {"resourceType": self.resource_type, "resource": self.resource_name}
        if error is not None:
            details["error"] = error
        if cause is not None:
            details["cause"] = cause
        run.event(scope, "LambdaFunctionFailed" if self.legacy_lambda else "TaskFailed", details)

    def _timed_out(self, run: Any, scope: Scope, error: str, cause: str | None) -> None:
        details: dict = {} if self.legacy_lambda else {"resourceType": self.resource_type,
                                                       "resource": self.resource_name}
        details["error"] = error
        if cause is not None:
            details["cause"] = cause
        run.event(scope, "LambdaFunctionTimedOut" if self.legacy_lambda else "TaskTimedOut", details)


def _abandon(token: str) -> None:
    """End the wait for a token whose lane was aborted (a sibling failed); nobody reads the answer."""
    try:
        tokens.send_task_failure(token, "States.Aborted", None)
    except tokens.InvalidToken:
        pass


def _maybe_json(text: str) -> Any:
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text
