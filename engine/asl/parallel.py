"""The Parallel state: every branch gets the same input; the result is the list of branch outputs."""
from __future__ import annotations

from typing import Any

from .errors import DefinitionError, StateFailure
from .states import RecoverableState, Scope, child_variables


class ParallelState(RecoverableState):
    """``Type: Parallel``: run each branch on the same input; the result lists their outputs."""

    kind = "Parallel"
    allowed = frozenset({"InputPath", "OutputPath", "Parameters", "ResultSelector", "ResultPath", "Branches",
                         "Retry", "Catch", "Arguments", "Output"})

    def __init__(self, name: str, spec: dict, query_language: str) -> None:
        super().__init__(name, spec, query_language)
        from .definition import compile_program

        branches = spec.get("Branches")
        if not isinstance(branches, list) or not branches:
            raise DefinitionError("'Branches' must be a non-empty array", name, "Branches")
        self.branches = [compile_program(b, query_language, name) for b in branches]
        self.can_wait = any(branch.can_wait for branch in self.branches)

    def attempt(self, run: Any, raw: Any, scope: Scope, entered: int, retry_count: int) -> Any:
        effective = self.effective_input(raw, scope)
        fork = run.event(scope, "ParallelStateStarted")  # every branch's first event follows this one
        lanes = [Scope(child_variables(scope.variables, branch), fork, scope.history) for branch in self.branches]
        def branch(index: int, program: Any) -> Any:
            return run.run_program(program, effective, lanes[index])

        # Branches run side by side; the first to fail fails the state and the others are stopped.
        outcomes, failed, last = run.fork(branch, self.branches, 0, self.can_wait, _always)
        if failed is not None:
            error = outcomes[failed]
            if not isinstance(error, StateFailure):   # the execution timed out: no state failed
                raise error
            scope.prev = lanes[failed].prev
            run.event(scope, "ParallelStateFailed")
            raise error
        if last is not None:
            scope.prev = lanes[last].prev
        run.event(scope, "ParallelStateSucceeded")
        return outcomes

    def failed_event(self, run: Any, scope: Scope, error: str | None, cause: str | None) -> None:
        run.event(scope, "ParallelStateFailed")


def _always(index: int, error: BaseException) -> bool:
    return True
