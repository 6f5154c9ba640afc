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

    def attempt(self, run: Any, raw: Any, scope: Scope, entered: int, retry_count: int) -> Any:
        effective = self.effective_input(raw, scope)
        fork = run.event(scope, "ParallelStateStarted")  # every branch's first event follows this one
        outputs = []
        for branch in self.branches:
            lane = Scope(child_variables(scope.variables, branch), fork, scope.history)
            try:
                outputs.append(run.run_program(branch, effective, lane))
            except StateFailure:
                scope.prev = lane.prev
                run.event(scope, "ParallelStateFailed")
                raise
            scope.prev = lane.prev
        run.event(scope, "ParallelStateSucceeded")
        return outputs

    def failed_event(self, run: Any, scope: Scope, error: str | None, cause: str | None) -> None:
        run.event(scope, "ParallelStateFailed")
