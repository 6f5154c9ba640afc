"""Intrinsic functions; expected values are what AWS Step Functions returned for the same call."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.asl.intrinsics import IntrinsicError, IntrinsicSyntaxError, compile_intrinsic, is_intrinsic
from engine.asl.jsonpath import PathError, PathNotFound


def run(text, data=None, context=None, variables=None):
    return compile_intrinsic(text).evaluate(data if data is not None else {}, context, variables)


def fn2(name, fst, snd):
    return run(f"States.{name}($.fst, $.snd)", {"fst": fst, "snd": snd})


@pytest.mark.parametrize(
    ("array", "size", "expected"),
    [([], 2, []), ([0], 3, [[0]]), ([0, 1, 2], 2, [[0, 1], [2]]), ([0, 1, 2, 3], 3, [[0, 1, 2], [3]]),
     ([0, 1, 2, 3], 1, [[0], [1], [2], [3]]), ([1, 2, 3, 4, 5], 2.6, [[1, 2], [3, 4], [5]])],
)
def test_array_partition(array, size, expected):
    assert fn2("ArrayPartition", array, size) == expected


@pytest.mark.parametrize("size", [0, -1, 0.49, "2", None])
def test_array_partition_rejects_sizes_below_one(size):
    with pytest.raises(IntrinsicError) as exc:
        fn2("ArrayPartition", [1, 2, 3], size)
    assert (exc.value.error, exc.value.cause) == ("States.Runtime", "Invalid arguments in States.ArrayPartition")


@pytest.mark.parametrize(
    ("array", "value", "expected"),
    [([], None, False), ([[1, 2, 3], 2], [1, 2, 3], True), ([{"1": 2, "2": []}], {"1": 2, "2": []}, True),
     ([{"1": 2, "2": []}], [], False), ([True, False], False, True), ([1], True, False)],
)
def test_array_contains_compares_json_values(array, value, expected):
    assert fn2("ArrayContains", array, value) is expected


@pytest.mark.parametrize(
    ("args", "expected"),
    [((0, 9, 3), [0, 3, 6, 9]), ((0, 10, 3), [0, 3, 6, 9]), ((1, 9, 9), [1]), ((1, 9, 2), [1, 3, 5, 7, 9]),
     ((5, 1, -2), [5, 3, 1]), ((5, 1, 1), []), ((1.4, 5.6, 2.2), [1, 3, 5])],
)
def test_array_range(args, expected):
    assert run("States.ArrayRange($[0], $[1], $[2])", list(args)) == expected


@pytest.mark.parametrize("args", ["1, 10, 0", "1, 1001, 1", "$.a, 5, 1"])
def test_array_range_limits(args):
    with pytest.raises(IntrinsicError, match="Invalid arguments in States.ArrayRange"):
        run(f"States.ArrayRange({args})", {"a": "a"})


@pytest.mark.parametrize("call", ["States.ArrayRange('a', 5, 1)", "States.MathAdd(1, '-1')",
                                  "States.ArrayGetItem($.xs, '0')", "States.MathRandom(1, '9')"])
def test_a_string_literal_where_a_number_is_needed_is_refused_at_load(call):
    with pytest.raises(IntrinsicSyntaxError, match="must be a number, not a string"):
        compile_intrinsic(call)


def test_array_get_item_length_unique():
    assert fn2("ArrayGetItem", [1, 2, 3, 4, 5, 6, 7, 8, 9], 5) == 6
    with pytest.raises(IntrinsicError):
        fn2("ArrayGetItem", [1], 1)
    assert run("States.ArrayLength($)", [1, 2, 3, 4, 5, 6, 7, 8, 9]) == 9
    dupes = [None, None, True, True, 1, 1, 1.1, 0, "HelloWorld", "HelloWorld", [], [], {"a": 1}, {"a": 1}, {"a": 2}]
    assert run("States.ArrayUnique($)", dupes) == [None, True, 1, 1.1, 0, "HelloWorld", [], {"a": 1}, {"a": 2}]


def test_array_keeps_argument_values():
    assert run("States.Array()") == []
    assert fn2("Array", {"Arg1": 1, "Arg2": []}, None) == [{"Arg1": 1, "Arg2": []}, None]
    assert run("States.Array('a', 2, 2.5, true, null)") == ["a", 2, 2.5, True, None]


def test_base64_and_hash():
    assert run("States.Base64Encode($)", "Data to encode") == "RGF0YSB0byBlbmNvZGU="
    assert run("States.Base64Encode($)", "") == ""
    assert run("States.Base64Decode($)", "RGF0YSB0byBlbmNvZGU=") == "Data to encode"
    assert fn2("Hash", "input data", "MD5") == "812f45842bc6d66ee14572ce20db8e86"
    assert fn2("Hash", "input data", "SHA-1") == "aaff4a450a104cd177d28d18d74485e8cae074b7"
    assert fn2("Hash", "input data", "SHA-256") == "b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3"
    assert fn2("Hash", "input data", "SHA-384").startswith("d28a7d5cf25a74f11a50a18452b75e04")
    assert fn2("Hash", "input data", "SHA-512").startswith("6ce4adb348546d4f449c4d25aad9a7c9")
    with pytest.raises(IntrinsicError, match="States.Hash"):
        fn2("Hash", "input data", "SHA-999")
    with pytest.raises(IntrinsicError, match="States.Base64Encode"):
        run("States.Base64Encode($)", "x" * 10001)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", None), (" ", None), ("null", None), ("-0", 0), ("1.1", 1.1), ("true", True), ('"HelloWorld"', "HelloWorld"),
     ('[1, 2, "HelloWorld"]', [1, 2, "HelloWorld"]), ('{"Arg1": 1, "Arg2": []}', {"Arg1": 1, "Arg2": []})],
)
def test_string_to_json(text, expected):
    assert run("States.StringToJson($.s)", {"s": text}) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "null"), (1.1, "1.1"), (True, "true"), ("HelloWorld", '"HelloWorld"'),
     ([1, 2, "HelloWorld"], '[1,2,"HelloWorld"]'), ({"Arg1": 1, "Arg2": []}, '{"Arg1":1,"Arg2":[]}')],
)
def test_json_to_string_is_compact(value, expected):
    assert run("States.JsonToString($.v)", {"v": value}) == expected


def test_json_merge_is_shallow():
    fst = {"a": {"a1": 1, "a2": 2}, "b": 2, "d": 3}
    snd = {"a": {"a3": 1, "a4": 2}, "c": 3, "d": 4}
    result = run("States.JsonMerge($.fst, $.snd, false)", {"fst": fst, "snd": snd})
    assert result == {"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3, "d": 4}
    with pytest.raises(IntrinsicError):
        run("States.JsonMerge($.fst, $.snd, true)", {"fst": fst, "snd": snd})


@pytest.mark.parametrize(
    ("fst", "snd", "expected"),
    [(-9, 3, -6), (1.49, 1.5, 3), (1.5, 1.51, 4), (-1.49, -1.5, -2), (-1.5, -1.51, -3), (-0.5, 0.5, 1),
     (-0.5, 0, 0), (2.5, 0, 3), (-2.5, 0, -2), (-3.5, 0, -3), (1.49, -1.49, 0)],
)
def test_math_add_rounds_each_argument_half_up(fst, snd, expected):
    assert fn2("MathAdd", fst, snd) == expected


def test_math_add_rejects_strings_and_out_of_range():
    with pytest.raises(IntrinsicError, match="Invalid arguments in States.MathAdd"):
        fn2("MathAdd", 1, "NOT A NUMBER")
    with pytest.raises(IntrinsicError):
        fn2("MathAdd", 2**31, 1)


def test_math_random_range_and_seed():
    for _ in range(50):
        assert 12 <= fn2("MathRandom", 12.5, 44.51) < 44
    assert run("States.MathRandom(1, 100, 42)") == run("States.MathRandom(1, 100, 42)")
    with pytest.raises(IntrinsicError):
        run("States.MathRandom(10, 5)")


@pytest.mark.parametrize(
    ("text", "delimiters", "expected"),
    [(" ", ",", [" "]), (" , ", ",", [" ", " "]), (", , ,", ",", [" ", " "]), (",,,,", ",", []),
     ("1,2,3,4,5", ",", ["1", "2", "3", "4", "5"]), ("This.is+a,test=string", ".+,=", ["This", "is", "a", "test", "string"]),
     ("split on T and \nnew line", "T\n", ["split on ", " and ", "new line"])],
)
def test_string_split_on_any_delimiter_character(text, delimiters, expected):
    assert fn2("StringSplit", text, delimiters) == expected


def test_uuid_is_a_fresh_v4_uuid():
    first, second = run("States.UUID()"), run("States.UUID()")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", first)
    assert first != second


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", "Formatting argument ."), (None, "Formatting argument null."), (1, "Formatting argument 1."),
     (1.1, "Formatting argument 1.1."), ('{"Arg1": 1}', 'Formatting argument {"Arg1": 1}.'),
     ({"Arg1": 1, "Arg2": []}, "Formatting argument {Arg1=1, Arg2=[]}."),
     ([1, "a", None, 1e20], "Formatting argument [1, a, null, 1.0E20].")],
)
def test_format_prints_values_like_aws(value, expected):
    assert run("States.Format('Formatting argument {}.', $.v)", {"v": value}) == expected


def test_format_escapes_and_argument_count():
    assert run(r"States.Format('\{\} {} \'q\' \\', 'x')") == "{} x 'q' \\"
    with pytest.raises(IntrinsicError, match="Invalid arguments in States.Format"):
        run("States.Format('{} {}', 1)")


def test_context_variables_and_nesting():
    context = {"StateMachine": {"Id": "arn:sm", "Name": "sm-part-last"}, "Execution": {"Name": "ex"}}
    assert run("States.Format('fst={} snd={}.', $$.Execution.Name, $$.StateMachine)", {}, context) == (
        "fst=ex snd={Id=arn:sm, Name=sm-part-last}."
    )
    nested = ("States.ArrayGetItem(States.StringSplit($$.StateMachine.Name, '-'), "
              "States.MathAdd(States.ArrayLength(States.StringSplit($$.StateMachine.Name, '-')), -1))")
    assert run(nested, {}, context) == "last"
    assert run("States.MathAdd(States.MathAdd($y, $x), $bias)", {}, None, {"x": 1, "y": 2, "bias": -10}) == -7
    assert run("States.Hash($inputString, 'SHA-256')", {}, None, {"inputString": "input data"}).startswith("b4a697")


def test_string_literals_keep_unknown_escapes():
    # Recorded on AWS: the \" inside the literal reaches StringToJson unchanged.
    assert run("States.StringToJson('{\"text\":\"An \\\"escaped\\\" here\"}')") == {"text": 'An "escaped" here'}
    assert run("States.StringSplit('Hello\\nWorld', '\\n')") == ["Hello", "World"]


def test_path_arguments_may_hold_commas_and_parentheses():
    data = {"a": [{"x": 2}, {"x": 0}], "b": {"c,d": 5}}
    assert run("States.Array($.a[?(@.x > 1)], $.b['c,d'])", data) == [[{"x": 2}], 5]


def test_missing_path_argument_raises_path_not_found():
    with pytest.raises(PathNotFound):
        run("States.ArrayLength($.missing)")


@pytest.mark.parametrize(
    "text",
    ["States.Nope(1)", "States.ArrayLength()", "States.UUID(1)", "States.Array(1", "States.Array(1) x",
     "States.Array(abc)", "States.Array('open)", "States.ArrayPartition($.arr, )",
     "States.Array(" * 11 + ")" * 11],
)
def test_malformed_calls_are_rejected_at_compile_time(text):
    with pytest.raises(IntrinsicSyntaxError):
        compile_intrinsic(text)


def test_is_intrinsic():
    assert is_intrinsic("States.Format('{}', $.a)")
    assert not is_intrinsic("$.a")
    assert not is_intrinsic("States.Unknown(1)")
    assert not is_intrinsic("States are nice")


@given(st.lists(st.integers(-50, 50)), st.integers(1, 10))
def test_partition_then_flatten_round_trips(items, size):
    parts = run(f"States.ArrayPartition($, {size})", items)
    assert [x for part in parts for x in part] == items
    assert all(len(p) == size for p in parts[:-1])


@given(st.text(max_size=200))
def test_base64_round_trips(text):
    encoded = run("States.Base64Encode($.t)", {"t": text})
    assert run("States.Base64Decode($.t)", {"t": encoded}) == text


call_text = st.lists(st.sampled_from(list("$.[]()'\"?@*:,-019ab {}\\") + ["States.Array(", "States.MathAdd(", "$$"]),
                     max_size=20)


@given(call_text.map(lambda parts: "States.Array(" + "".join(parts)))
def test_any_text_either_compiles_or_is_rejected_and_never_crashes(text):
    try:
        call = compile_intrinsic(text)
    except IntrinsicSyntaxError:
        return
    try:
        call.evaluate({"a": [1], "b": "x"}, {"c": 1}, {"ab": 2})
    except (IntrinsicError, PathError):
        pass


@pytest.mark.parametrize(("call", "value"), [
    ("States.ArrayContains($.s, 1)", {"s": "1"}),
    ("States.ArrayGetItem($.s, 0)", {"s": "abc"}),           # a string is no array, however indexable
    ("States.ArrayGetItem($.xs, $.s)", {"xs": [1], "s": "0"}),
    ("States.ArrayGetItem($.xs, 0.5)", {"xs": [1]}),
    ("States.ArrayGetItem($.xs, -1)", {"xs": [1]}),
    ("States.ArrayLength($.s)", {"s": "abc"}),
    ("States.ArrayUnique($.s)", {"s": "abc"}),
    ("States.Hash($.s, 'MD5')", {"s": 1}),
    ("States.Hash($.s, 'MD5')", {"s": "x" * 10001}),
    ("States.JsonMerge($.o, $.xs, false)", {"o": {}, "xs": []}),
    ("States.JsonMerge($.xs, $.o, false)", {"o": {}, "xs": []}),
    ("States.MathAdd(0, 2147483648)", {}),
    ("States.MathAdd(-2147483649, 0)", {}),
    ("States.MathRandom($.s, 5)", {"s": "x"}),
    ("States.MathRandom(1, $.s)", {"s": "x"}),
    ("States.MathRandom(1, 5, $.s)", {"s": "x"}),
    ("States.MathRandom(5, 5)", {}),                         # an empty range has nothing to draw
    ("States.StringSplit($.n, ',')", {"n": 1}),
    ("States.StringSplit('a,b', $.n)", {"n": 1}),
    ("States.StringToJson($.n)", {"n": 1}),
    ("States.StringToJson($.s)", {"s": "{bad"}),
    ("States.Base64Encode($.s)", {"s": "x" * 10001}),
    ("States.Base64Decode($.n)", {"n": 1}),
    ("States.Base64Decode($.s)", {"s": "A" * 10004}),
    ("States.Base64Decode($.s)", {"s": "not base64!"}),
    ("States.Base64Decode($.s)", {"s": "/w=="}),             # decodes to a byte that is no UTF-8 text
    ("States.Base64Decode($.s)", {"s": "QUJD!"}),            # a character outside the alphabet
    ("States.Format($.n, 1)", {"n": 1}),
])
def test_bad_arguments_fail_with_the_function_named(call, value):
    with pytest.raises(IntrinsicError) as exc:
        run(call, value)
    name = call.split("(")[0]
    assert (exc.value.error, exc.value.cause) == ("States.Runtime", f"Invalid arguments in {name}")


@pytest.mark.parametrize(("args", "size"), [((1, 1000, 1), 1000), ((0, 2998, 3), 1000), ((1000, 1, -1), 1000)])
def test_array_range_may_hold_exactly_a_thousand_items(args, size):
    result = run("States.ArrayRange($[0], $[1], $[2])", list(args))
    assert (len(result), result[0], result[-1]) == (size, args[0], args[0] + (size - 1) * args[2])


def test_array_range_counting_down_ends_at_the_end_value():
    assert run("States.ArrayRange(5, 0, -1)") == [5, 4, 3, 2, 1, 0]


def test_hash_takes_up_to_ten_thousand_characters():
    assert len(run("States.Hash($, 'MD5')", "x" * 10000)) == 32


def test_math_add_accepts_each_end_of_the_32_bit_range():
    assert run("States.MathAdd(2147483647, 0)") == 2147483647
    assert run("States.MathAdd(0, -2147483648)") == -2147483648
    assert run("States.MathAdd(-2147483648, 2147483647)") == -1


def test_math_random_with_a_seed_stays_inside_its_range():
    assert {run(f"States.MathRandom(100, 101, {seed})") for seed in range(5)} == {100}


def test_json_to_string_keeps_non_ascii_characters():
    assert run("States.JsonToString($)", {"name": "Zoë ✓"}) == '{"name":"Zoë ✓"}'


# States.Format prints a number as Java's Double.toString does: plain from 10^-3 up to (not including)
# 10^7, computerized scientific notation outside that range, never a trailing zero beyond ".0".
@pytest.mark.parametrize(("value", "text"), [
    (0.0, "0.0"), (-0.0, "-0.0"), (0.5, "0.5"), (0.001, "0.001"), (-0.001, "-0.001"), (9999999.5, "9999999.5"),
    (0.0009, "9.0E-4"), (1e7, "1.0E7"), (1.5e7, "1.5E7"), (-1.5e7, "-1.5E7"), (1.25e7, "1.25E7"),
    (1.0000001e7, "1.0000001E7"), (1.2345e-5, "1.2345E-5"),
])
def test_format_prints_a_decimal_number_like_java(value, text):
    assert run("States.Format('{}', $.v)", {"v": value}) == text


def test_base64_takes_up_to_ten_thousand_characters():
    encoded = run("States.Base64Encode($)", "x" * 10000)
    assert len(encoded) > 10000 and run("States.Base64Decode($)", encoded[:10000]) == "x" * 7500


@pytest.mark.parametrize(("value", "text"), [
    (True, "true"), (False, "false"), ([True, False, None], "[true, false, null]"),
    ({"a": [1, {"b": False}]}, "{a=[1, {b=false}]}"), ({"a": True}, "{a=true}"),
])
def test_format_prints_booleans_and_nested_values_like_java(value, text):
    assert run("States.Format('{}', $.v)", {"v": value}) == text


@pytest.mark.parametrize(("array", "value", "expected"), [
    ([1.0], 1, True), ([[1, 2]], [1], False), ([[1]], [1, 2], False), ([{"a": 1.0}], {"a": 1}, True),
])
def test_array_contains_takes_numbers_by_value_and_lists_by_length(array, value, expected):
    assert fn2("ArrayContains", array, value) is expected


def test_string_literal_arguments_unescape_quotes_braces_and_backslashes():
    assert run(r"States.Array('it\'s', 'a\{b\}', 'back\\slash', 'keep\n', 'x\'', '', 'b')") == [
        "it's", "a{b}", "back\\slash", "keep\\n", "x'", "", "b"]
    assert run("States.Array(1,2,3)") == [1, 2, 3]


def test_path_arguments_may_hold_quotes_and_escaped_quotes():
    data = {"a,b": 1, "c)": 2, "x\\'y": 3}
    assert run(r"States.Array($['a,b'], $['c)'], $['x\'y'])", data) == [1, 2, 3]
    assert run(r"States.Array($['x\''], $.Xs, 1)", {"x\\'": 4, "Xs": 5}) == [4, 5, 1]


def test_ten_nested_calls_are_allowed():
    text = "States.Array(" * 10 + ")" * 10
    assert run(text) == [[[[[[[[[[]]]]]]]]]]


@pytest.mark.parametrize(("text", "reason"), [
    ("States.Array(" * 11 + ")" * 11, "more than 10 nested intrinsic functions (at position 130)"),
    ("States.Array(States.UUID)", "expected '(' (at position 13)"),
    ("States.Nope(1)", "unknown intrinsic function States.Nope (at position 0)"),
    ("(1)", "unknown intrinsic function  (at position 0)"),
    ("States.Array(1", "missing ')' (at position 14)"),
    ("States.Array(1 2)", "unexpected '2' (at position 15)"),
    ("States.ArrayRange(1, 2)", "States.ArrayRange takes 3 arguments, not 2 (at position 23)"),
    ("States.MathRandom(1)", "States.MathRandom takes 2 to 3 arguments, not 1 (at position 20)"),
    ("States.Format()", "States.Format takes 1+ arguments, not 0 (at position 15)"),
    ("States.Array(1,", "missing argument (at position 15)"),
    ("States.Array(1,,2)", "missing argument (at position 15)"),
    ("States.Array(X)", "invalid argument 'X' (at position 13)"),
    ("States.Array([1])", "invalid argument '[1]' (at position 13)"),
    ("States.Array(1, 'a)", "unterminated string literal (at position 16)"),
    ("States.MathAdd(1, '2')", "argument 2 of States.MathAdd must be a number, not a string (at position 21)"),
    ("States.Array($.a[)", "invalid path argument '$.a[)': unclosed '[' at position 4 (at position 18)"),
])
def test_a_malformed_call_says_what_is_wrong_and_where(text, reason):
    with pytest.raises(IntrinsicSyntaxError) as info:
        compile_intrinsic(text)
    assert (info.value.text, info.value.reason) == (text, reason)
    assert str(info.value) == f"Invalid intrinsic function '{text}': {reason}"


@pytest.mark.parametrize(("text", "shaped"), [("States.UUID() ", True), (42, False), (None, False),
                                               ("States.UUID)", False)])
def test_is_intrinsic_looks_at_the_shape_only(text, shaped):
    assert is_intrinsic(text) is shaped
