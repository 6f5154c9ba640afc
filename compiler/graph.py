"""A workflow as a picture: Mermaid or Graphviz DOT from the model, optionally with a past run's path.

Graphs show steps as written (a poll is one node, not its Task/Choice/Wait loop); a run's history,
which names ASL states, is mapped back to the steps that produced them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from compiler.model import (
    ChoiceStep,
    DeployStep,
    HandlerStep,
    MapStep,
    ParallelStep,
    PollStep,
    Step,
    TrainStep,
    Workflow,
)


@dataclass
class Overlay:
    """Steps a run entered, the step it failed in (if it failed), and steps that failed but were caught."""

    visited: set[str] = field(default_factory=set)
    failed: str | None = None
    status: str | None = None
    caught: set[str] = field(default_factory=set)


class ExecutionMismatch(ValueError):
    """The execution record is of another workflow's state machine."""


# Events that end a state's attempt in failure, and those that end it well (a retry that worked).
_ATTEMPT_FAILED = ("TaskFailed", "LambdaFunctionFailed", "TaskTimedOut", "LambdaFunctionTimedOut",
                   "LambdaFunctionStartFailed", "LambdaFunctionScheduleFailed", "TaskSubmitFailed",
                   "TaskStartFailed", "ParallelStateFailed", "MapStateFailed", "MapStateAborted")
_ATTEMPT_SUCCEEDED = ("TaskSucceeded", "LambdaFunctionSucceeded", "ParallelStateSucceeded", "MapStateSucceeded")


def _events(value: Any) -> list[dict[str, Any]]:
    """History events anywhere in an execution record (a list, or a dict holding one)."""
    if isinstance(value, list):
        if all(isinstance(item, dict) and "type" in item for item in value):
            return value
        return [event for item in value for event in _events(item)]
    if isinstance(value, dict):
        for key in ("history", "events"):
            if key in value:
                return _events(value[key])
        return [event for item in value.values() if isinstance(item, (list, dict)) for event in _events(item)]
    return []


def execution_overlay(workflow: Workflow, record: Path) -> Overlay:
    """Read .stepsmith/executions/<name>.json and map the states it entered to the workflow's steps.

    Raises ExecutionMismatch when the record is of another workflow's state machine.
    """
    data = json.loads(record.read_text(encoding="utf-8"))
    machine = data.get("stateMachine") if isinstance(data, dict) else None
    if isinstance(machine, str) and machine and not _same_workflow(machine, workflow.name):
        raise ExecutionMismatch(f"{record}: execution of state machine '{machine}', not of workflow "
                                f"'{workflow.name}'")
    owners = _state_owners(workflow)
    overlay = Overlay(status=data.get("status") if isinstance(data, dict) else None)
    current: str | None = None
    open_steps: list[str] = []      # entered and not exited, innermost last
    last_failed: dict[str, bool] = {}
    for event in _events(data):
        kind = str(event.get("type", ""))
        details = event.get("stateEnteredEventDetails")
        exited = event.get("stateExitedEventDetails")
        if kind.endswith("StateEntered") and isinstance(details, dict):
            current = owners.get(str(details.get("name")))
            if current is not None:
                overlay.visited.add(current)
                open_steps.append(current)
                last_failed[current] = False
        elif kind.endswith("StateExited") and isinstance(exited, dict):
            step = owners.get(str(exited.get("name")))
            if step in open_steps:
                while open_steps[-1] != step:   # failed inner states (a caught branch) close with it
                    open_steps.pop()
                open_steps.pop()
                if last_failed.get(step):
                    overlay.caught.add(step)   # it failed, and a Catch took the run elsewhere
        elif kind in _ATTEMPT_FAILED and open_steps:
            last_failed[open_steps[-1]] = True
        elif kind in _ATTEMPT_SUCCEEDED and open_steps:
            last_failed[open_steps[-1]] = False
        elif kind in ("ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted") and current is not None:
            overlay.failed = open_steps[-1] if open_steps else current
    return overlay


def _same_workflow(machine: str, workflow: str) -> bool:
    # Records name the deployed machine, `<stack>-<workflow>`; hand-made records may name the workflow.
    return machine == workflow or machine.endswith(f"-{workflow}")


def _state_owners(workflow: Workflow) -> dict[str, str]:
    """ASL state name → the step it comes from (polls compile to several states)."""
    owners: dict[str, str] = {}
    for step in workflow.all_steps():
        owners[step.name] = step.name
        try:
            from compiler.asl import step_state_names
        except ImportError:  # the back end is optional for drawing
            continue
        for state in step_state_names(step):
            owners[state] = step.name
        if isinstance(step, TrainStep):
            owners[f"{step.name}: metrics"] = step.name
    for step in workflow.all_steps():
        if isinstance(step, DeployStep):  # its parts' states are the deploy step's, drawn as one node
            parts = {state for state in owners if state == step.name or state.startswith(step.name + ": ")}
            owners.update({state: step.name for state in parts})
    return owners


class _Ids:
    def __init__(self) -> None:
        self.ids: dict[int, str] = {}

    def __call__(self, step: Step) -> str:
        return self.ids.setdefault(id(step), f"s{len(self.ids)}")


def _label(step: Step) -> str:
    if isinstance(step, HandlerStep):
        return f"{step.name}\nλ {step.handler}"
    if isinstance(step, PollStep):
        task = step.task
        what = task.handler if isinstance(task, HandlerStep) else f"{task.service}:{task.action}"
        return f"{step.name}\npoll {what} every {step.every}s"
    if isinstance(step, DeployStep):
        return f"{step.name}\ndeploy to endpoint {step.endpoint}"
    service = getattr(step, "service", None)
    if service:
        return f"{step.name}\n{service}:{step.action}"  # type: ignore[attr-defined]
    return step.name


@dataclass(frozen=True)
class _Edge:
    """One arrow: `label` on choice branches and caught errors; `dashed` for a catch."""

    source: str
    target: str
    label: str | None = None
    dashed: bool = False


def _step_edges(step: Step, by_name: dict[str, Step], ids: _Ids, top: bool) -> list[_Edge]:
    """The arrows leaving `step` within its scope: choice branches and default, next (or end), catches."""
    node = ids(step)
    edges: list[_Edge] = []
    if isinstance(step, ChoiceStep):
        edges += [_Edge(node, ids(by_name[branch.next]), branch.text)
                  for branch in step.branches if branch.next in by_name]
        if step.default in by_name:
            edges.append(_Edge(node, ids(by_name[step.default]), "otherwise"))
    elif step.next in by_name:
        edges.append(_Edge(node, ids(by_name[step.next])))
    elif step.end and top and step.kind not in ("succeed", "fail"):   # those two are ends themselves
        edges.append(_Edge(node, "end_"))
    if isinstance(step, (PollStep, DeployStep)):
        edges += [_Edge(node, ids(by_name[target]), label, dashed=True)
                  for target, label in ((step.on_fail, "failed"), (step.on_timeout, "gave up"))
                  if target in by_name]
    edges += [_Edge(node, ids(by_name[catch.next]), ", ".join(catch.errors), dashed=True)
              for catch in step.catch if catch.next in by_name]
    return edges


def _child_scopes(step: Step) -> list[tuple[str, list[Step]]]:
    """The nested scopes drawn inside a Map or Parallel step, each with its title."""
    if isinstance(step, MapStep):
        return [("for each item", step.steps)]
    if isinstance(step, ParallelStep):
        return [(f"branch {index + 1}", branch) for index, branch in enumerate(step.branches)]
    return []


# --- Mermaid -------------------------------------------------------------------------------------------

_MERMAID_SHAPES = {"handler": ("[", "]"), "service": ("[[", "]]"), "train": ("[[", "]]"), "deploy": ("[[", "]]"), "poll": ("{{", "}}"), "choice": ("{", "}"),
                   "wait": ("([", "])"), "map": ("[/", "/]"), "parallel": ("[/", "/]"), "pass": ("[", "]"),
                   "succeed": ("((", "))"), "fail": ("((", "))")}


def _mermaid_text(text: str) -> str:
    return '"' + text.replace('"', "#quot;").replace("\n", "<br/>") + '"'


def _mermaid_edge(edge: _Edge) -> str:
    if edge.dashed:
        return f"  {edge.source} -. {_mermaid_text(edge.label or '')} .-> {edge.target}"
    if edge.label is not None:
        return f"  {edge.source} -- {_mermaid_text(edge.label)} --> {edge.target}"
    return f"  {edge.source} --> {edge.target}"


def to_mermaid(workflow: Workflow, overlay: Overlay | None = None) -> str:
    """The workflow as a Mermaid flowchart."""
    ids = _Ids()
    for step in workflow.all_steps():  # number nodes in document order
        ids(step)
    lines = ["flowchart TD", '  start_(("start"))']
    edges: list[str] = [f"  start_ --> {ids(workflow.steps[0])}"]

    def scope(steps: list[Step], indent: str, top: bool) -> None:
        by_name = {step.name: step for step in steps}
        for step in steps:
            node = ids(step)
            left, right = _MERMAID_SHAPES[step.kind]
            lines.append(f"{indent}{node}{left}{_mermaid_text(_label(step))}{right}")
            edges.extend(_mermaid_edge(edge) for edge in _step_edges(step, by_name, ids, top))
            for index, (title, branch) in enumerate(_child_scopes(step)):
                lines.append(f"{indent}subgraph {node}_{index}[{_mermaid_text(title)}]")
                scope(branch, indent + "  ", False)
                lines.append(f"{indent}end")
                edges.append(f"  {node} -.-> {ids(branch[0])}")

    scope(workflow.steps, "  ", True)
    if any(edge.endswith("--> end_") for edge in edges):
        lines.append('  end_(("end"))')
    lines.extend(edges)
    fails = [ids(step) for step in workflow.all_steps() if step.kind == "fail"]
    if fails:
        lines.append("  classDef fail stroke:#c92a2a,stroke-width:2px")
        lines.append(f"  class {','.join(fails)} fail")
    if overlay is not None:
        lines.append("  classDef visited fill:#d3f9d8,stroke:#2b8a3e,stroke-width:2px")
        lines.append("  classDef caught fill:#fff3bf,stroke:#e67700,stroke-width:2px,stroke-dasharray:4")
        lines.append("  classDef failed fill:#ffe3e3,stroke:#c92a2a,stroke-width:3px")
        visited = [ids(step) for step in workflow.all_steps() if step.name in overlay.visited
                   and step.name != overlay.failed and step.name not in overlay.caught]
        if visited:
            lines.append(f"  class {','.join(visited)} visited")
        caught = [ids(step) for step in workflow.all_steps() if step.name in overlay.caught
                  and step.name != overlay.failed]
        if caught:
            lines.append(f"  class {','.join(caught)} caught")
        failed = [ids(step) for step in workflow.all_steps() if step.name == overlay.failed]
        if failed:
            lines.append(f"  class {','.join(failed)} failed")
    return "\n".join(lines) + "\n"


# --- Graphviz ------------------------------------------------------------------------------------------

_DOT_SHAPES = {"handler": "box", "service": "box3d", "train": "box3d", "deploy": "box3d", "poll": "hexagon", "choice": "diamond", "wait": "oval",
               "map": "parallelogram", "parallel": "parallelogram", "pass": "note", "succeed": "doublecircle",
               "fail": "octagon"}


def _dot_text(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # DOT reads \n in quoted labels as a line break


def _dot_edge(edge: _Edge, indent: str) -> str:
    attributes = ([f"label={_dot_text(edge.label)}"] if edge.label is not None else []) + \
        (["style=dashed"] if edge.dashed else [])
    return f"{indent}{edge.source} -> {edge.target}" + (f" [{', '.join(attributes)}]" if attributes else "") + ";"


def to_dot(workflow: Workflow, overlay: Overlay | None = None) -> str:
    """The workflow as a Graphviz digraph."""
    ids = _Ids()
    for step in workflow.all_steps():
        ids(step)
    lines = [f"digraph {_dot_text(workflow.name)} {{", "  rankdir=TB;",
             '  node [fontname="Helvetica", fontsize=11];', '  edge [fontname="Helvetica", fontsize=9];',
             '  start_ [label="start", shape=circle];', "END",
             f"  start_ -> {ids(workflow.steps[0])};"]

    def style(step: Step) -> str:
        if overlay is not None and step.name == overlay.failed:
            return ', style=filled, fillcolor="#ffe3e3", color="#c92a2a", penwidth=3'
        if overlay is not None and step.name in overlay.caught:
            return ', style="filled,dashed", fillcolor="#fff3bf", color="#e67700", penwidth=2'
        if overlay is not None and step.name in overlay.visited:
            return ', style=filled, fillcolor="#d3f9d8", color="#2b8a3e", penwidth=2'
        return ""

    def scope(steps: list[Step], indent: str, top: bool) -> None:
        by_name = {step.name: step for step in steps}
        for step in steps:
            node = ids(step)
            lines.append(f"{indent}{node} [label={_dot_text(_label(step))}, shape={_DOT_SHAPES[step.kind]}"
                         f"{style(step)}];")
            lines.extend(_dot_edge(edge, indent) for edge in _step_edges(step, by_name, ids, top))
            for index, (title, branch) in enumerate(_child_scopes(step)):
                lines.append(f"{indent}subgraph cluster_{node}_{index} {{")
                lines.append(f"{indent}  label={_dot_text(title)}; style=dashed;")
                scope(branch, indent + "  ", False)
                lines.append(f"{indent}}}")
                lines.append(f"{indent}{node} -> {ids(branch[0])} [style=dotted];")

    scope(workflow.steps, "  ", True)
    reached = any(line.rstrip(";").split(" [")[0].endswith("-> end_") for line in lines)
    lines[lines.index("END")] = '  end_ [label="end", shape=doublecircle];' if reached else ""
    lines = [line for line in lines if line]
    lines.append("}")
    return "\n".join(lines) + "\n"
