import json

import pytest
from aslrun import one_state, output, run

from engine import execute
from engine.asl.errors import DATA_LIMIT_EXCEEDED, RUNTIME, DefinitionError


def test_pass_copies_input_by_default():
    assert output(one_state({"Type": "Pass"}), {"a": 1}) == {"a": 1}


def test_no_input_means_empty_object():
    assert output(one_state({"Type": "Pass"})) == {}


def test_result_replaces_input_and_is_not_a_template():
    result = {"x.$": "$.a", "n": [1, 2]}
    assert output(one_state({"Type": "Pass", "Result": result}), {"a": 1}) == result


def test_input_path_parameters_result_path_output_path_order():
    state = {
        "Type": "Pass",
        "InputPath": "$.inner",
        "Parameters": {"doubled.$": "States.MathAdd($.v, $.v)", "const": "c", "ctx.$": "$$.State.Name"},
        "ResultPath": "$.inner.result",
        "OutputPath": "$.inner",
    }
    assert output(one_state(state), {"inner": {"v": 2}, "other": 0}) == {
        "v": 2,
        "result": {"doubled": 4, "const": "c", "ctx": "S"},
    }


def test_null_paths_discard():
    state = {"Type": "Pass", "Result": {"r": 1}, "ResultPath": None}
    assert output(one_state(state), {"a": 1}) == {"a": 1}
    assert output(one_state({"Type": "Pass", "InputPath": None}), {"a": 1}) == {}
    assert output(one_state({"Type": "Pass", "OutputPath": None}), {"a": 1}) == {}


def then_show_execution_input(state: dict) -> dict:
    """`state`, then a Pass that outputs the engine's own execution input (`$$.Execution.Input`)."""
    return {"StartAt": "S", "States": {
        "S": dict(state, Next="Input"),
        "Input": {"Type": "Pass", "Parameters": {"changed.$": "$", "input.$": "$$.Execution.Input"}, "End": True},
    }}


def test_result_path_creates_missing_objects_without_touching_the_input():
    # The input object the engine holds is the one $$.Execution.Input shows: a ResultPath that wrote
    # into it in place would show the result there too.
    definition = then_show_execution_input({"Type": "Pass", "Result": 5, "ResultPath": "$.a.b.c"})
    assert output(definition, {"a": {"keep": True}}) == {
        "changed": {"a": {"keep": True, "b": {"c": 5}}},
        "input": {"a": {"keep": True}},
    }


@pytest.mark.parametrize(("value", "result_path", "changed"), [
    ([1, [2, 3]], "$[1][0]", [1, ["r", 3]]),
    ({"xs": [{"n": 1}, {"n": 2}]}, "$.xs[1].n", {"xs": [{"n": 1}, {"n": "r"}]}),
    ({"xs": [0, 1]}, "$.xs[0]", {"xs": ["r", 1]}),
])
def test_result_path_into_a_list_copies_it(value, result_path, changed):
    definition = then_show_execution_input({"Type": "Pass", "Result": "r", "ResultPath": result_path})
    assert output(definition, value) == {"changed": changed, "input": value}


def test_result_path_in_one_parallel_branch_leaves_the_other_branch_input_alone():
    # Branches run one after another on the very same input object; the second must not see the first's write.
    def write(name):
        return {"StartAt": name, "States": {name: {"Type": "Pass", "Result": "r", "ResultPath": "$.xs[0]",
                                                   "End": True}}}

    read = {"StartAt": "R", "States": {"R": {"Type": "Pass", "End": True}}}
    definition = one_state({"Type": "Parallel", "Branches": [write("W1"), read, write("W2")]})
    assert output(definition, {"xs": [0, 1]}) == [{"xs": ["r", 1]}, {"xs": [0, 1]}, {"xs": ["r", 1]}]


def test_result_path_into_non_object_is_result_path_match_failure():
    result = run(one_state({"Type": "Pass", "Result": 1, "ResultPath": "$.x"}), [1, 2])
    assert result.status == "FAILED"
    assert result.error == "States.ResultPathMatchFailure"


def test_missing_parameter_path_is_runtime_error_with_aws_text():
    result = run(one_state({"Type": "Pass", "Parameters": {"v.$": "$.missing"}}), {})
    assert (result.status, result.error) == ("FAILED", RUNTIME)
    assert result.cause == (
        "An error occurred while executing the state 'S' (entered at the event id #2). The JSONPath "
        "'$.missing' specified for the field 'v.$' could not be found in the input '<json-input:1>'"
    )


def test_missing_input_path_names_the_normalized_path():
    result = run(one_state({"Type": "Pass", "InputPath": "$.nope"}), {})
    assert result.cause.endswith("Invalid path '$.nope' : No results for path: $['nope']")


def test_output_over_256_kib_is_data_limit_exceeded():
    result = run(one_state({"Type": "Pass", "Result": "x" * (256 * 1024 + 1)}))
    assert (result.status, result.error) == ("FAILED", DATA_LIMIT_EXCEEDED)
    assert "returned a result with a size exceeding" in result.cause


def test_context_object_fields():
    ctx = output(one_state({"Type": "Pass", "InputPath": "$$"}), {"k": 1},
                 state_machine_name="m", execution_name="e", account="222222222222", region="eu-west-1")
    assert ctx["Execution"]["Id"] == "arn:aws:states:eu-west-1:222222222222:execution:m:e"
    assert ctx["Execution"]["Input"] == {"k": 1}
    assert ctx["Execution"]["Name"] == "e"
    assert ctx["Execution"]["RedriveCount"] == 0
    assert ctx["StateMachine"] == {"Id": "arn:aws:states:eu-west-1:222222222222:stateMachine:m", "Name": "m"}
    assert ctx["State"]["Name"] == "S"
    assert ctx["State"]["EnteredTime"].endswith("Z")


@pytest.mark.parametrize(("value", "result_path"), [
    ([1, 2], "$.x"),                 # a field of a list
    ({"a": 5}, "$.a.b"),             # a field of a number, one level down
    ({"xs": [0, 1]}, "$.xs[2]"),     # past the end of a list
    ({"a": {"k": 1}}, "$.a[0]"),     # an index into an object
    ({"xs": [5]}, "$.xs[0].a"),      # a field of a number inside a list
])
def test_result_path_that_does_not_fit_the_input_fails_with_both_in_the_cause(value, result_path):
    result = run(one_state({"Type": "Pass", "Result": 1, "ResultPath": result_path}), value)
    assert (result.status, result.error) == ("FAILED", "States.ResultPathMatchFailure")
    assert result.cause == f'Unable to apply ResultPath "{result_path}" to input "{json.dumps(value, separators=(",", ":"))}"'


def test_result_path_into_a_null_input_fails():
    result = execute(one_state({"Type": "Pass", "Result": 1, "ResultPath": "$.x"}), "null")
    assert (result.error, result.cause) == ("States.ResultPathMatchFailure",
                                           'Unable to apply ResultPath "$.x" to input "null"')


def test_result_path_creates_a_missing_object_one_level_down():
    assert output(one_state({"Type": "Pass", "Result": 1, "ResultPath": "$.a.b"}), {"other": 0}) == {
        "other": 0, "a": {"b": 1}}


def test_a_result_path_that_is_not_a_reference_path_is_rejected_with_its_place():
    with pytest.raises(DefinitionError) as info:
        run(one_state({"Type": "Pass", "Result": 1, "ResultPath": "$.a[?(@.x)]"}), {})
    assert (info.value.state, info.value.field) == ("S", "ResultPath")
