import json

from aslrun import one_state, output, run

from engine import execute


def test_assign_then_reference_in_paths_and_parameters():
    definition = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Assign": {"x": 1, "fromInput.$": "$.v"}, "Next": "B"},
            "B": {"Type": "Pass", "Parameters": {"x.$": "$x", "v.$": "$fromInput", "sum.$": "States.MathAdd($x, $x)"},
                  "End": True},
        },
    }
    assert output(definition, {"v": "in"}) == {"x": 1, "v": "in", "sum": 2}


def test_assign_evaluates_against_old_values_all_at_once():
    definition = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Assign": {"a": 1, "b": 2}, "Next": "B"},
            "B": {"Type": "Pass", "Assign": {"a.$": "$b", "b.$": "$a"}, "Next": "C"},
            "C": {"Type": "Pass", "Parameters": {"a.$": "$a", "b.$": "$b"}, "End": True},
        },
    }
    assert output(definition, {}) == {"a": 2, "b": 1}


def test_assigned_variables_appear_in_exit_event():
    result = run(one_state({"Type": "Pass", "Assign": {"v": {"k": 1}}}), {})
    exited = result.history[2]["stateExitedEventDetails"]
    assert exited["assignedVariables"] == {"v": '{"k":1}'}


def test_inner_scope_reads_outer_variables_but_does_not_leak_out():
    definition = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Assign": {"outer": 10}, "Next": "M"},
            "M": {"Type": "Map", "Next": "C", "ItemProcessor": {"StartAt": "I", "States": {
                "I": {"Type": "Pass", "Assign": {"inner.$": "$outer"}, "Parameters": {"o.$": "$outer"}, "End": True}}}},
            "C": {"Type": "Pass", "Parameters": {"seen.$": "$inner"}, "End": True},
        },
    }
    result = run(definition, [1])
    assert (result.status, result.error) == ("FAILED", "States.Runtime")  # $inner is not visible outside


def test_unknown_variable_is_runtime_error():
    result = run(one_state({"Type": "Pass", "Parameters": {"v.$": "$nope"}}), {})
    assert (result.status, result.error) == ("FAILED", "States.Runtime")


def test_jsonata_output_assign_and_states_context():
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Assign": {"n": "{% $states.input.n * 2 %}"},
                  "Output": {"name": "{% $states.context.State.Name %}", "nBefore": "{% $exists($n) %}"},
                  "Next": "B"},
            "B": {"Type": "Pass", "Output": "{% $n %}", "End": True},
        },
    }
    result = run(definition, {"n": 2})
    assert result.output == "4"
    assert result.history[2]["stateExitedEventDetails"]["output"] == '{"name":"A","nBefore":false}'


def test_jsonata_undefined_output_is_query_evaluation_error_naming_the_field():
    definition = one_state({"Type": "Pass", "Output": {"result": "{% $doesNotExist %}"}}, QueryLanguage="JSONata")
    result = run(definition, {})
    assert (result.status, result.error) == ("FAILED", "States.QueryEvaluationError")
    assert result.cause == (
        "An error occurred while executing the state 'S' (entered at the event id #2). The JSONata expression "
        "'$doesNotExist' specified for the field 'Output/result' returned nothing (undefined)."
    )


def test_jsonata_map_items_and_item_selector():
    definition = one_state({
        "Type": "Map", "Items": "{% $states.input.xs %}",
        "ItemSelector": {"v": "{% $states.context.Map.Item.Value * 10 %}", "i": "{% $states.context.Map.Item.Index %}"},
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
    }, QueryLanguage="JSONata")
    assert output(definition, {"xs": [1, 2]}) == [{"v": 10, "i": 0}, {"v": 20, "i": 1}]


def test_jsonata_map_items_must_be_an_array():
    definition = one_state({"Type": "Map", "Items": "{% 1 %}",
                            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}},
                           QueryLanguage="JSONata")
    result = run(definition, {})
    assert result.cause.endswith(
        "The JSONata expression '1' specified for the field 'Items' returned an unexpected result type. "
        "Expected 'array', but was 'number' for value: 1"
    )


def test_state_level_query_language_mixes_with_jsonpath():
    definition = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": {"v": "{% $states.input.a + 1 %}"},
                  "Next": "B"},
            "B": {"Type": "Pass", "Parameters": {"w.$": "$.v"}, "End": True},
        },
    }
    assert output(definition, {"a": 1}) == {"w": 2}


def test_unicode_variable_names_are_assigned_and_read_in_both_languages():
    jsonpath = {"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"größe": 3, "変数": {"a": 1}}, "Next": "B"},
        "B": {"Type": "Pass", "End": True, "Parameters": {
            "v.$": "$größe", "w.$": "$変数.a", "f.$": "States.Format('{}', $größe)"}}}}
    assert json.loads(execute(jsonpath, "{}").output) == {"v": 3, "w": 1, "f": "3"}
    jsonata = {"QueryLanguage": "JSONata", "StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"größe": 3}, "Next": "B"},
        "B": {"Type": "Pass", "Output": "{% $größe + 1 %}", "End": True}}}
    assert execute(jsonata, "{}").output == "4"
