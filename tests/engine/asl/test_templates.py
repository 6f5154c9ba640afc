"""Payload templates (Parameters, Arguments, Output …) with their dynamic parts nested at any depth, and
the reference paths ResultPath writes to: engine/asl/payload.py."""
import pytest
from aslrun import one_state, output, run

from engine.asl.errors import DefinitionError

INPUT = {"a": 1, "b": "two", "c": [3]}


@pytest.mark.parametrize(("parameters", "expected"), [
    # A path one object down, beside constants that must stay as written.
    ({"outer": {"v.$": "$.a", "k": "$.a"}, "n": 0}, {"outer": {"v": 1, "k": "$.a"}, "n": 0}),
    # Two objects down: every enclosing object is dynamic, however constant its other fields.
    ({"x": {"y": {"z.$": "$.b"}}, "k": [1]}, {"x": {"y": {"z": "two"}}, "k": [1]}),
    # A dynamic object inside a list, after a constant one.
    ({"xs": [{"k": 1}, {"v.$": "$.c[0]"}]}, {"xs": [{"k": 1}, {"v": 3}]}),
    # A list of lists: only the inner list's object is dynamic.
    ({"xs": [[0, {"v.$": "$.a"}], "$.a"]}, {"xs": [[0, {"v": 1}], "$.a"]}),
    # Only constants, nested: the template itself.
    ({"xs": [{"k.$x": 1}, [None]], "o": {}}, {"xs": [{"k.$x": 1}, [None]], "o": {}}),
])
def test_jsonpath_parameters_evaluate_paths_at_any_depth(parameters, expected):
    assert output(one_state({"Type": "Pass", "Parameters": parameters}), INPUT) == expected


@pytest.mark.parametrize("parameters", [{"v.$": 5}, {"outer": [{"v.$": ["$.a"]}]}])
def test_a_path_field_whose_value_is_not_text_is_rejected_with_its_place(parameters):
    with pytest.raises(DefinitionError) as info:
        run(one_state({"Type": "Pass", "Parameters": parameters}), INPUT)
    assert (info.value.state, info.value.field) == ("S", "Parameters")
    assert info.value.message == "The value of 'v.$' must be a JSONPath or an intrinsic function"


def jsonata(state: dict) -> dict:
    return one_state(state, QueryLanguage="JSONata")


@pytest.mark.parametrize(("template", "expected"), [
    ({"o": {"v": "{% $states.input.a %}", "k": "$states.input.a"}}, {"o": {"v": 1, "k": "$states.input.a"}}),
    ({"x": {"y": {"z": "{% $states.input.b %}"}}, "k": [1]}, {"x": {"y": {"z": "two"}}, "k": [1]}),
    ({"xs": [{"k": 1}, "{% $states.input.c[0] %}", "lit"]}, {"xs": [{"k": 1}, 3, "lit"]}),
    ({"xs": [[0, ["{% $states.input.a + 1 %}"]], True]}, {"xs": [[0, [2]], True]}),
    ({"xs": [{"k": 1}, [None]], "o": {}}, {"xs": [{"k": 1}, [None]], "o": {}}),
])
def test_jsonata_output_evaluates_expressions_at_any_depth(template, expected):
    assert output(jsonata({"Type": "Pass", "Output": template}), INPUT) == expected


@pytest.mark.parametrize(("template", "field"), [
    ({"result": "{% $states.input.absent %}"}, "Output/result"),  # recorded on AWS
    # Below it AWS adds "/key" per object and "[i]" per list item (measured by another emulator's
    # authors against AWS: 'Output/a/b[0]').
    ({"a": {"b": [1, "{% $states.input.absent %}"]}}, "Output/a/b[1]"),
    ({"a": [[0, {"b": "{% $states.input.absent %}"}]]}, "Output/a[0][1]/b"),
])
def test_a_nested_jsonata_expression_that_returns_nothing_names_its_field(template, field):
    result = run(jsonata({"Type": "Pass", "Output": template}), INPUT)
    assert (result.status, result.error) == ("FAILED", "States.QueryEvaluationError")
    assert result.cause == (
        "An error occurred while executing the state 'S' (entered at the event id #2). The JSONata expression "
        f"'$states.input.absent' specified for the field '{field}' returned nothing (undefined).")


@pytest.mark.parametrize(("result_path", "expected"), [
    ("$.a.b", {"a": {"b": "r"}}),
    ("$['a'].b", {"a": {"b": "r"}}),
    ('$["a"]["b c"]', {"a": {"b c": "r"}}),
    ("$.xs[1]['k.j']", {"a": {}, "xs": [0, {"k.j": "r"}]}),
])
def test_result_path_steps_in_dot_and_bracket_notation(result_path, expected):
    given = {"a": {}, "xs": [0, {}]}
    assert output(one_state({"Type": "Pass", "Result": "r", "ResultPath": result_path}), given) == (
        {**given, **expected})


@pytest.mark.parametrize(("result_path", "message"), [
    ("a.b", "The value for the field 'ResultPath' must be a valid JSONPath: a.b"),
    ("$$.Execution", "The value for the field 'ResultPath' must be a valid JSONPath: $$.Execution"),
    ("$.a..b", "The value for the field 'ResultPath' must be a valid reference path: $.a..b"),
    ("$.a[*]", "The value for the field 'ResultPath' must be a valid reference path: $.a[*]"),
])
def test_a_result_path_that_is_no_reference_path_says_why(result_path, message):
    with pytest.raises(DefinitionError) as info:
        run(one_state({"Type": "Pass", "Result": 1, "ResultPath": result_path}), {})
    assert (info.value.state, info.value.field, info.value.message) == ("S", "ResultPath", message)
