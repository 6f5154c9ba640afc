"""The Task dispatch protocol: how the interpreter hands a Task state to whoever runs it.

A dispatcher gets one ``TaskCall`` per attempt and returns the task's result (a JSON value) or raises
``TaskFailed(error, cause)``; Retry and Catch then match ``error``. Conventions the interpreter relies on:

- ``arguments`` and ``context`` are shared with the interpreter (it never copies payloads): treat them as
  read-only, and hand user code (a Lambda handler) its own copy.
- ``timeout_seconds``/``heartbeat_seconds``: when the work overruns them, raise
  ``TaskFailed("States.Timeout")`` / ``TaskFailed("States.HeartbeatTimeout")`` (recorded as TaskTimedOut).
- ``.waitForTaskToken``: start the work and return (the return value is shown in TaskSubmitted); the
  interpreter then waits in ``engine.asl.tokens`` for send_task_success/failure on ``task_token``.
- ``.sync``: wait for the job yourself (with the clock you gave ``execute``) and return its final result.
- Distributed Map ``ItemReader``: called with the reader's Resource (``arn:aws:states:::s3:getObject`` or
  ``…:s3:listObjectsV2``) and its evaluated Parameters/Arguments; return the service response
  (GetObject: ``{"Body": text | bytes | stream}``; ListObjectsV2: ``{"Contents": [...]}``, all pages).
- ``ResultWriter``: called with ``arn:aws:states:::s3:putObject`` and ``{"Bucket", "Key", "Body"}`` per file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class TaskCall:
    """One attempt of a Task state, as the dispatcher sees it."""

    state_name: str
    resource: str  # the Task's Resource ARN exactly as in the ASL (after substitution)
    arguments: Any  # effective Parameters/Arguments (already evaluated)
    timeout_seconds: float | None
    heartbeat_seconds: float | None
    task_token: str | None  # set for .waitForTaskToken
    credentials: Any | None
    context: dict = field(default_factory=dict)  # the context object ($$) at this point


class TaskFailed(Exception):
    """Raised by a dispatcher: an error name and cause, which Retry and Catch then match."""

    def __init__(self, error: str, cause: str | None = None) -> None:
        super().__init__(error if cause is None else f"{error}: {cause}")
        self.error = error
        self.cause = cause


class TaskDispatcher(Protocol):
    """Runs Task states; returns the task's result as a JSON value or raises TaskFailed."""

    def run_task(self, call: TaskCall) -> Any: ...


class NoDispatcher:
    """Used when ``execute`` gets no dispatcher: every Task fails as an unreachable resource would."""

    def run_task(self, call: TaskCall) -> Any:
        """Fail the task the way AWS fails a call to a resource it cannot reach."""
        raise TaskFailed(
            "States.TaskFailed",
            f"No task dispatcher is configured, so the resource '{call.resource}' of state "
            f"'{call.state_name}' cannot be invoked locally.",
        )
