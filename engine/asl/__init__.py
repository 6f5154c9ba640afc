"""The Amazon States Language interpreter: ``execute`` runs a definition and returns its result."""
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
