"""Graphs from the model, and a past run's history mapped back onto the steps that made its states."""
from __future__ import annotations

import json
from pathlib import Path

from compiler import load_workflow
from compiler.graph import execution_overlay, to_dot, to_mermaid

FIXTURES = Path(__file__).parent / "fixtures"


def entered(*names: str) -> list[dict]:
    return [{"type": "PassStateEntered", "stateEnteredEventDetails": {"name": name}} for name in names]


def test_poll_states_map_back_to_the_poll_step(tmp_path: Path) -> None:
    workflow = load_workflow(FIXTURES / "workflows" / "everything.yaml", FIXTURES)
    record = tmp_path / "run.json"
    record.write_text(json.dumps(entered("Prepare", "Score", "Train", "Wait for endpoint: wait",
                                         "Check order", "No such state")), encoding="utf-8")
    overlay = execution_overlay(workflow, record)
    assert overlay.visited == {"Prepare", "Score", "Train", "Wait for endpoint", "Check order"}
    assert overlay.failed is None
    mermaid = to_mermaid(workflow, overlay).splitlines()
    assert "  class s0,s1,s2,s3,s9 visited" in mermaid
    dot = to_dot(workflow, overlay)
    assert 's3 [label="Wait for endpoint\\npoll sagemaker:describeEndpoint every 30s", shape=hexagon, ' \
           'style=filled' in dot


def test_the_failing_step_is_marked(tmp_path: Path) -> None:
    workflow = load_workflow(FIXTURES / "workflows" / "uploads.yaml", FIXTURES)
    record = tmp_path / "run.json"
    record.write_text(json.dumps({"events": [*entered("Only"), {"type": "ExecutionFailed"}]}), encoding="utf-8")
    overlay = execution_overlay(workflow, record)
    assert (overlay.visited, overlay.failed) == ({"Only"}, "Only")
    assert 'color="#c92a2a"' in to_dot(workflow, overlay)


def test_fail_steps_look_different_and_catches_are_dashed() -> None:
    workflow = load_workflow(FIXTURES / "workflows" / "everything.yaml", FIXTURES)
    mermaid = to_mermaid(workflow)
    assert "  class s18 fail" in mermaid.splitlines()
    assert '  s0 -. "States.ALL" .-> s18' in mermaid.splitlines()
