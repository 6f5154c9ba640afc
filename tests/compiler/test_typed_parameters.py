"""${param:X} inside conditions compares as the parameter's type, on AWS and in the engine alike."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from compiler import load_workflow
from compiler.asl import build_definition
from engine.cli import main

JSONPATH_GATE = """
name: gate
parameters:
  MinAccuracy: {type: Number, default: 0.5}
  Stage: {default: prod}
steps:
  - name: Decide
    choice:
      - if: $.accuracy >= OPERAND and $.stage == ${param:Stage}
        then: Accept
    default: Reject
  - name: Accept
    succeed: {}
  - name: Reject
    fail: {error: Rejected}
"""

JSONATA_GATE = """
name: gate
query_language: JSONata
parameters:
  MinAccuracy: {type: Number, default: 0.5}
  Stage: {default: prod}
steps:
  - name: Decide
    choice:
      - if: "{% $states.input.accuracy >= ${param:MinAccuracy} and $states.input.stage = ${param:Stage} %}"
        then: Accept
    default: Reject
  - name: Accept
    succeed: {}
  - name: Reject
    fail: {error: Rejected}
"""

SPECS = {
    "unquoted": JSONPATH_GATE.replace("OPERAND", "${param:MinAccuracy}"),
    "quoted": JSONPATH_GATE.replace("OPERAND", '"${param:MinAccuracy}"'),
    "jsonata": JSONATA_GATE,
}


def _project(tmp_path: Path, spec: str) -> Path:
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "gate.yaml").write_text(spec)
    return tmp_path


@pytest.mark.parametrize("form", sorted(SPECS))
@pytest.mark.parametrize(("accuracy", "status"), [(0.95, 0), (0.85, 1), (0.9, 0)])
def test_a_numeric_parameter_is_compared_as_a_number_when_run(tmp_path, monkeypatch, form, accuracy, status):
    monkeypatch.chdir(_project(tmp_path, SPECS[form]))
    result = CliRunner().invoke(main, ["run", "gate", "-q", "--input", json.dumps(
        {"accuracy": accuracy, "stage": "prod"}), "--parameter-overrides", "MinAccuracy=0.90"],
        catch_exceptions=False)
    assert result.exit_code == status, result.output
    if status:
        assert "Rejected" in result.output


def test_the_parameter_reaches_the_choice_as_a_variable_not_a_string(tmp_path):
    workflow = load_workflow(_project(tmp_path, SPECS["quoted"]) / "workflows/gate.yaml", tmp_path)
    definition, substitutions = build_definition(workflow)
    assert definition["StartAt"] == "Decide: parameters"
    assert definition["States"]["Decide: parameters"]["Assign"] == {
        "param_MinAccuracy.$": "States.StringToJson('${MinAccuracy}')"}
    rule = definition["States"]["Decide"]["Choices"][0]["And"]
    assert rule[0] == {"Variable": "$.accuracy", "NumericGreaterThanEqualsPath": "$param_MinAccuracy"}
    assert rule[1] == {"Variable": "$.stage", "StringEquals": "${Stage}"}
    assert substitutions == {"MinAccuracy": {"Ref": "MinAccuracy"}, "Stage": {"Ref": "Stage"}}


def test_a_poll_carries_its_parameters_before_the_first_call(tmp_path):
    spec = """
name: waits
parameters:
  Target: {type: Number, default: 3}
steps:
  - name: Count
    poll:
      service: s3:listObjectsV2
      parameters: {Bucket: b}
      result_path: $.listing
      until: $.listing.KeyCount >= ${param:Target}
      every: 5
"""
    workflow = load_workflow(_project(tmp_path, spec) / "workflows/gate.yaml", tmp_path)
    states = build_definition(workflow)[0]
    assert states["StartAt"] == "Count: start"
    assert states["States"]["Count: start"]["Assign"] == {"param_Target.$": "States.StringToJson('${Target}')"}
    assert states["States"]["Count: check"]["Choices"][0] == {
        "Variable": "$.listing.KeyCount", "NumericGreaterThanEqualsPath": "$param_Target", "Next": "Count: done"}


def test_jsonata_expressions_get_parameters_as_typed_values_everywhere(tmp_path):
    spec = """
name: gate
query_language: JSONata
parameters:
  Factor: {type: Number, default: 2}
  Stage: {default: prod}
steps:
  - name: Scale
    pass: {}
    assign:
      scaled: "{% $states.input.x * ${param:Factor} %}"
      label: "{% ${param:Stage} & '-' & 'run-${param:Stage}' %}"
"""
    workflow = load_workflow(_project(tmp_path, spec) / "workflows/gate.yaml", tmp_path)
    assign = build_definition(workflow)[0]["States"]["Scale"]["Assign"]
    assert assign == {"scaled": '{% $states.input.x * $number("${Factor}") %}',
                      "label": "{% \"${Stage}\" & '-' & 'run-${Stage}' %}"}
