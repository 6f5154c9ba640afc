"""JSONata templates as AWS Step Functions evaluates them; expected values are what AWS returned."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.asl.jsonata import UNDEFINED, JsonataError, compile_template, is_template, type_name

INPUT = {"input_values": [1, 2, 3], "input_value": "string literal", "bar": None,
         "FunctionInput": {"fst": [0, 1, 2, 3], "snd": 3}}


def run(text, states_input=INPUT, variables=None, **states):
    return compile_template(text).evaluate({"input": states_input, **states}, variables or {})


def test_template_detection_needs_exact_delimiters():
    assert is_template("{% $states.input %}")
    assert not is_template(" {% states.input %} ")  # recorded on AWS: stays a literal string
    assert not is_template("$states.input")
    assert not is_template(42)


def test_expression_over_input_and_variables():
    # Recorded on AWS: {% $sum($states.input.input_values) + $var_constant_1 %} -> 7
    assert run("{% $sum($states.input.input_values) + $var_constant_1 %}", variables={"var_constant_1": 1}) == 7
    assert run("{% $states.input %}") == INPUT
    assert run("{% $var_input_value %}", variables={"var_input_value": "string literal"}) == "string literal"
    context = {"Map": {"Item": {"Value": "Item1"}}}
    assert run("{% $states.context.Map.Item.Value %}", context=context) == "Item1"


def test_undefined_is_distinct_from_null():
    assert run("{% $doesNotExist %}") is UNDEFINED
    assert run("{% $states.input.absent %}") is UNDEFINED
    assert run("{% $states.input.bar %}") is None
    assert run("{% null %}") is None
    assert run("{% {'v': $states.input.bar} %}") == {"v": None}
    assert run("{% $n %}", variables={"n": None}) is None
    assert run("{% [null, 1] %}") == [None, 1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("{% 1 %}", 1), ("{% 'string' %}", "string"), ("{% true %}", True), ("{% [] %}", []), ("{% [0] %}", [0]),
     ("{% [1, 'two', 3] %}", [1, "two", 3]), ("{% {'foo': 'bar'} %}", {"foo": "bar"}), ('{% $number("2") %}', 2),
     ("{% $variable := 1 %}", 1), ("{% 3.0 %}", 3), ("{% 7 / 2 %}", 3.5), ("{% 1e20 %}", 10**20),
     ("{% 1e21 %}", 1e21)],
)
def test_literals_and_numbers_print_like_javascript(text, expected):
    result = run(text)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [('{% $contains("hello$world", /^hello\\$/) %}', True), ('{% $contains("hello$world", /^hello\\ /) %}', False),
     ("{% $contains('hello$world', /^hello\\$/) %}", True)],
)
def test_regular_expressions(text, expected):
    assert run(text) is expected


def test_comparisons_used_by_choice_conditions():
    data = {"type": "Private", "value": 22, "result": {"done": False}}
    assert run("{% $not($states.input.type = 'Private') %}", data) is False
    assert run("{% $states.input.value >= 20 and $states.input.value < 30 %}", data) is True
    assert run("{% $not($states.input.result.done) %}", data) is True
    assert run("{% $states.input = '\"' %}", '"') is True


def test_merge_with_dynamic_arguments():
    data = {"part1": {"hello": "world"}, "part2": {"foo": "bar"}}
    assert run("{% $merge([$states.input.part1, $states.input.part2]) %}", data) == {"hello": "world", "foo": "bar"}


@pytest.mark.parametrize(
    ("array", "size", "expected"),
    [([0], 1, [[0]]), ([0, 1, 2], 2, [[0, 1], [2]]), ([0, 1, 2, 3], 3, [[0, 1, 2], [3]]), ([0, 1, 2, 3], 2.9, [[0, 1], [2, 3]])],
)
def test_aws_partition(array, size, expected):
    assert run("{% $partition($states.input.a, $states.input.n) %}", {"a": array, "n": size}) == expected


@pytest.mark.parametrize(("array", "size"), [([], 2), ([1], 0), ([1], -1)])
def test_aws_partition_without_result_is_undefined(array, size):
    assert run("{% $partition($states.input.a, $states.input.n) %}", {"a": array, "n": size}) is UNDEFINED


@pytest.mark.parametrize(
    ("args", "expected"),
    [("0, 9, 3", [0, 3, 6, 9]), ("0, 10, 3", [0, 3, 6, 9]), ("1, 9, 9", 1), ("1, 9, 2", [1, 3, 5, 7, 9]),
     ("5, 1, -2", [5, 3, 1]), ("-1.7, 2, 1", [-1, 0, 1, 2])],
)
def test_aws_range(args, expected):
    # Recorded on AWS: a one-element range is the bare number.
    assert run(f"{{% $range({args}) %}}") == expected


@pytest.mark.parametrize("args", ["0, 10, -1", "10, 0, 1", "0, 10, 0", "0, 10"])
def test_aws_range_without_result_is_undefined(args):
    assert run(f"{{% $range({args}) %}}") is UNDEFINED


def test_aws_range_has_a_size_limit():
    with pytest.raises(JsonataError):
        run("{% $range(1, 400000, 1) %}")


def test_aws_hash_uuid_random_parse():
    assert run("{% $hash('input data', 'SHA-256') %}") == (
        "b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3"
    )
    assert run("{% $hash('input data', 'MD5') %}") == "812f45842bc6d66ee14572ce20db8e86"
    assert run("{% $hash('input data') %}") is UNDEFINED
    with pytest.raises(JsonataError):
        run("{% $hash('input data', 'sha-256') %}")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", run("{% $uuid() %}"))
    assert run("{% $random(7) %}") == run("{% $random(7) %}")
    assert 0 <= run("{% $random() %}") < 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [("-0", 0), ("1", 1), ("1.1", 1.1), ("true", True), ('"HelloWorld"', "HelloWorld"),
     ('[1, 2, "HelloWorld"]', [1, 2, "HelloWorld"]), ('{"Arg1": 1, "Arg2": []}', {"Arg1": 1, "Arg2": []}),
     ("[1, null]", [1, None])],
)
def test_aws_parse(text, expected):
    assert run("{% $parse($states.input.s) %}", {"s": text}) == expected


def test_eval_is_disabled():
    with pytest.raises(JsonataError) as exc:
        run("{% $eval('1') %}")
    assert exc.value.code == "T1006"


@pytest.mark.parametrize(
    ("expression", "tail"),
    [("1 + 'a'", 'T2002: The right side of the "+" operator must evaluate to a number'),
     ('$sum("a")', 'T0412: Argument 1 of function "sum" must be an array of "numbers"'),
     ('$abs("x")', 'T0410: Argument 1 of function "abs" does not match function signature'),
     ('$number("abc")', 'D3030: Unable to cast value to a number: "abc"'),
     ('-"a"', 'D1002: Cannot negate a non-numeric value: "a"')],
)
def test_runtime_errors_read_like_jsonata_js_after_aws_sentence(expression, tail):
    with pytest.raises(JsonataError) as exc:
        compile_template(f"{{% {expression} %}}").evaluate({"input": {}}, {}, field="Output/x")
    assert exc.value.error == "States.QueryEvaluationError"
    assert exc.value.cause == (
        f"The JSONata expression '{expression}' specified for the field 'Output/x' threw an error during evaluation. {tail}"
    )


@pytest.mark.parametrize(
    ("expression", "cause"),
    [("a[1,2)", 'INVALID_JSONATA_EXPRESSION: Expected "]", got ","'),
     ("1 +", "INVALID_JSONATA_EXPRESSION: Unexpected end of expression"),
     ('{"a":}', 'INVALID_JSONATA_EXPRESSION: The symbol "}" cannot be used as a unary operator'),
     ("phone", "UNSUPPORTED_JSONATA_EXPRESSION: Reference to 'phone' at the top level is not supported."),
     ("{'k': v}", "UNSUPPORTED_JSONATA_EXPRESSION: Reference to 'v' at the top level is not supported."),
     ("$map($states.input.a, function($x){ b })",
      "UNSUPPORTED_JSONATA_EXPRESSION: Reference to 'b' at the top level is not supported."),
     ("$$", "UNSUPPORTED_JSONATA_EXPRESSION: Reference to '$$' is not supported.")],
)
def test_definitions_aws_refuses_are_rejected_at_compile_time(expression, cause):
    with pytest.raises(JsonataError) as exc:
        compile_template(f"{{% {expression} %}}")
    assert exc.value.cause == cause


@pytest.mark.parametrize(
    "expression",
    ["$states.input.items[value > 3].name", "$states.input.(a + b)", "$states.input.a{b: c}",
     "$sort($states.input.a, function($l, $r){ $l.x > $r.x })", "$states.input.a^(x)", "[1, 2][$ > 1]"],
)
def test_names_below_the_top_level_are_accepted(expression):
    compile_template(f"{{% {expression} %}}")


def test_results_are_plain_json_values():
    result = run("{% $states.input.FunctionInput.fst[$ > 0] %}")
    assert result == [1, 2, 3] and type(result) is list
    mapped = run("{% $map($states.input.input_values, function($v){ {'v': $v} }) %}")
    assert mapped == [{"v": 1}, {"v": 2}, {"v": 3}]
    assert type(mapped) is list and all(type(m) is dict for m in mapped)


def test_now_and_millis_follow_the_given_clock():
    expression = compile_template("{% [$now(), $millis()] %}")
    assert expression.evaluate({"input": {}}, {}, now=1700000000.5) == ["2023-11-14T22:13:20.500Z", 1700000000500]


def test_type_name():
    assert [type_name(v) for v in (None, True, 1, 1.5, "s", [], {})] == [
        "null", "boolean", "number", "number", "string", "array", "object"]


def test_compiled_once():
    assert compile_template("{% $x %}") is compile_template("{% $x %}")


@given(st.lists(st.integers(-1000, 1000), min_size=1, max_size=30), st.integers(1, 7))
def test_partition_flattens_back(items, size):
    parts = run("{% $partition($states.input.a, $states.input.n) %}", {"a": items, "n": size})
    assert [x for p in parts for x in p] == items


@given(st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=5),
                    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c, max_size=3),
                    max_leaves=10))
def test_input_comes_back_unchanged(value):
    assert run("{% $states.input %}", value) == value


expression_text = st.lists(st.sampled_from(list("$.[]()'\"?@*:,-019ab <>=!&|/{}%~^#") + ["$states", ".input", "and"]),
                           max_size=20)


@given(expression_text.map(lambda parts: "{% " + "".join(parts) + " %}"))
def test_any_text_either_compiles_or_is_rejected_and_never_crashes(text):
    try:
        expression = compile_template(text)
    except JsonataError:
        return
    try:
        expression.evaluate({"input": {"a": [1, 2]}}, {"ab": 1})
    except JsonataError:
        pass
