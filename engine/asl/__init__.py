"""The Amazon States Language interpreter: ``execute`` runs a definition and returns its result.

definition.py  compile a definition once (cached by text) into Program/State objects; DefinitionError
validate.py    the ASL validator the loader and the compiler share: what CreateStateMachine refuses
states.py      Pass, Succeed, Fail, Choice, Wait and the Retry/Catch base shared by the next three
taskstate.py   Task (dispatch, .waitForTaskToken, timeouts)   parallel.py  Parallel   mapstate.py  Map
interpreter.py the run loop: events, context object ($$), data limit, execution timeout; ``execute``
payload.py     Parameters/ResultSelector/Arguments/Output/Assign templates and ResultPath
expressions.py the bridge to jsonpath.py, intrinsics.py and jsonata.py (compile once, AWS error texts)
choice.py      choice rules    retry.py  Retry/Catch matching and back-off    timestamps.py  ISO-8601
history.py     GetExecutionHistory-shaped events    clock.py  virtual/real time    errors.py  error values
tasks.py       the dispatcher protocol              tokens.py task tokens (SendTaskSuccess/Failure/Heartbeat)
"""
from .clock import RealClock, VirtualClock
from .errors import DefinitionError, InvalidExecutionInput
from .interpreter import ExecutionResult, execute
from .tasks import TaskCall, TaskDispatcher, TaskFailed

__all__ = [
    "DefinitionError",
    "ExecutionResult",
    "InvalidExecutionInput",
    "RealClock",
    "TaskCall",
    "TaskDispatcher",
    "TaskFailed",
    "VirtualClock",
    "execute",
]
