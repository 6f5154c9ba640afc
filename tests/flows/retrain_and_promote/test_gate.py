"""The quality gate as compiled (the `Scores` and `Clears the gate?` states), run by the engine on scores."""
from __future__ import annotations

import json

import pytest
from retrain_checks import ROOT, WORKFLOW

from compiler import load_workflow
from compiler.asl import build_definition
from engine import execute


def gate(min_macro_f1: float, min_improvement: float) -> dict:
    """The two compiled states, their template parameters filled in, each way out ending in its own state."""
    workflow = load_workflow(ROOT / "workflows" / f"{WORKFLOW}.yaml", ROOT)
    definition, _ = build_definition(workflow)
    text = json.dumps({name: definition["States"][name] for name in ("Scores", "Clears the gate?")})
    text = text.replace("${MinMacroF1}", str(min_macro_f1)).replace("${MinImprovement}", str(min_improvement))
    states = json.loads(text)
    outcomes = [rule["Next"] for rule in states["Clears the gate?"]["Choices"]] + [states["Clears the gate?"]["Default"]]
    assert outcomes == ["Deploy candidate", "Below the floor", "Not better than production"]
    for outcome in outcomes:
        states[outcome] = {"Type": "Succeed", "QueryLanguage": "JSONata", "Output": outcome}
    return {"StartAt": "Scores", "States": states}


def scores(candidate: float, production: float | None) -> dict:
    state = {"candidate": {"metrics": {"validation_macro_f1": candidate}}}
    if production is not None:
        state["production"] = {"evaluation": {"metrics": {"validation_macro_f1": production}}}
    return state


@pytest.mark.parametrize(("candidate", "production", "expected"), [
    (0.81, None, "Deploy candidate"),               # first run: the floor alone
    (0.80, None, "Deploy candidate"),               # at the floor is enough
    (0.79, None, "Below the floor"),
    (0.95, 0.90, "Deploy candidate"),
    (0.91, 0.90, "Deploy candidate"),               # exactly MinImprovement better
    (0.905, 0.90, "Not better than production"),
    (0.85, 0.90, "Not better than production"),
    (0.70, 0.60, "Below the floor"),                # better than production, still under the floor
])
def test_candidate_must_clear_the_floor_and_beat_production_by_the_minimum_improvement(candidate, production, expected):
    result = execute(json.dumps(gate(0.8, 0.01)), json.dumps(scores(candidate, production)),
                     state_machine_name="gate", execution_name="e")
    assert result.status == "SUCCEEDED", result.cause
    assert json.loads(result.output) == expected


def test_the_thresholds_are_the_template_parameters():
    result = execute(json.dumps(gate(0.5, 0.1)), json.dumps(scores(0.65, 0.6)), state_machine_name="gate",
                     execution_name="e")
    assert json.loads(result.output) == "Not better than production"
    result = execute(json.dumps(gate(0.5, 0.1)), json.dumps(scores(0.71, 0.6)), state_machine_name="gate",
                     execution_name="e")
    assert json.loads(result.output) == "Deploy candidate"
