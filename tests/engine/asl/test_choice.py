import pytest
from aslrun import output, run

from engine.asl import DefinitionError


def choose(rule: dict, value, query_language: str = "JSONPath") -> str:
    rule = dict(rule, Next="Yes")
    result = "Result" if query_language == "JSONPath" else "Output"
    definition = {
        "QueryLanguage": query_language,
        "StartAt": "C",
        "States": {
            "C": {"Type": "Choice", "Choices": [rule], "Default": "No"},
            "Yes": {"Type": "Pass", result: "yes", "End": True},
            "No": {"Type": "Pass", result: "no", "End": True},
        },
    }
    return output(definition, value)


@pytest.mark.parametrize(
    ("rule", "value", "expected"),
    [
        ({"Variable": "$.v", "StringEquals": "a"}, {"v": "a"}, "yes"),
        ({"Variable": "$.v", "StringEquals": "1"}, {"v": 1}, "no"),  # types never coerce
        ({"Variable": "$.v", "StringLessThan": "b"}, {"v": "a"}, "yes"),
        ({"Variable": "$.v", "StringGreaterThanEquals": "b"}, {"v": "b"}, "yes"),
        ({"Variable": "$.v", "StringMatches": "log-*.txt"}, {"v": "log-2024.txt"}, "yes"),
        ({"Variable": "$.v", "StringMatches": r"a\*b"}, {"v": "a*b"}, "yes"),
        ({"Variable": "$.v", "StringMatches": r"a\*b"}, {"v": "axxb"}, "no"),
        ({"Variable": "$.v", "NumericEquals": 1}, {"v": 1.0}, "yes"),
        ({"Variable": "$.v", "NumericEquals": 1}, {"v": True}, "no"),
        ({"Variable": "$.v", "NumericLessThan": 2}, {"v": 1.5}, "yes"),
        ({"Variable": "$.v", "NumericGreaterThanEquals": 2}, {"v": 1}, "no"),
        ({"Variable": "$.v", "BooleanEquals": False}, {"v": False}, "yes"),
        ({"Variable": "$.v", "BooleanEquals": False}, {"v": 0}, "no"),
        ({"Variable": "$.v", "TimestampEquals": "2024-01-01T00:00:00Z"}, {"v": "2024-01-01T01:00:00+01:00"}, "yes"),
        ({"Variable": "$.v", "TimestampLessThan": "2024-01-01T00:00:00Z"}, {"v": "2023-12-31T23:59:59.5Z"}, "yes"),
        ({"Variable": "$.v", "TimestampLessThan": "2024-01-01T00:00:00Z"}, {"v": "2023-12-31"}, "no"),
        ({"Variable": "$.v", "IsNull": True}, {"v": None}, "yes"),
        ({"Variable": "$.v", "IsNull": True}, {}, "no"),
        ({"Variable": "$.v", "IsPresent": True}, {"v": None}, "yes"),
        ({"Variable": "$.v", "IsPresent": False}, {}, "yes"),
        ({"Variable": "$.v", "IsNumeric": True}, {"v": 3}, "yes"),
        ({"Variable": "$.v", "IsString": True}, {"v": 3}, "no"),
        ({"Variable": "$.v", "IsBoolean": True}, {"v": True}, "yes"),
        ({"Variable": "$.v", "IsTimestamp": True}, {"v": "2024-02-29T10:00:00.123Z"}, "yes"),
        ({"Variable": "$.v", "IsTimestamp": True}, {"v": "2024-02-30T10:00:00Z"}, "no"),
        ({"Variable": "$.a", "NumericEqualsPath": "$.b"}, {"a": 2, "b": 2}, "yes"),
        ({"Variable": "$.a", "StringLessThanPath": "$.b"}, {"a": "a", "b": "b"}, "yes"),
        ({"Variable": "$$.Execution.Input.a", "NumericEquals": 1}, {"a": 1}, "yes"),
        ({"And": [{"Variable": "$.a", "NumericEquals": 1}, {"Variable": "$.b", "IsPresent": False}]}, {"a": 1}, "yes"),
        ({"Or": [{"Variable": "$.a", "NumericEquals": 2}, {"Variable": "$.a", "NumericEquals": 1}]}, {"a": 1}, "yes"),
        # One rule true, one false: And refuses what Or admits.
        ({"And": [{"Variable": "$.a", "NumericEquals": 2}, {"Variable": "$.a", "NumericEquals": 1}]}, {"a": 1}, "no"),
        ({"Or": [{"Variable": "$.a", "NumericEquals": 2}, {"Variable": "$.a", "NumericEquals": 3}]}, {"a": 1}, "no"),
        ({"Not": {"Variable": "$.a", "NumericEquals": 1}}, {"a": 1}, "no"),
        ({"Not": {"Variable": "$.a", "NumericEquals": 2}}, {"a": 1}, "yes"),
        # IsPresent and the type tests read the context too, not only the input.
        ({"Variable": "$$.Execution.Input.a", "IsPresent": True}, {"a": 1}, "yes"),
        ({"Variable": "$$.Execution.Input.a", "IsNumeric": True}, {"a": 1}, "yes"),
    ],
)
def test_jsonpath_operators(rule, value, expected):
    assert choose(rule, value) == expected


def test_first_matching_rule_wins_and_output_path_applies():
    definition = {
        "StartAt": "C",
        "States": {
            "C": {
                "Type": "Choice",
                "InputPath": "$.in",
                "OutputPath": "$.v",
                "Choices": [
                    {"Variable": "$.v", "NumericGreaterThan": 0, "Next": "A"},
                    {"Variable": "$.v", "NumericGreaterThan": 1, "Next": "B"},
                ],
            },
            "A": {"Type": "Pass", "ResultPath": "$", "Parameters": {"got.$": "$", "by": "A"}, "End": True},
            "B": {"Type": "Pass", "Parameters": {"got.$": "$", "by": "B"}, "End": True},
        },
    }
    assert output(definition, {"in": {"v": 5}}) == {"got": 5, "by": "A"}


def test_no_match_without_default_fails_no_choice_matched():
    definition = {
        "StartAt": "C",
        "States": {
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.v", "IsPresent": True, "Next": "E"}]},
            "E": {"Type": "Succeed"},
        },
    }
    result = run(definition, {})
    assert (result.status, result.error) == ("FAILED", "States.NoChoiceMatched")


def test_jsonata_condition_with_rule_output_and_assign():
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "C",
        "States": {
            "C": {
                "Type": "Choice",
                "Choices": [{"Condition": "{% $states.input.n > 2 %}", "Next": "Big",
                             "Assign": {"size": "big"}, "Output": {"n": "{% $states.input.n %}"}}],
                "Default": "Small",
                "Assign": {"size": "small"},
            },
            "Big": {"Type": "Pass", "Output": "{% $size & ':' & $string($states.input.n) %}", "End": True},
            "Small": {"Type": "Pass", "Output": "{% $size %}", "End": True},
        },
    }
    assert output(definition, {"n": 3, "x": 1}) == "big:3"
    assert output(definition, {"n": 1}) == "small"


def test_jsonata_condition_must_be_boolean():
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "C",
        "States": {
            "C": {"Type": "Choice", "Choices": [{"Condition": "{% $states.input.n %}", "Next": "E"}], "Default": "E"},
            "E": {"Type": "Succeed"},
        },
    }
    result = run(definition, {"n": 3})
    assert (result.status, result.error) == ("FAILED", "States.QueryEvaluationError")
    assert "Expected 'boolean', but was 'number' for value: 3" in result.cause
    assert "The JSONata expression '$states.input.n' specified for the field 'Condition'" in result.cause


@pytest.mark.parametrize(("condition", "value", "cause"), [
    # Written without blanks inside the delimiters, the expression is still quoted whole.
    ("{%$states.input.n%}", {"n": 3}, ("The JSONata expression '$states.input.n' specified for the field "
                                       "'Condition' returned an unexpected result type.")),
    ("{% $states.input.missing %}", {"n": 3}, ("The JSONata expression '$states.input.missing' specified for "
                                               "the field 'Condition' returned nothing (undefined).")),
])
def test_a_jsonata_condition_that_fails_names_its_expression_and_field(condition, value, cause):
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "C",
        "States": {
            "C": {"Type": "Choice", "Choices": [{"Condition": condition, "Next": "E"}], "Default": "E"},
            "E": {"Type": "Succeed"},
        },
    }
    result = run(definition, value)
    assert (result.status, result.error) == ("FAILED", "States.QueryEvaluationError")
    assert cause in result.cause


# Equal values are where a strict operator and its "Equals" sibling differ: each pair below is the
# boundary a one-character slip (< for <=, > for >=) moves.
T0 = "2024-01-01T00:00:00Z"
T0_PARIS = "2024-01-01T01:00:00+01:00"  # the same instant as T0, written differently
T1 = "2024-01-01T00:00:01Z"


@pytest.mark.parametrize(
    ("operator", "literal", "value", "expected"),
    [
        ("NumericLessThan", 2, 2, "no"),
        ("NumericLessThan", 2, 1.999, "yes"),
        ("NumericGreaterThan", 2, 2, "no"),
        ("NumericGreaterThan", 2, 2.001, "yes"),
        ("NumericLessThanEquals", 2, 2, "yes"),
        ("NumericLessThanEquals", 2, 2.001, "no"),
        ("NumericGreaterThanEquals", 2, 2, "yes"),
        ("NumericGreaterThanEquals", 2, 1.999, "no"),
        ("NumericEquals", 2, 3, "no"),
        ("StringLessThan", "b", "b", "no"),
        ("StringLessThan", "b", "B", "yes"),  # code-point order: upper case sorts first
        ("StringGreaterThan", "b", "b", "no"),
        ("StringGreaterThan", "b", "ba", "yes"),
        ("StringLessThanEquals", "b", "b", "yes"),
        ("StringLessThanEquals", "b", "ba", "no"),
        ("StringGreaterThanEquals", "b", "a", "no"),
        ("StringEquals", "b", "B", "no"),
        ("TimestampLessThan", T0, T0_PARIS, "no"),
        ("TimestampGreaterThan", T0, T0_PARIS, "no"),
        ("TimestampGreaterThan", T0, T1, "yes"),
        ("TimestampLessThanEquals", T0, T0_PARIS, "yes"),
        ("TimestampLessThanEquals", T0, T1, "no"),
        ("TimestampGreaterThanEquals", T0, T0_PARIS, "yes"),
        ("TimestampGreaterThanEquals", T1, T0, "no"),
        ("TimestampEquals", T0, T1, "no"),
    ],
)
def test_comparison_boundaries(operator, literal, value, expected):
    assert choose({"Variable": "$.v", operator: literal}, {"v": value}) == expected


@pytest.mark.parametrize(
    ("operator", "a", "b", "expected"),
    [
        ("NumericLessThanPath", 2, 2, "no"),
        ("NumericGreaterThanPath", 2, 2, "no"),
        ("NumericLessThanEqualsPath", 2, 2, "yes"),
        ("NumericGreaterThanEqualsPath", 2, 2, "yes"),
        ("StringGreaterThanPath", "b", "b", "no"),
        ("StringLessThanEqualsPath", "b", "b", "yes"),
        ("TimestampLessThanPath", T0, T0_PARIS, "no"),
        ("TimestampGreaterThanEqualsPath", T0, T0_PARIS, "yes"),
        # The other side of a path comparison must have the operator's type too.
        ("NumericLessThanPath", 1, "2", "no"),
        ("StringLessThanPath", "a", 2, "no"),
        ("TimestampLessThanPath", T0, "tomorrow", "no"),
        ("BooleanEqualsPath", True, 1, "no"),
        ("BooleanEqualsPath", False, False, "yes"),
    ],
)
def test_path_comparison_boundaries(operator, a, b, expected):
    assert choose({"Variable": "$.a", operator: "$.b"}, {"a": a, "b": b}) == expected


@pytest.mark.parametrize(
    ("operator", "literal", "value"),
    [
        ("NumericLessThan", 2, "1"),       # a numeric string is not a number
        ("NumericGreaterThanEquals", 0, False),
        ("StringLessThan", "b", 1),
        ("TimestampGreaterThan", T0, "2025-01-01"),  # a date without time is no timestamp
    ],
)
def test_a_value_of_another_type_never_matches(operator, literal, value):
    assert choose({"Variable": "$.v", operator: literal}, {"v": value}) == "no"


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("log-*.txt", "log-2024.csv", "no"),
        ("*.txt", "a/b.txt", "yes"),
        ("*", "", "yes"),
        (r"ab\*", "ab*", "yes"),          # an escape as the last step of the pattern
        (r"ab\*", "abc", "no"),
        (r"a\\*", "a\\anything", "yes"),  # an escaped backslash, then a real wildcard
        (r"a\\*", "a*", "no"),
        ("ab\\", "ab\\", "yes"),          # a lone backslash at the end is itself
        ("a.c", "abc", "no"),             # only '*' is special
        ("first*last", "first\nlast", "yes"),  # '*' spans line breaks too
    ],
)
def test_string_matches_wildcards_and_escapes(pattern, value, expected):
    assert choose({"Variable": "$.v", "StringMatches": pattern}, {"v": value}) == expected


@pytest.mark.parametrize(("condition", "expected"), [(True, "yes"), (False, "no")])
def test_jsonata_condition_may_be_a_literal_boolean(condition, expected):
    assert choose({"Condition": condition}, {}, query_language="JSONata") == expected


def test_jsonata_condition_that_is_not_an_expression_is_rejected_with_its_place():
    with pytest.raises(DefinitionError) as info:
        choose({"Condition": "$states.input.n > 2"}, {}, query_language="JSONata")
    assert (info.value.state, info.value.field) == ("C", "Condition")
    assert info.value.message == "'Condition' must be a JSONata expression {% ... %} or a boolean"


def test_a_comparison_on_a_missing_path_fails_the_execution_with_the_path():
    result = run({
        "StartAt": "C",
        "States": {
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.missing", "NumericEquals": 1, "Next": "E"}],
                  "Default": "E"},
            "E": {"Type": "Succeed"},
        },
    }, {"present": 1})
    assert (result.status, result.error) == ("FAILED", "States.Runtime")
    assert result.cause == ("An error occurred while executing the state 'C' (entered at the event id #2). "
                            "Invalid path '$.missing' : No results for path: $['missing']")


@pytest.mark.parametrize("rule", [
    {"Variable": "$limit", "NumericGreaterThan": 2},
    {"Variable": "$limit", "IsPresent": True},
    {"Variable": "$limit", "IsNumeric": True},
])
def test_a_rule_may_read_a_variable(rule):
    definition = {
        "StartAt": "Set",
        "States": {
            "Set": {"Type": "Pass", "Assign": {"limit": 3}, "Next": "C"},
            "C": {"Type": "Choice", "Choices": [dict(rule, Next="Yes")], "Default": "No"},
            "Yes": {"Type": "Pass", "Result": "yes", "End": True},
            "No": {"Type": "Pass", "Result": "no", "End": True},
        },
    }
    assert output(definition, {}) == "yes"


def test_a_rule_with_two_operators_is_rejected_with_its_place():
    with pytest.raises(DefinitionError) as info:
        choose({"Variable": "$.v", "NumericEquals": 1, "StringEquals": "1"}, {"v": 1})
    assert info.value.state == "C" and info.value.field == "Choices"
    assert info.value.message == ("A choice rule must have exactly one comparison operator or And/Or/Not, "
                                  "found ['NumericEquals', 'StringEquals']")


@pytest.mark.parametrize(("rule", "message"), [
    ({"Variable": "$.v"}, "A choice rule must have exactly one comparison operator or And/Or/Not"),
    ({"And": []}, "'And' must be a non-empty array of rules"),
    ({"Or": {"Variable": "$.v", "IsNull": True}}, "'Or' must be a non-empty array of rules"),
    ({"Not": [{"Variable": "$.v", "IsNull": True}]}, "'Not' must be a rule object"),
    ({"NumericEquals": 1}, "The comparison 'NumericEquals' needs a 'Variable' path"),
    ({"Variable": "$.v", "IsPresent": "yes"}, "'IsPresent' must be true or false"),
    ({"Variable": "$.v", "IsNull": 1}, "'IsNull' must be true or false"),
    ({"Variable": "$.v", "StringMatches": 1}, "'StringMatches' must be a string"),
    ({"Variable": "$.v", "NumericEqualsPath": 1}, "'NumericEqualsPath' must be a path"),
    ({"Variable": "$.v", "NumericEquals": "1"}, "The value of 'NumericEquals' must be of type Numeric"),
    ({"Variable": "$.v", "BooleanEquals": 0}, "The value of 'BooleanEquals' must be of type Boolean"),
    ({"And": [{"Variable": "$.v"}]}, "A choice rule must have exactly one comparison operator or And/Or/Not"),
])
def test_a_malformed_rule_is_rejected_with_its_place(rule, message):
    with pytest.raises(DefinitionError) as info:
        choose(rule, {"v": 1})
    assert (info.value.message, info.value.state, info.value.field) == (message, "C", "Choices")


@pytest.mark.parametrize(("rule", "field", "message"), [
    ({"Variable": "$.v[", "NumericEquals": 1}, "Variable", "Invalid path '$.v[': unclosed '[' at position 4"),
    ({"Variable": "v", "IsPresent": True}, "Variable", "Invalid path 'v': a path must start with '$'"),
    ({"Variable": "$.v", "NumericEqualsPath": "$.w["}, "NumericEqualsPath",
     "Invalid path '$.w[': unclosed '[' at position 4"),
])
def test_a_malformed_path_in_a_rule_is_rejected_with_its_field(rule, field, message):
    with pytest.raises(DefinitionError) as info:
        choose(rule, {"v": 1})
    assert (info.value.message, info.value.state, info.value.field) == (message, "C", field)


def test_a_comparison_on_a_path_function_that_fails_fails_the_execution_with_its_reason():
    result = run({
        "StartAt": "C",
        "States": {
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.xs.max()", "NumericGreaterThan": 1, "Next": "E"}],
                  "Default": "E"},
            "E": {"Type": "Succeed"},
        },
    }, {"xs": []})
    assert (result.status, result.error) == ("FAILED", "States.Runtime")
    assert result.cause == ("An error occurred while executing the state 'C' (entered at the event id #2). "
                            "Aggregation function attempted to calculate value using empty array (max)")
