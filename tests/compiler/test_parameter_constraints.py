"""Parameter constraints (CloudFormation's AllowedPattern, MinValue, …): declared in the spec, emitted into the
template, checked against the default at validate time and enforced on overrides by `run` as CloudFormation
enforces them on deploy."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from compiler import compile_project, validate_project
from compiler.serialize import load_template
from engine.cli import main

SPEC = """
parameters:
  EndpointName: {allowed_pattern: "^[a-z][a-z0-9-]*$", min_length: 3, max_length: 20, default: review-endpoint}
  MinAccuracy: {type: Number, min_value: 0, max_value: 1, default: 0.9}
  Stage: {default: dev, allowed_values: [dev, prod], constraint_description: "dev or prod, nothing else"}
steps:
  - name: Show
    pass: {}
    parameters: {endpoint: "${param:EndpointName}", floor: "${param:MinAccuracy}", stage: "${param:Stage}"}
    end: true
"""


def _project(tmp_path: Path, spec: str) -> Path:
    (tmp_path / "workflows").mkdir()
    (tmp_path / "handlers").mkdir()
    (tmp_path / "workflows" / "gate.yaml").write_text(textwrap.dedent(spec))
    return tmp_path


def _errors(tmp_path: Path, spec: str) -> list[str]:
    return [f"{error.place.line}:{error.place.col}: {error.message}"
            for error in validate_project(_project(tmp_path, spec))]


def test_constraints_reach_the_template_in_cloudformation_terms(tmp_path):
    root = _project(tmp_path, SPEC)
    compile_project(root, root / "build")
    parameters = load_template((root / "build" / "template.yaml").read_text())["Parameters"]
    assert parameters["EndpointName"] == {"Type": "String", "Default": "review-endpoint",
                                          "AllowedPattern": "^[a-z][a-z0-9-]*$", "MinLength": 3, "MaxLength": 20}
    assert parameters["MinAccuracy"] == {"Type": "Number", "Default": 0.9, "MinValue": 0, "MaxValue": 1}
    assert parameters["Stage"]["ConstraintDescription"] == "dev or prod, nothing else"


@pytest.mark.parametrize(("override", "message"), [
    ("EndpointName=Review_Endpoint",
     "Parameter 'EndpointName' must match pattern ^[a-z][a-z0-9-]*$ (AllowedPattern; got 'Review_Endpoint')"),
    ("EndpointName=ab", "Parameter 'EndpointName' must contain at least 3 characters (got 'ab')"),
    ("EndpointName=" + "a" * 21, "Parameter 'EndpointName' must contain at most 20 characters"),
    ("MinAccuracy=1.5", "Parameter 'MinAccuracy' must be a number not greater than 1 (got 1.5)"),
    ("MinAccuracy=-1", "Parameter 'MinAccuracy' must be a number not less than 0 (got -1)"),
    ("MinAccuracy=high", "Parameter 'MinAccuracy' must be a number (got 'high')"),
    ("Stage=test", "Parameter 'Stage' failed to satisfy constraint: dev or prod, nothing else (got 'test')"),
])
def test_run_refuses_an_override_cloudformation_would_refuse(tmp_path, monkeypatch, override, message):
    monkeypatch.chdir(_project(tmp_path, SPEC))
    result = CliRunner().invoke(main, ["run", "gate", "-q", "--parameter-overrides", override],
                                catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_samconfig_overrides_are_enforced_too_and_good_values_run(tmp_path, monkeypatch):
    root = _project(tmp_path, SPEC)
    monkeypatch.chdir(root)
    (root / "samconfig.toml").write_text('version = 0.1\n[default.deploy.parameters]\n'
                                         'parameter_overrides = "MinAccuracy=2"\n')
    refused = CliRunner().invoke(main, ["run", "gate", "-q"], catch_exceptions=False)
    assert refused.exit_code == 2
    assert "Parameter 'MinAccuracy' must be a number not greater than 1 (got 2)" in refused.stderr
    fine = CliRunner().invoke(main, ["run", "gate", "-q", "--parameter-overrides",
                                     "MinAccuracy=0.95 EndpointName=candidate-1"], catch_exceptions=False)
    assert fine.exit_code == 0, fine.stderr
    assert json.loads(fine.stdout) == {"endpoint": "candidate-1", "floor": "0.95", "stage": "dev"}


BROKEN_DEFAULT = "the default breaks the parameter's own constraints: "


# Each error is at the value that is wrong (`token`, within the parameter's flow mapping on line 3).
@pytest.mark.parametrize(("parameter", "token", "expected"), [
    ("{type: Number, default: fast}", "fast", "the default of Number parameter P is \"fast\", not a number"),
    ("{type: Number, default: 5, max_value: 3}", "5", BROKEN_DEFAULT +
     "Parameter 'P' must be a number not greater than 3 (got 5)"),
    ("{default: Prod, allowed_pattern: '^[a-z]+$'}", "Prod", BROKEN_DEFAULT +
     "Parameter 'P' must match pattern ^[a-z]+$ (AllowedPattern; got 'Prod')"),
    ("{default: ab, min_length: 3}", "ab", BROKEN_DEFAULT +
     "Parameter 'P' must contain at least 3 characters (got 'ab')"),
    ("{min_value: 1}", "1", "`min_value` applies to Number parameters, not String"),
    ("{type: Number, max_length: 1}", "1}", "`max_length` applies to String parameters, not Number"),
    ("{type: Number, min_value: 5, max_value: 1}", "5", "min_value 5 is greater than max_value 1"),
    ("{allowed_pattern: '[a-'}", "'[a-'", "allowed_pattern is not a regular expression"),
    ("{type: Number, allowed_values: [1, two]}", "two", "Number parameter P allows \"two\", which is not a number"),
])
def test_validate_checks_constraints_and_the_default_against_them(tmp_path, parameter, token, expected):
    spec = f"""
    parameters:
      P: {parameter}
    steps:
      - name: Show
        pass: {{}}
        parameters: {{p: "${{param:P}}"}}
    """
    errors = _errors(tmp_path, spec)
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"3:{6 + parameter.index(token)}: {expected}"), errors


def test_serve_refuses_a_bad_override_before_it_starts(tmp_path, monkeypatch):
    monkeypatch.chdir(_project(tmp_path, SPEC))
    result = CliRunner().invoke(main, ["serve", "--parameter-overrides", "MinAccuracy=7"], catch_exceptions=False)
    assert result.exit_code == 2
    assert "Parameter 'MinAccuracy' must be a number not greater than 1 (got 7)" in result.stderr
