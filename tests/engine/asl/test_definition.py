import pytest
from aslrun import event_types, one_state, run

from engine import execute
from engine.asl import DefinitionError, InvalidExecutionInput


@pytest.mark.parametrize(
    ("definition", "state", "field"),
    [
        ({"StartAt": "X", "States": {"A": {"Type": "Succeed"}}}, None, "StartAt"),
        ({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}, "A", "Next"),
        ({"StartAt": "A", "States": {"A": {"Type": "Pass"}}}, "A", "Next"),
        ({"StartAt": "A", "States": {"A": {"Type": "Bogus", "End": True}}}, "A", "Type"),
        ({"StartAt": "A", "States": {"A": {"Type": "Wait", "End": True}}}, "A", "Seconds"),
        ({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True, "Arguments": {}}}}, "A", "Arguments"),
        ({"StartAt": "A", "QueryLanguage": "JSONata",
          "States": {"A": {"Type": "Pass", "End": True, "Parameters": {}}}}, "A", "Parameters"),
        ({"StartAt": "A", "States": {"A": {"Type": "Task", "End": True}}}, "A", "Resource"),
        ({"StartAt": "A", "States": {"A": {"Type": "Choice", "Choices": [{"Next": "A"}]}}}, "A", "Choices"),
        ({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True,
                                           "Parameters": {"x.$": "not a path"}}}}, "A", "x.$"),
        ({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True,
                                           "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["E"]}]}}},
         "A", "Retry"),
        ({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True,
                                           "Catch": [{"ErrorEquals": ["States.ALL", "E"], "Next": "A"}]}}},
         "A", "Catch"),
        # Found by the mutation property test: an empty list is no state name (and is unhashable).
        ({"StartAt": "A", "QueryLanguage": "JSONata",
          "States": {"A": {"Type": "Choice", "Default": [], "Choices": [{"Condition": "{% true %}", "Next": "B"}]},
                     "B": {"Type": "Succeed"}}}, "A", "Default"),
    ],
)
def test_rejected_definitions_name_state_and_field(definition, state, field):
    with pytest.raises(DefinitionError) as info:
        execute(definition, "{}")
    assert info.value.state == state
    assert info.value.field == field


def test_definition_as_json_text():
    assert execute('{"StartAt":"A","States":{"A":{"Type":"Succeed"}}}', None).status == "SUCCEEDED"


def test_invalid_input_is_rejected():
    with pytest.raises(InvalidExecutionInput):
        execute(one_state({"Type": "Pass"}), "{not json")


def test_history_ids_chain_and_listener_sees_every_event():
    seen = []
    result = run(one_state({"Type": "Pass"}), {"a": 1}, listener=seen.append)
    assert seen == result.history
    assert [e["id"] for e in result.history] == [1, 2, 3, 4]
    assert [e["previousEventId"] for e in result.history] == [0, 1, 2, 3]
    assert event_types(result) == ["ExecutionStarted", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"]
    assert result.history[1]["stateEnteredEventDetails"] == {"name": "S", "input": '{"a":1}',
                                                             "inputDetails": {"truncated": False}}


def test_malformed_jsonata_names_state_and_field():
    definition = one_state({"Type": "Pass", "Assign": {"x": "{% 1 + %}"}}, QueryLanguage="JSONata")
    with pytest.raises(DefinitionError) as info:
        execute(definition, "{}")
    assert (info.value.state, info.value.field) == ("S", "Assign/x")


def test_state_names_are_unique_across_nested_programs():
    definition = {"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "P", "States": {"P": {"Type": "Succeed"}}}]}}}
    with pytest.raises(DefinitionError) as info:
        execute(definition, "{}")
    assert info.value.state == "P"


def test_compiled_machine_shares_no_objects_with_the_callers_dict():
    from aslrun import ScriptedDispatcher

    parameters = {"fixed": {"k": 1}}
    definition = one_state({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": parameters})
    d = ScriptedDispatcher({})
    execute(definition, "{}", dispatcher=d)
    assert d.calls[0].arguments == parameters
    assert d.calls[0].arguments is not parameters
    parameters["fixed"]["k"] = 2  # the caller edits its dict: the next run compiles the new definition
    execute(definition, "{}", dispatcher=d)
    assert d.calls[1].arguments == {"fixed": {"k": 2}}
