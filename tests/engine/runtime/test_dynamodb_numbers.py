"""DynamoDB number attributes: `N` is written from a number and read back as one, in both query languages,
against the local DynamoDB; a value that is not a number fails the run instead of being stored."""
import json
import textwrap

import pytest
from click.testing import CliRunner

from engine.cli import main

JSONPATH = """
    resources:
      models: {type: table}
    steps:
      - name: Record
        service: dynamodb:putItem
        parameters:
          TableName: ${resource:models}
          Item: {id: {S.$: $.job}, accuracy: {N.$: $.accuracy}, epochs: {N: 8}, tags: {M: {f1: {N.$: $.accuracy}}}}
        result_path: null
      - name: Read back
        service: dynamodb:getItem
        parameters: {TableName: "${resource:models}", Key: {id: {S.$: $.job}}}
        result_selector: {accuracy.$: $.Item.accuracy.N, epochs.$: $.Item.epochs.N, f1.$: "$.Item.tags.M.f1['N']"}
        result_path: $.stored
      - name: Good enough?
        choice:
          - if: $.stored.accuracy >= 0.9
            then: Keep
        default: Drop
      - name: Keep
        succeed: {}
      - name: Drop
        fail: {error: Dropped}
"""

JSONATA = """
    resources:
      models: {type: table}
    query_language: JSONata
    steps:
      - name: Record
        service: dynamodb:putItem
        arguments:
          TableName: ${resource:models}
          Item: {id: {S: "{% $states.input.job %}"}, accuracy: {N: "{% $states.input.accuracy %}"}, epochs: {N: 8},
                 tags: {M: {f1: {N: "{% $states.input.accuracy %}"}}}}
        output: "{% $states.input %}"
      - name: Read back
        service: dynamodb:getItem
        arguments: {TableName: "${resource:models}", Key: {id: {S: "{% $states.input.job %}"}}}
        output: >-
          {% $merge([$states.input, {'stored': {'accuracy': $number($states.result.Item.accuracy.N),
          'epochs': $number($states.result.Item.epochs.N), 'f1': $number($states.result.Item.tags.M.f1.N)}}]) %}
      - name: Good enough?
        choice:
          - if: "{% $states.input.stored.accuracy >= 0.9 %}"
            then: Keep
        default: Drop
      - name: Keep
        succeed: {}
      - name: Drop
        fail: {error: Dropped}
"""

SPECS = {"JSONPath": JSONPATH, "JSONata": JSONATA}


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "workflows").mkdir()
    (tmp_path / "handlers").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(project, spec, accuracy):
    (project / "workflows" / "record.yaml").write_text(textwrap.dedent(spec))
    return CliRunner().invoke(main, ["run", "record", "-q", "--input", json.dumps(
        {"job": "train-1", "accuracy": accuracy})], catch_exceptions=False)


@pytest.mark.parametrize("language", sorted(SPECS))
@pytest.mark.parametrize(("accuracy", "status"), [(0.93, 0), (0.85, 1)])
def test_a_number_goes_in_and_comes_back_a_number(project, language, accuracy, status):
    result = run(project, SPECS[language], accuracy)
    assert result.exit_code == status, result.stderr
    if status == 0:
        assert json.loads(result.stdout)["stored"] == {"accuracy": accuracy, "epochs": 8, "f1": accuracy}
    else:
        assert "Dropped" in result.stderr                               # compared as numbers, not text


@pytest.mark.parametrize("language", sorted(SPECS))
@pytest.mark.parametrize("accuracy", ["0.93", True, None, {"value": 0.93}])
def test_a_value_that_is_not_a_number_fails_the_run_instead_of_being_stored(project, language, accuracy):
    result = run(project, SPECS[language], accuracy)
    assert result.exit_code == 1
    if language == "JSONPath":
        assert "The parameter cannot be converted to a numeric value" in result.stderr
    else:
        assert "DynamoDB number attribute accuracy needs a number, not" in result.stderr


@pytest.mark.parametrize(("language", "literal"), [("JSONPath", "abc"), ("JSONata", "'1,5'")])
def test_a_literal_that_is_not_a_number_is_a_validate_error_at_its_place(project, language, literal):
    spec = textwrap.dedent(SPECS[language].replace("epochs: {N: 8}", f"epochs: {{N: {literal}}}"))
    (project / "workflows" / "record.yaml").write_text(spec)
    result = CliRunner().invoke(main, ["validate"], catch_exceptions=False)
    assert result.exit_code == 2
    line = next(number for number, text in enumerate(spec.splitlines(), 1) if "{N: " + literal in text)
    column = spec.splitlines()[line - 1].index("{N: " + literal) + len("{N: ") + 1
    assert f"workflows/record.yaml:{line}:{column}: DynamoDB number attribute value \"{literal.strip(chr(39))}\" " \
           "is not a number" in result.stderr, result.stderr


def test_the_compiled_forms(project):
    spec = JSONPATH.replace("epochs: {N: 8}", "epochs: {N: 8}, copy: {N.$: $.previous.Item.count.N}")
    (project / "workflows" / "record.yaml").write_text(textwrap.dedent(spec))
    assert CliRunner().invoke(main, ["compile"], catch_exceptions=False).exit_code == 0
    states = json.loads((project / "build/statemachines/record.asl.json").read_text())["States"]
    item = states["Record"]["Parameters"]["Item"]
    assert item["accuracy"] == {"N.$": "States.JsonToString($.accuracy)"}   # the number's own text
    assert item["epochs"] == {"N": "8"}
    assert item["copy"] == {"N.$": "$.previous.Item.count.N"}              # another attribute's text, as it is
    assert states["Read back"]["ResultSelector"]["accuracy.$"] == "States.StringToJson($.Item.accuracy.N)"
