"""Property: for any valid definition and input, execute returns a result and never raises."""
import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import execute

names = st.sampled_from(["a", "b", "c", "x", "items"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.text(max_size=5),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(names, children, max_size=3),
    max_leaves=8,
)
paths = st.sampled_from(["$", "$.a", "$.b.c", "$.items[0]", "$.items[*]", "$$.Execution.Input", "$$.State.Name"])
intrinsics = st.sampled_from([
    "States.Format('{}-{}', $.a, $.b)", "States.Array($.a, 1)", "States.ArrayLength($.items)",
    "States.MathAdd($.a, 1)", "States.JsonToString($)", "States.StringToJson($.a)", "States.UUID()",
])
templates = st.dictionaries(names, json_values | paths.map(lambda p: ("$path", p))
                            | intrinsics.map(lambda i: ("$fn", i)), max_size=3).map(
    lambda d: {(k + ".$" if isinstance(v, tuple) else k): (v[1] if isinstance(v, tuple) else v) for k, v in d.items()}
)
operators = st.sampled_from(["StringEquals", "NumericEquals", "NumericLessThan", "BooleanEquals", "IsNull",
                             "IsPresent", "IsString", "TimestampLessThan", "StringMatches"])


@st.composite
def choice_rules(draw, targets):
    op = draw(operators)
    value = {
        "StringEquals": draw(st.text(max_size=3)), "NumericEquals": draw(st.integers(-3, 3)),
        "NumericLessThan": draw(st.integers(-3, 3)), "BooleanEquals": draw(st.booleans()),
        "IsNull": draw(st.booleans()), "IsPresent": draw(st.booleans()), "IsString": draw(st.booleans()),
        "TimestampLessThan": "2024-01-01T00:00:00Z", "StringMatches": "a*",
    }[op]
    rule = {"Variable": draw(paths.filter(lambda p: "*" not in p)), op: value}
    if draw(st.booleans()):
        rule = {"Not": rule}
    return dict(rule, Next=draw(st.sampled_from(targets)))


@st.composite
def programs(draw, depth=0, prefix=""):
    count = draw(st.integers(1, 4))
    state_names = [f"{prefix}S{i}" for i in range(count)]  # unique in the whole machine, as ASL requires
    states = {}
    for i, name in enumerate(state_names):
        later = state_names[i + 1:]
        kinds = ["Pass", "Succeed", "Fail", "Wait"] + (["Choice"] if later else []) + (
            ["Map", "Parallel"] if depth < 2 else [])
        kind = draw(st.sampled_from(kinds))
        state: dict = {"Type": kind}
        if kind == "Pass":
            if draw(st.booleans()):
                state["Parameters"] = draw(templates)
            if draw(st.booleans()):
                state["Result"] = draw(json_values)
            if draw(st.booleans()):
                state["ResultPath"] = draw(st.sampled_from([None, "$", "$.r", "$.a.b"]))
            if draw(st.booleans()):
                state["InputPath"] = draw(paths)
            if draw(st.booleans()):
                state["Assign"] = {"v": draw(json_values)}
        elif kind == "Fail":
            state.update(draw(st.sampled_from([{}, {"Error": "E"}, {"Error": "E", "Cause": "C"},
                                               {"ErrorPath": "$.a"}])))
        elif kind == "Wait":
            state.update(draw(st.sampled_from([{"Seconds": 5}, {"SecondsPath": "$.a"},
                                               {"Timestamp": "2020-01-01T00:00:00Z"}, {"TimestampPath": "$.a"}])))
        elif kind == "Choice":
            state["Choices"] = [draw(choice_rules(later)) for _ in range(draw(st.integers(1, 2)))]
            if draw(st.booleans()):
                state["Default"] = draw(st.sampled_from(later))
        elif kind == "Map":
            state["ItemProcessor"] = draw(programs(depth + 1, f"{name}.m."))
            state["ItemsPath"] = draw(st.sampled_from(["$", "$.items", "$.a"]))
            if draw(st.booleans()):
                state["ItemSelector"] = {"v.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index"}
        elif kind == "Parallel":
            state["Branches"] = [draw(programs(depth + 1, f"{name}.b{j}."))
                                 for j in range(draw(st.integers(1, 2)))]
        if kind in ("Map", "Parallel") and draw(st.booleans()):
            state["Catch"] = [{"ErrorEquals": ["States.ALL"], "Next": later[0] if later else name,
                               "ResultPath": "$.error"}] if later else []
            state["Retry"] = [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 1}]
        if kind not in ("Succeed", "Fail", "Choice"):
            if later and draw(st.booleans()):
                state["Next"] = draw(st.sampled_from(later))
            else:
                state["End"] = True
        states[name] = state
    return {"StartAt": state_names[0], "States": _reachable(states, state_names[0])}


def _reachable(states: dict, start: str) -> dict:
    """The states reachable from `start` (AWS refuses a definition with an unreachable state)."""
    seen, todo = {start}, [start]
    while todo:
        state = states[todo.pop()]
        targets = [state.get("Next"), state.get("Default")]
        targets += [rule["Next"] for rule in state.get("Choices", [])]
        targets += [catcher["Next"] for catcher in state.get("Catch", [])]
        for target in targets:
            if target is not None and target not in seen:
                seen.add(target)
                todo.append(target)
    return {name: state for name, state in states.items() if name in seen}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs(), json_values)
def test_execute_never_raises_on_valid_definitions(definition, value):
    result = execute(definition, json.dumps(value))
    assert result.status in ("SUCCEEDED", "FAILED", "TIMED_OUT")  # a Wait may outlast a year
    assert "Stepsmith engine error" not in (result.cause or "")
    if result.status == "SUCCEEDED":
        json.loads(result.output)
    else:
        assert result.output is None
    ids = [e["id"] for e in result.history]
    assert ids == list(range(1, len(ids) + 1))


atoms = st.sampled_from(["1", "2.5", "'s'", "true", "null", "$states.input.a", "$states.input.items", "$v",
                         "$states.context.State.Name", "[1, 2]", "{'k': 1}", "$missing"])
def _combine(inner):
    binary = st.tuples(inner, st.sampled_from(["+", "-", "*", "&", "=", "<", "and", "or"]), inner)
    call = st.tuples(st.sampled_from(["$string", "$count", "$exists", "$sum", "$number", "$keys"]), inner)
    return st.one_of(
        binary.map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        call.map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} ? {t[1]} : {t[2]})"),
    )


jsonata_exprs = st.recursive(atoms, _combine, max_leaves=4)


def jsonata_machine(output_expr: str, assign_expr: str, condition: str) -> dict:
    return {
        "QueryLanguage": "JSONata",
        "StartAt": "A",
        "States": {
            "A": {"Type": "Pass", "Assign": {"v": "{% " + assign_expr + " %}"},
                  "Output": {"o": "{% " + output_expr + " %}"}, "Next": "C"},
            "C": {"Type": "Choice", "Choices": [{"Condition": "{% " + condition + " %}", "Next": "M"}],
                  "Default": "M"},
            "M": {"Type": "Map", "Items": "{% [1, 2] %}", "End": True,
                  "ItemProcessor": {"StartAt": "P", "States": {
                      "P": {"Type": "Pass", "Output": "{% " + output_expr + " %}", "End": True}}}},
        },
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(jsonata_exprs, jsonata_exprs, jsonata_exprs, json_values)
def test_jsonata_states_never_raise(output_expr, assign_expr, condition, value):
    definition = jsonata_machine(output_expr, assign_expr, condition)
    result = execute(definition, json.dumps({"a": value, "items": [value]}))
    assert result.status in ("SUCCEEDED", "FAILED")
    assert "Stepsmith engine error" not in (result.cause or "")
    if result.status == "FAILED":
        assert result.error in ("States.QueryEvaluationError", "States.Runtime"), (result.error, result.cause)


class CoinDispatcher:
    """Fails or succeeds according to a drawn sequence of outcomes."""

    def __init__(self, outcomes: list) -> None:
        self.outcomes = outcomes
        self.calls = 0

    def run_task(self, call):
        from engine.asl import TaskFailed

        outcome = self.outcomes[self.calls % len(self.outcomes)]
        self.calls += 1
        if isinstance(outcome, str):
            raise TaskFailed(outcome, "drawn failure")
        return outcome


@st.composite
def task_machines(draw):
    errors = st.sampled_from(["Boom", "States.Timeout", "States.TaskFailed", "Lambda.Unknown"])
    retry = [{"ErrorEquals": draw(st.lists(errors, min_size=1, max_size=2, unique=True)),
              "MaxAttempts": draw(st.integers(0, 3)), "IntervalSeconds": draw(st.integers(1, 5)),
              "BackoffRate": draw(st.sampled_from([1, 1.5, 2])),
              "JitterStrategy": draw(st.sampled_from(["FULL", "NONE"]))}
             for _ in range(draw(st.integers(0, 2)))]
    catch = [{"ErrorEquals": draw(st.sampled_from([["States.ALL"], ["Boom"], ["States.TaskFailed"]])),
              "Next": "Handled", "ResultPath": draw(st.sampled_from(["$.error", "$", None]))}
             for _ in range(draw(st.integers(0, 2)))]
    catch.sort(key=lambda c: "States.ALL" in c["ErrorEquals"])  # AWS wants States.ALL last, once
    catch = [c for i, c in enumerate(catch) if i == len(catch) - 1 or "States.ALL" not in c["ErrorEquals"]]
    task = {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Retry": retry, "Catch": catch,
            "Parameters": draw(templates), "ResultSelector": {"r.$": "$"}, "ResultPath": "$.out", "End": True}
    machine = {"StartAt": "T", "States": _reachable({"T": task, "Handled": {"Type": "Pass", "End": True}}, "T")}
    if draw(st.booleans()):  # the same task inside a Map
        machine = {"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items", "End": True,
                                                    "ItemProcessor": machine}}}
    return machine


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(task_machines(), st.lists(st.sampled_from(["Boom", "States.Timeout", "Other", {"ok": 1}, None]),
                                 min_size=1, max_size=4))
def test_tasks_with_retry_and_catch_never_raise(definition, outcomes):
    result = execute(definition, json.dumps({"a": 1, "b": {"c": 2}, "items": [1, 2]}),
                     dispatcher=CoinDispatcher(outcomes))
    assert result.status in ("SUCCEEDED", "FAILED")
    assert "Stepsmith engine error" not in (result.cause or "")


MUTANTS = int(os.environ.get("STEPSMITH_MUTANTS", "150"))


def _paths_into(value, prefix=()):
    """Every (path, value) inside a definition, for mutation."""
    yield prefix, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths_into(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths_into(v, (*prefix, i))


@st.composite
def mutated_definitions(draw):
    definition = draw(st.one_of(programs(), task_machines(),
                                st.builds(jsonata_machine, jsonata_exprs, jsonata_exprs, jsonata_exprs)))
    spots = [p for p, _ in _paths_into(definition) if p]
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(spots))
        node = definition
        try:
            for step in path[:-1]:
                node = node[step]
            node[path[-1]] = draw(json_values | paths | st.sampled_from(["{% 1 + %}", "States.Nope(1)", -1]))
        except (KeyError, IndexError, TypeError):
            pass
    return definition


@settings(max_examples=MUTANTS, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_definitions(), json_values)
def test_any_definition_is_either_rejected_with_a_definition_error_or_run(definition, value):
    from engine.asl import DefinitionError
    from engine.asl.validate import check_definition

    problems = check_definition(definition)
    try:
        result = execute(definition, json.dumps(value), dispatcher=CoinDispatcher([{"ok": 1}, "Boom"]))
    except DefinitionError as error:
        assert str(error)
        assert problems, f"the loader refused a definition the validator accepts: {error}"
        return
    assert not problems, "the loader ran a definition the validator refuses"
    assert result.status in ("SUCCEEDED", "FAILED", "TIMED_OUT")
    assert "Stepsmith engine error" not in (result.cause or ""), result.cause
