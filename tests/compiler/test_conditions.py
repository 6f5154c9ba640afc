"""Readable conditions: what each form parses to, what is refused (and where), and a round trip."""
from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compiler.conditions import (
    And,
    Comparison,
    Condition,
    ConditionError,
    Matches,
    Not,
    Or,
    condition_paths,
    parse_condition,
)
from compiler.conditions import Test as IsTest


@pytest.mark.parametrize(("text", "expected"), [
    ('$.status == "DONE"', Comparison("$.status", "==", "DONE", "string")),
    ("$.n >= 0.9", Comparison("$.n", ">=", 0.9, "numeric")),
    ("$.n < -3", Comparison("$.n", "<", -3, "numeric")),
    ("$.ok == false", Comparison("$.ok", "==", False, "boolean")),
    ('$.a != "x"', Not(Comparison("$.a", "==", "x", "string"))),
    ("$.a <= $.b as numeric", Comparison("$.a", "<=", "$.b", "numeric", value_is_path=True)),
    ('$.t > "2026-01-01T00:00:00Z" as timestamp', Comparison("$.t", ">", "2026-01-01T00:00:00Z", "timestamp")),
    ("$.x is present", IsTest("$.x", "present")),
    ("$.x is absent", IsTest("$.x", "present", expected=False)),
    ("$.x is not present", IsTest("$.x", "present", expected=False)),
    ("$.x is not null", IsTest("$.x", "null", expected=False)),
    ("$.x is timestamp", IsTest("$.x", "timestamp")),
    ('$.key matches "*.mp4"', Matches("$.key", "*.mp4")),
    ('$.key not matches "tmp/*"', Not(Matches("$.key", "tmp/*"))),
    ("$$.Execution.Input.x == 1", Comparison("$$.Execution.Input.x", "==", 1, "numeric")),
    ("$count > 3", Comparison("$count", ">", 3, "numeric")),
    ("$['a b'].c == true", Comparison("$['a b'].c", "==", True, "boolean")),
    ("$.a == 1 or $.b == 2 and $.c == 3",  # and binds tighter than or
     Or((Comparison("$.a", "==", 1, "numeric"),
         And((Comparison("$.b", "==", 2, "numeric"), Comparison("$.c", "==", 3, "numeric")))))),
    ("not ($.a == 1 or $.b is null)",
     Not(Or((Comparison("$.a", "==", 1, "numeric"), IsTest("$.b", "null"))))),
])
def test_parses(text: str, expected: Condition) -> None:
    assert parse_condition(text) == expected


@pytest.mark.parametrize(("text", "message", "offset"), [
    ("", "empty condition", 0),
    ("$.a = 1", "single '=' is not an operator", 4),
    ("$.a > true", "booleans only support == and !=, not >", 6),
    ("$.a == null", "compare with null using 'is null'", 7),
    ("$.a == $.b", ("comparing two paths needs a type: add 'as numeric', 'as string', 'as boolean' or "
                   "'as timestamp' after $.b"), 7),
    ("$.a == 'x'", "strings use double quotes", 7),
    ('$.a == "x', "unterminated string", 7),
    ("$.a == 1 and", "expected a path like $.field, found 'end of condition'", 12),
    ("($.a == 1", "expected ')', found 'end of condition'", 9),
    ("$.a is big", ("expected present or absent or null or string or numeric or boolean or timestamp, "
                   "found 'big'"), 7),
    ("$.a matches 3", "matches needs a quoted glob, found '3'", 12),
    ('$.a < "soon" as timestamp', '"soon" is not an ISO 8601 timestamp', 6),
    ("$.a == 1 as string", "a numeric value cannot be compared as string", 7),
    ("status == 1", "expected a path like $.field, found 'status'", 0),
    ("$.a == 1 $.b", "expected 'and', 'or' or the end of the condition, found '$.b'", 9),
])
def test_refuses_with_the_offset_of_the_problem(text: str, message: str, offset: int) -> None:
    with pytest.raises(ConditionError) as caught:
        parse_condition(text)
    assert (caught.value.message, caught.value.offset) == (message, offset)


def test_condition_paths_lists_every_path_read() -> None:
    condition = parse_condition('$.a < $.b as numeric and ($.c is present or not $.d matches "x")')
    assert condition_paths(condition) == ["$.a", "$.b", "$.c", "$.d"]


# --- round trip: any condition AST, written out as text, parses back to itself -------------------------

paths = st.sampled_from(["$.a", "$.b.c", "$$.Execution.Id", "$var", "$.items[0].id", "$['x y']"])
literals = st.one_of(
    st.tuples(st.text(max_size=8), st.just("string")),
    st.tuples(st.integers(-10**6, 10**6), st.just("numeric")),
    st.tuples(st.floats(-1e6, 1e6, allow_nan=False).map(lambda x: round(x, 3)), st.just("numeric")),
    st.tuples(st.booleans(), st.just("boolean")),
)


@st.composite
def comparisons(draw: st.DrawFn) -> Comparison:
    path = draw(paths)
    if draw(st.booleans()):
        kind = draw(st.sampled_from(["string", "numeric", "timestamp"]))
        return Comparison(path, draw(st.sampled_from(["==", "<", "<=", ">", ">="])), draw(paths), kind, True)
    value, kind = draw(literals)
    op = "==" if kind == "boolean" else draw(st.sampled_from(["==", "<", "<=", ">", ">="]))
    return Comparison(path, op, value, kind)


leaves = st.one_of(
    comparisons(),
    st.builds(IsTest, paths, st.sampled_from(["present", "null", "string", "numeric", "boolean", "timestamp"]),
              st.booleans()),
    st.builds(Matches, paths, st.text(max_size=6)),
)
conditions = st.recursive(leaves, lambda inner: st.one_of(
    st.builds(Not, inner),
    st.lists(inner, min_size=2, max_size=3).map(lambda items: And(tuple(items))),
    st.lists(inner, min_size=2, max_size=3).map(lambda items: Or(tuple(items))),
), max_leaves=8)


def render(condition: Condition) -> str:
    if isinstance(condition, Comparison):
        value = condition.value if condition.value_is_path else json.dumps(condition.value)
        typed = f" as {condition.type}" if condition.value_is_path else ""
        return f"{condition.path} {condition.op} {value}{typed}"
    if isinstance(condition, IsTest):
        return f"{condition.path} is {'' if condition.expected else 'not '}{condition.kind}"
    if isinstance(condition, Matches):
        return f"{condition.path} matches {json.dumps(condition.pattern)}"
    if isinstance(condition, Not):
        return f"not ({render(condition.item)})"
    joiner = " and " if isinstance(condition, And) else " or "
    return joiner.join(f"({render(item)})" for item in condition.items)


@given(conditions)
def test_round_trip(condition: Condition) -> None:
    assert parse_condition(render(condition)) == condition
