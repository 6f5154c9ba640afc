"""Set membership in conditions (`in [A, B]`) and the checks on routed poll outcomes."""
import textwrap

import jsonata
import pytest

from compiler.asl import condition_rule
from compiler.conditions import ConditionError, Not, Or, jsonata_bare_set_members, parse_condition
from compiler.load import build_workflow, read_document
from compiler.validate import check_schema, check_workflow


def test_in_is_one_equality_per_member_typed_by_the_member():
    condition = parse_condition('$.status in [Creating, "In Progress", 3, true]')
    assert isinstance(condition, Or)
    assert condition_rule(condition) == {"Or": [
        {"Variable": "$.status", "StringEquals": "Creating"},
        {"Variable": "$.status", "StringEquals": "In Progress"},
        {"Variable": "$.status", "NumericEquals": 3},
        {"Variable": "$.status", "BooleanEquals": True}]}


def test_not_in_and_a_single_member():
    assert isinstance(parse_condition("$.s not in [A, B]"), Not)
    assert condition_rule(parse_condition("$.s in [InService]")) == {"Variable": "$.s", "StringEquals": "InService"}
    # bare members keep their case and may hold the characters status names use
    assert condition_rule(parse_condition("$.s in [ml.m5.large]"))["StringEquals"] == "ml.m5.large"


@pytest.mark.parametrize(("text", "offset", "message"), [
    ("$.x in Creating", 7, "expected a set like [Creating, Updating] after 'in'"),
    ("$.x in [A B]", 10, "expected ',' or ']' in the set"),
    ("$.x in []", 8, "expected a value in the set"),
    ("$.x in [A, [B]]", 11, "unexpected '['"),
    ("$.x not == 1", 8, "expected 'matches' or 'in' after 'not'"),
])
def test_bad_sets_point_at_the_problem(text, offset, message):
    with pytest.raises(ConditionError) as caught:
        parse_condition(text)
    assert caught.value.offset == offset
    assert caught.value.message.startswith(message)


def test_jsonata_sets_work_natively_and_bare_names_are_found():
    expression = '$states.input.status in ["Creating", "Updating"]'
    assert jsonata.Jsonata(expression.replace("$states.input.", "")).evaluate({"status": "Updating"}) is True
    assert jsonata_bare_set_members(expression) == []
    assert jsonata_bare_set_members("s in [Creating, \"Updating\", true]") == [(6, "Creating")]


def errors_of(tmp_path, text):
    path = tmp_path / "deploy.yaml"
    path.write_text(textwrap.dedent(text))
    doc = read_document(path)
    assert check_schema(doc) == []
    workflow, errors = build_workflow(doc, path)
    assert errors == []
    return [f"{e.place.line}: {e.message}" for e in check_workflow(workflow, doc, tmp_path)]


def test_routes_need_their_condition_and_replace_the_error_names(tmp_path):
    found = errors_of(tmp_path, """
        steps:
          - name: Wait
            poll:
              service: sagemaker:describeEndpoint
              parameters: {EndpointName: e}
              until: $.EndpointStatus == "InService"
              on_fail: Roll back
              on_timeout: Roll back
              timeout_error: Slow
          - name: Roll back
            succeed: {}
        """)
    assert found == ["8: `on_fail` needs `fail_if`", "9: `on_timeout` needs `timeout`",
                     "10: `timeout_error` names the Fail state that `on_timeout` replaces"]


def test_routes_name_steps_in_the_same_list_and_count_for_reachability(tmp_path):
    found = errors_of(tmp_path, """
        steps:
          - name: Wait
            poll:
              service: sagemaker:describeEndpoint
              parameters: {EndpointName: e}
              until: $.EndpointStatus == "InService"
              fail_if: $.EndpointStatus == "Failed"
              on_fail: Rollback
            next: Done
          - name: Roll back
            succeed: {}
          - name: Done
            succeed: {}
        """)
    assert found[0] == "9: no step named 'Rollback'"


def test_jsonata_bare_set_members_are_an_error(tmp_path):
    found = errors_of(tmp_path, """
        query_language: JSONata
        steps:
          - name: Which
            choice:
              - if: "{% $states.input.status in [Creating, 'Updating'] %}"
                then: Done
            default: Done
          - name: Done
            succeed: {}
        """)
    assert found == ["6: in JSONata, Creating in a set is a field name, not the string 'Creating'"]


def test_catching_the_polls_own_error_points_at_the_route(tmp_path):
    found = errors_of(tmp_path, """
        steps:
          - name: Wait
            poll:
              service: sagemaker:describeEndpoint
              parameters: {EndpointName: e}
              until: $.EndpointStatus == "InService"
              fail_if: $.EndpointStatus == "Failed"
              error: EndpointFailed
              timeout: 600
            catch:
              - errors: [EndpointFailed, Wait.TimedOut]
                next: Roll back
          - name: Roll back
            succeed: {}
        """)
    assert found == [
        "12: EndpointFailed is this poll's own outcome, which ends the execution; no catch sees it",
        "12: Wait.TimedOut is this poll's own outcome, which ends the execution; no catch sees it"]
