"""Errors as values: definition errors (AWS would reject the state machine) and state failures."""
from __future__ import annotations

ALL = "States.ALL"
TASK_FAILED = "States.TaskFailed"
TIMEOUT = "States.Timeout"
HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"
RUNTIME = "States.Runtime"
QUERY_EVALUATION = "States.QueryEvaluationError"
NO_CHOICE_MATCHED = "States.NoChoiceMatched"
DATA_LIMIT_EXCEEDED = "States.DataLimitExceeded"
RESULT_PATH_MATCH_FAILURE = "States.ResultPathMatchFailure"
ITEM_READER_FAILED = "States.ItemReaderFailed"
RESULT_WRITER_FAILED = "States.ResultWriterFailed"
EXCEEDED_TOLERATED_FAILURE = "States.ExceedToleratedFailureThreshold"

# Errors that States.ALL does not catch and States.TaskFailed does not cover (AWS's rules).
NOT_CAUGHT_BY_ALL = frozenset({RUNTIME, DATA_LIMIT_EXCEEDED})
NOT_TASK_FAILED = frozenset({TIMEOUT, HEARTBEAT_TIMEOUT, RUNTIME, DATA_LIMIT_EXCEEDED})


class DefinitionError(Exception):
    """A definition AWS would reject; names the state and field where that is known."""

    def __init__(self, message: str, state: str | None = None, field: str | None = None) -> None:
        self.message, self.state, self.field = message, state, field
        where = []
        if state is not None:
            where.append(f"state '{state}'")
        if field is not None:
            where.append(f"field '{field}'")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)


class StateFailure(Exception):
    """A failure raised while a state runs; Retry and Catch match on ``error``."""

    def __init__(self, error: str | None, cause: str | None = None) -> None:
        super().__init__(f"{error}: {cause}")
        self.error = error
        self.cause = cause


class FieldFailure(Exception):
    """A failure whose cause AWS prefixes with the state name and event id; the caller adds that."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message


def state_cause(state_name: str, entered_event_id: int, message: str) -> str:
    """AWS's cause text for a runtime failure inside a state."""
    return (
        f"An error occurred while executing the state '{state_name}' "
        f"(entered at the event id #{entered_event_id}). {message}"
    )


class InvalidExecutionInput(ValueError):
    """The execution input is not JSON (AWS: InvalidExecutionInput from StartExecution)."""


class ExecutionTimedOut(Exception):
    """The state machine's own TimeoutSeconds passed; nothing can catch this."""
