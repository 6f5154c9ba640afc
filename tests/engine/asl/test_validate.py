"""The structural ASL validator: each rule, shown with the smallest broken document that breaks it."""

import copy

import pytest

from engine.asl.validate import ASLError, check_definition


def machine(**states):
    """A machine whose StartAt is the first state given."""
    return {"StartAt": next(iter(states)), "States": states}


def task(**fields):
    return {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:listBuckets", **fields}


def messages(definition):
    return [str(e) for e in check_definition(definition)]


VALID = {
    "Comment": "uses every state type",
    "StartAt": "Start",
    "States": {
        "Start": task(Next="Route", Retry=[{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}],
                      Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Broken", "ResultPath": "$.error"}]),
        "Route": {"Type": "Choice", "Choices": [
            {"And": [{"Variable": "$.n", "NumericGreaterThan": 1}, {"Not": {"Variable": "$.s", "IsNull": True}}],
             "Next": "Pause"},
            {"Variable": "$.s", "StringMatches": "ok*", "Next": "Each"}], "Default": "Broken"},
        "Pause": {"Type": "Wait", "Seconds": 5, "Next": "Both"},
        "Both": {"Type": "Parallel", "Next": "Each", "Branches": [
            {"StartAt": "Left", "States": {"Left": {"Type": "Pass", "End": True}}},
            {"StartAt": "Right", "States": {"Right": {"Type": "Succeed"}}}]},
        "Each": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2, "Next": "Done",
                 "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "One",
                                   "States": {"One": task(End=True)}}},
        "Done": {"Type": "Succeed"},
        "Broken": {"Type": "Fail", "Error": "Broken", "Cause": "it broke"},
    },
}


def test_a_valid_machine_using_every_state_type_has_no_errors():
    assert check_definition(VALID) == []


def test_errors_name_the_state_path_and_field():
    definition = machine(A=task(Next="Missing"))
    assert check_definition(definition) == [
        ASLError("$.States.A", "Next", "Missing 'Next' target: Missing (no state of that name in this scope)"),
        ASLError("$", "States", "No terminal state: no state ends this scope (End: true, Succeed or Fail)"),
    ]
    assert str(check_definition(definition)[0]) == (
        "$.States.A.Next: Missing 'Next' target: Missing (no state of that name in this scope)")


def test_start_at_must_name_a_state():
    assert "$.StartAt: names 'Nope', which is not a state in this scope" in messages(
        {"StartAt": "Nope", "States": {"A": {"Type": "Succeed"}}})


def test_default_and_catch_next_must_resolve():
    definition = machine(
        A=task(Next="C", Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Gone"}]),
        C={"Type": "Choice", "Choices": [{"Variable": "$.x", "BooleanEquals": True, "Next": "D"}],
           "Default": "Elsewhere"},
        D={"Type": "Succeed"})
    assert messages(definition) == [
        "$.States.A.Catch[0].Next: Missing 'Next' target: Gone (no state of that name in this scope)",
        "$.States.C.Default: Missing 'Next' target: Elsewhere (no state of that name in this scope)",
    ]


def test_next_cannot_leave_a_parallel_branch():
    definition = machine(
        P={"Type": "Parallel", "Next": "After", "Branches": [
            {"StartAt": "Inner", "States": {"Inner": {"Type": "Pass", "Next": "After"}}}]},
        After={"Type": "Succeed"})
    assert "$.States.P.Branches[0].States.Inner.Next: Missing 'Next' target: After (no state of that name in this scope)" \
        in messages(definition)


def test_next_inside_a_map_processor_resolves_in_that_scope():
    definition = machine(
        M={"Type": "Map", "End": True, "ItemProcessor": {"StartAt": "X", "States": {
            "X": {"Type": "Pass", "Next": "Y"}}}})
    assert messages(definition)[0] == (
        "$.States.M.ItemProcessor.States.X.Next: Missing 'Next' target: Y (no state of that name in this scope)")


def test_unreachable_state():
    definition = machine(A={"Type": "Succeed"}, Orphan={"Type": "Succeed"})
    assert messages(definition) == ["$.States.Orphan: State 'Orphan' is not reachable"]


def test_state_names_are_unique_across_nested_scopes():
    definition = machine(
        Same={"Type": "Map", "End": True, "ItemProcessor": {"StartAt": "Same", "States": {
            "Same": {"Type": "Succeed"}}}})
    assert messages(definition) == [
        ("$.States.Same.ItemProcessor.States.Same: state name is also defined at $.States; "
        "state names must be unique in the whole state machine")]


def test_loop_without_exit_is_refused_only_in_compiled_output():
    definition = machine(S={"Type": "Choice", "Choices": [{"Variable": "$.go", "BooleanEquals": True, "Next": "A"}],
                            "Default": "C"},
                         A={"Type": "Pass", "Next": "B"}, B={"Type": "Pass", "Next": "A"}, C={"Type": "Succeed"})
    assert messages(definition) == []  # AWS accepts it: the execution loops until it times out
    errors = [str(e) for e in check_definition(definition, endless_loops=False)]
    assert "$.States.A: no path from this state reaches a terminal state" in errors
    assert "$.States.B: no path from this state reaches a terminal state" in errors


@pytest.mark.parametrize("state, expected", [
    ({"Type": "Pass", "Next": "End", "End": True}, "$.States.A.Next: a state cannot have both Next and End: true"),
    ({"Type": "Pass"}, "$.States.A.Next: a Pass state needs Next or End: true"),
    ({"Type": "Succeed", "End": True}, "$.States.A.End: not allowed in a Succeed state"),
    ({"Type": "Fail", "Next": "End"}, "$.States.A.Next: not allowed in a Fail state"),
    ({"Type": "Choice", "Choices": [{"Variable": "$.a", "IsPresent": True, "Next": "End"}], "End": True},
     "$.States.A.End: not allowed in a Choice state"),
])
def test_terminal_states(state, expected):
    definition = {"StartAt": "A", "States": {"A": state, "End": {"Type": "Succeed"}}}
    assert expected in messages(definition)


@pytest.mark.parametrize("state, expected", [
    (task(End=True, Result={"a": 1}), "$.States.A.Result: not allowed in a Task state"),
    ({"Type": "Fail", "ResultPath": "$.x"}, "$.States.A.ResultPath: not allowed in a Fail state"),
    ({"Type": "Succeed", "ResultPath": "$.x"}, "$.States.A.ResultPath: not allowed in a Succeed state"),
    ({"Type": "Wait", "Seconds": 1, "End": True, "Parameters": {}},
     "$.States.A.Parameters: not allowed in a Wait state"),
    (task(End=True, Arguments={}), "$.States.A.Arguments: not allowed in a JSONPath state (it is a JSONata field)"),
    ({"Type": "Fail", "Assign": {"x": 1}}, "$.States.A.Assign: not allowed in a Fail state"),
    ({"Type": "Fail", "InputPath": "$"}, "$.States.A.InputPath: not allowed in a Fail state"),
    ({"Type": "Pass", "End": True, "ResultSelector": {}}, "$.States.A.ResultSelector: not allowed in a Pass state"),
    (task(End=True, InputPath="items"), "$.States.A.InputPath: Invalid path 'items': a path must start with '$'"),
    (task(End=True, Parameters={"Bucket.$": 3}),
     "$.States.A.Parameters.Bucket.$: a key ending in .$ needs a JSONPath or an intrinsic function"),
    (task(End=True, TimeoutSeconds=0), "$.States.A.TimeoutSeconds: must be a positive integer"),
    (task(End=True, TimeoutSeconds=10, HeartbeatSeconds=10),
     "$.States.A.HeartbeatSeconds: must be smaller than TimeoutSeconds"),
    (task(End=True, TimeoutSeconds=10, TimeoutSecondsPath="$.t"),
     "$.States.A.TimeoutSeconds: use either TimeoutSeconds or TimeoutSecondsPath, not both"),
    ({"Type": "Task", "End": True}, "$.States.A.Resource: a Task needs a Resource ARN"),
    ({"Type": "Wait", "Seconds": 1, "SecondsPath": "$.s", "End": True},
     ("$.States.A.Seconds: a Wait needs exactly one of Seconds, SecondsPath, Timestamp, TimestampPath "
     "(has Seconds, SecondsPath)")),
    ({"Type": "Fail", "Error": "E", "ErrorPath": "$.e"}, "$.States.A.Error: use either Error or ErrorPath, not both"),
    ({"Type": "Teleport", "End": True}, ("$.States.A.Type: must be one of Pass, Task, Choice, Wait, Succeed, Fail, "
     "Parallel, Map, not 'Teleport'")),
])
def test_field_combinations(state, expected):
    assert expected in messages({"StartAt": "A", "States": {"A": state}})


def test_jsonata_states_reject_jsonpath_fields_and_accept_their_own():
    definition = {"QueryLanguage": "JSONata", "StartAt": "A", "States": {
        "A": task(Arguments={"Bucket": "{% $states.input.b %}"}, Output="{% $states.result %}",
                  TimeoutSeconds="{% $states.input.t %}", Next="B"),
        "B": {"Type": "Choice", "Choices": [{"Condition": "{% $states.input.n > 1 %}", "Next": "C"}],
              "Default": "C"},
        "C": task(Parameters={}, ResultPath="$.x", End=True)}}
    assert messages(definition) == [
        "$.States.C.Parameters: not allowed in a JSONata state (it is a JSONPath field)",
        "$.States.C.ResultPath: not allowed in a JSONata state (it is a JSONPath field)",
    ]


def test_jsonata_machine_cannot_switch_a_state_back_to_jsonpath():
    definition = {"QueryLanguage": "JSONata", "StartAt": "A",
                  "States": {"A": {"Type": "Pass", "QueryLanguage": "JSONPath", "End": True}}}
    assert messages(definition) == [
        "$.States.A.QueryLanguage: a JSONata state machine cannot have JSONPath states"]


@pytest.mark.parametrize("rule, expected", [
    ({"Variable": "$.a", "NumericEquals": "1", "Next": "E"}, "$.States.A.Choices[0].NumericEquals: must be a number"),
    ({"Variable": "$.a", "StringEquals": 1, "Next": "E"}, "$.States.A.Choices[0].StringEquals: must be a string"),
    ({"Variable": "$.a", "Next": "E"}, "$.States.A.Choices[0]: a comparison needs exactly one operator (has 0)"),
    ({"Variable": "a", "IsNull": True, "Next": "E"},
     "$.States.A.Choices[0].Variable: a comparison needs a Variable path starting with $"),
    ({"Variable": "$.a", "IsNull": True}, "$.States.A.Choices[0].Next: every top-level choice rule needs Next"),
    ({"And": [{"Variable": "$.a", "IsNull": True, "Next": "E"}], "Next": "E"},
     "$.States.A.Choices[0].And[0].Next: nested choice rules cannot have Next"),
    ({"Or": [], "Next": "E"}, "$.States.A.Choices[0].Or: must be a non-empty list of rules"),
    ({"Variable": "$.a", "NumericEqualsPath": "x", "Next": "E"},
     "$.States.A.Choices[0].NumericEqualsPath: must be a valid JSONPath"),
])
def test_choice_rules(rule, expected):
    definition = {"StartAt": "A", "States": {"A": {"Type": "Choice", "Choices": [rule], "Default": "E"},
                                             "E": {"Type": "Succeed"}}}
    assert expected in messages(definition)


@pytest.mark.parametrize("retry, expected", [
    ([{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}],
     "$.States.A.Retry[0].ErrorEquals: States.ALL must be alone and in the last element"),
    ([{"ErrorEquals": ["States.ALL", "X"]}],
     "$.States.A.Retry[0].ErrorEquals: States.ALL must be alone and in the last element"),
    ([{"ErrorEquals": []}], "$.States.A.Retry[0].ErrorEquals: must be a non-empty list of error names"),
    ([{"ErrorEquals": ["X"], "BackoffRate": 0.5}], "$.States.A.Retry[0].BackoffRate: must be a number >= 1.0"),
    ([{"ErrorEquals": ["X"], "IntervalSeconds": 0}], "$.States.A.Retry[0].IntervalSeconds: must be a positive integer"),
    ([{"ErrorEquals": ["X"], "JitterStrategy": "SOME"}], "$.States.A.Retry[0].JitterStrategy: must be FULL or NONE"),
    ([{"ErrorEquals": ["X"], "Next": "A"}], "$.States.A.Retry[0].Next: unknown field in a retrier"),
])
def test_retriers(retry, expected):
    assert expected in messages(machine(A=task(End=True, Retry=retry)))


def test_catcher_fields_depend_on_query_language():
    definition = machine(A=task(End=True, Catch=[{"ErrorEquals": ["X"], "Next": "A", "Output": "{% 1 %}"}]))
    assert "$.States.A.Catch[0].Output: not allowed in a JSONPath catcher" in messages(definition)


def test_distributed_map_fields():
    inline = machine(M={"Type": "Map", "End": True, "ItemReader": {"Resource": "arn:aws:states:::s3:getObject"},
                        "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Succeed"}}}})
    assert "$.States.M.ItemReader: only a distributed Map (ProcessorConfig Mode DISTRIBUTED) has this" \
        in messages(inline)

    distributed = copy.deepcopy(inline)
    distributed["States"]["M"]["ItemProcessor"]["ProcessorConfig"] = {"Mode": "DISTRIBUTED"}
    assert messages(distributed) == [
        ("$.States.M.ItemProcessor.ProcessorConfig.ExecutionType: "
        "a distributed Map needs ExecutionType STANDARD or EXPRESS")]
    distributed["States"]["M"]["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] = "STANDARD"
    assert messages(distributed) == []


def test_map_needs_exactly_one_processor():
    assert messages(machine(M={"Type": "Map", "End": True})) == [
        "$.States.M.ItemProcessor: a Map needs exactly one of ItemProcessor or Iterator"]


def test_state_name_length():
    name = "x" * 81
    assert messages({"StartAt": name, "States": {name: {"Type": "Succeed"}}}) == [
        f"$.States.{name}: state names are at most 80 characters"]


def test_assign_takes_variable_names():
    definition = machine(A={"Type": "Pass", "End": True, "Assign": {"ok": 1, "count.$": "$.n", "2bad": 1,
                                                                     "states": 2}})
    assert messages(definition) == [
        ("$.States.A.Assign: '2bad' is not a variable name (a Unicode identifier of at most 80 characters, not "
        "'states')"),
        ("$.States.A.Assign: 'states' is not a variable name (a Unicode identifier of at most 80 characters, not "
        "'states')"),
    ]


# -- what AWS refuses that the validator once missed (each found in the public suites) ---------------

def pass_state(**fields):
    return {"Type": "Pass", "End": True, **fields}


@pytest.mark.parametrize("resource, problem", [
    ("arn:aws:states:::lambda:invoke", None),
    ("arn:aws:lambda:us-east-1:111111111111:function:f", None),
    ("arn:aws:lambda:us-east-1:111111111111:function:f:live", None),
    ("arn:aws:lambda:us-east-1:111111111111:function:f:$LATEST", None),
    ("${GreetFunctionArn}", None),
    ("arn:${AWS::Partition}:states:::lambda:invoke", None),
    ("${lambdaArn", "unclosed ${...} placeholder"),
    ("foo:bar", "Value is not a valid resource ARN"),
    ("arn:aws:lambda:us-east-1:111111111111:function:f:", "not a valid Lambda function ARN"),
    ("arn:aws:lambda:us-east-1:111111111111:function:f:$*#", "not a valid Lambda function ARN"),
])
def test_resource_is_an_arn_or_a_deploy_time_placeholder(resource, problem):
    errors = messages(machine(A=task(End=True, Resource=resource)))
    if problem is None:
        assert errors == []
    else:
        assert len(errors) == 1 and problem in errors[0] and errors[0].startswith("$.States.A.Resource: ")


@pytest.mark.parametrize("credentials, ok", [
    ({"RoleArn": "arn:aws:iam::111111111111:role/r"}, True), ({"RoleArn.$": "$.role"}, True),
    ({"RoleArn.$": "States.Format('arn:aws:iam::{}:role/r', $.account)"}, True),
    (None, False), ("arn:aws:iam::111111111111:role/r", False), ({"roleArn": "x"}, False),
    ({"RoleArn": "a", "RoleArn.$": "$.b"}, False), ({"RoleArn.$": "not a path"}, False),
])
def test_credentials_name_one_role(credentials, ok):
    assert (messages(machine(A=task(End=True, Credentials=credentials))) == []) == ok


@pytest.mark.parametrize("template", [
    {"a": 1, "a.$": "$.x"}, {"nested": [{"b.$": "$.y", "b": 2}]},
])
def test_a_field_given_with_and_without_dotdollar_is_refused(template):
    errors = messages(machine(A=pass_state(Parameters=template)))
    assert len(errors) == 1 and "is given twice" in errors[0]


@pytest.mark.parametrize("fields, problem", [
    ({"ResultPath": "$foo"}, "must be a valid reference path"),
    ({"ResultPath": "$$.Execution"}, "must be a valid reference path"),
    ({"ResultPath": "$.a[*]"}, "must be a valid reference path"),
    ({"OutputPath": "$$23"}, "Invalid path '$$23'"),
    ({"InputPath": "$.a["}, "Invalid path '$.a['"),
    ({"Parameters": {"x.$": "States.Nope($.a)"}}, "unknown intrinsic function States.Nope"),
    ({"Parameters": {"x.$": "States.MathAdd(1, '-1')"}}, "must be a number, not a string"),
])
def test_paths_and_intrinsics_are_parsed_not_just_prefix_checked(fields, problem):
    errors = messages(machine(A=pass_state(**fields)))
    assert len(errors) == 1 and problem in errors[0], errors


@pytest.mark.parametrize("fields, ok", [
    ({"Output": "{% 1 + %}"}, False), ({"Output": "{% 10 %"}, False), ({"Output": {"a": ["x", "10 %}"]}}, False),
    ({"Assign": {"v": "{% $states.input.a %}"}, "Output": {"n": "{%1%}"}}, True),
    ({"Output": "{% \n 10 \n %}"}, True), ({"Output": "10 % of {it}"}, True),
])
def test_jsonata_expressions_must_parse(fields, ok):
    definition = {"QueryLanguage": "JSONata", **machine(A=pass_state(**fields))}
    assert (messages(definition) == []) == ok


def test_a_catchers_comment_is_prose_not_jsonata():
    catch = [{"ErrorEquals": ["States.ALL"], "Next": "B", "Comment": "was {% 1 + %}", "Output": "{% 1 + %}"}]
    definition = {"QueryLanguage": "JSONata", **machine(A=task(End=True, Catch=catch), B={"Type": "Succeed"})}
    assert [e.field for e in check_definition(definition)] == ["Catch[0].Output"]


def distributed(**fields):
    return {"Type": "Map", "End": True, **fields, "ItemProcessor": {
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
        "StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}}


def test_a_value_and_its_path_cannot_both_be_given_in_batcher_or_reader():
    batcher = distributed(ItemBatcher={"MaxItemsPerBatch": 2, "MaxItemsPerBatchPath": "$.n"})
    reader = distributed(ItemReader={"Resource": "arn:aws:states:::s3:getObject",
                                     "ReaderConfig": {"InputType": "CSV", "MaxItems": 1, "MaxItemsPath": "$.m"}})
    assert messages(machine(M=batcher)) == [
        "$.States.M.ItemBatcher.MaxItemsPerBatch: use either MaxItemsPerBatch or MaxItemsPerBatchPath, not both"]
    assert messages(machine(M=reader)) == [
        "$.States.M.ItemReader.ReaderConfig.MaxItems: use either MaxItems or MaxItemsPath, not both"]


def test_inline_map_shapes_aws_ran_are_accepted():
    inline = {"Type": "Map", "End": True, "ToleratedFailurePercentage": 10, "ToleratedFailureCount": 1,
              "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}}
    legacy = {"Type": "Map", "End": True, "Iterator": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "P",
                                                       "States": {"P": {"Type": "Pass", "End": True}}}}
    assert messages(machine(M=inline)) == []
    assert messages(machine(M=legacy)) == []
    too_many = dict(inline, ToleratedFailurePercentage=101)
    assert messages(machine(M=too_many)) == [
        "$.States.M.ToleratedFailurePercentage: must be a number between 0 and 100"]


@pytest.mark.parametrize("name, ok", [
    ("größe", True), ("変数", True), ("_x1", True), ("a" * 80, True), ("a" * 81, False), ("top-level", False),
    ("1x", False),
])
def test_variable_names_are_unicode_identifiers_of_at_most_80_characters(name, ok):
    assert (messages(machine(A=pass_state(Assign={name: 1}))) == []) == ok


def test_errors_carry_the_state_name_even_inside_nested_scopes():
    definition = machine(M={"Type": "Map", "End": True, "ItemProcessor": {
        "StartAt": "Inner", "States": {"Inner": {"Type": "Pass", "End": True, "ResultPath": "$foo"}}},
        "Retry": [{"ErrorEquals": ["E"], "MaxDelaySeconds": -1}]})
    assert [(e.state, e.field) for e in check_definition(definition)] == [
        ("Inner", "ResultPath"), ("M", "Retry[0].MaxDelaySeconds")]
