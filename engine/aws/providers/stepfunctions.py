"""Step Functions task-token calls answered by the local interpreter.

A handler started by a `.waitForTaskToken` task calls `boto3.client("stepfunctions").send_task_success(...)`
as it would on AWS; inside LocalAWS that reaches the waiting local execution through engine.asl.tokens.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from engine.asl import tokens
from engine.aws.providers import ServiceError, register

if TYPE_CHECKING:
    from engine.aws import LocalAWS


def _token(params: dict) -> str:
    token = params.get("taskToken")
    if not isinstance(token, str) or not token:
        raise ServiceError("InvalidToken", "Invalid Token: 'taskToken' is required")
    return token


def send_task_success(params: dict, aws: LocalAWS) -> dict:
    """SendTaskSuccess: `output` must be JSON text, as on AWS."""
    try:
        output = json.loads(params.get("output", ""))
    except ValueError:
        raise ServiceError("InvalidOutput", "Invalid Output: output must be valid JSON") from None
    try:
        tokens.send_task_success(_token(params), output)
    except tokens.InvalidToken as error:
        raise ServiceError("TaskDoesNotExist", str(error)) from None
    return {}


def send_task_failure(params: dict, aws: LocalAWS) -> dict:
    """SendTaskFailure with optional error and cause."""
    try:
        tokens.send_task_failure(_token(params), params.get("error"), params.get("cause"))
    except tokens.InvalidToken as error:
        raise ServiceError("TaskDoesNotExist", str(error)) from None
    return {}


def send_task_heartbeat(params: dict, aws: LocalAWS) -> dict:
    """SendTaskHeartbeat: resets the task's HeartbeatSeconds timer."""
    try:
        tokens.send_task_heartbeat(_token(params))
    except tokens.InvalidToken as error:
        raise ServiceError("TaskDoesNotExist", str(error)) from None
    return {}


register("stepfunctions", "SendTaskSuccess", send_task_success)
register("stepfunctions", "SendTaskFailure", send_task_failure)
register("stepfunctions", "SendTaskHeartbeat", send_task_heartbeat)
