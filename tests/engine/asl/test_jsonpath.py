"""JSONPath as AWS Step Functions evaluates it; expected values are what AWS returned for the same path."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.asl.jsonpath import PathError, PathNotFound, PathSyntaxError, compile_path

ITEMS = {"items": [{"itemValue": i} for i in range(6)]}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$", ITEMS),
        ("$.items[0]", {"itemValue": 0}),
        ("$.items[-1]", {"itemValue": 5}),
        ("$.items[1:]", [{"itemValue": i} for i in range(1, 6)]),
        ("$.items[:1]", [{"itemValue": 0}]),
        ("$.items[1:].itemValue", [1, 2, 3, 4, 5]),
        ("$.items[-2:].itemValue", [4, 5]),
        ("$.items[1:5:2].itemValue", [1, 3]),
        ("$.items[*].itemValue", [0, 1, 2, 3, 4, 5]),
        ("$.items[0,2].itemValue", [0, 2]),
        ("$.items[?(@.itemValue > 3)].itemValue", [4, 5]),
        ("$.items[?(@.itemValue < 2 || @.itemValue == 5)].itemValue", [0, 1, 5]),
        ("$.items[?(@.itemValue >= 1 && !(@.itemValue >= 3))].itemValue", [1, 2]),
        ("$..itemValue", [0, 1, 2, 3, 4, 5]),
        ("$.items.length()", 6),
        ("$.items[*].itemValue.sum()", 15),
        ("$.items[*].itemValue.max()", 5),
    ],
)
def test_reads_like_aws(path, expected):
    assert compile_path(path).get(ITEMS) == expected


def test_filter_on_equality_returns_matching_objects():
    # Recorded on AWS: Parameters {"FromInput.$": "$.users[?(@.status == 0)]"}
    data = {"users": [{"year": 1997, "status": 0}, {"year": 1998, "status": 1}]}
    assert compile_path("$.users[?(@.status == 0)]").get(data) == [{"year": 1997, "status": 0}]


def test_filter_string_regex_membership_and_existence():
    data = {"a": [{"x": "ABc", "t": 1}, {"x": "b"}, {"x": "zz", "t": None}]}
    assert compile_path("$.a[?(@.x == 'b')].x").get(data) == ["b"]
    assert compile_path("$.a[?(@.x =~ /ab.*/i)].x").get(data) == ["ABc"]
    assert compile_path("$.a[?(@.x in ['b', 'zz'])].x").get(data) == ["b", "zz"]
    assert compile_path("$.a[?(@.t)].x").get(data) == ["ABc", "zz"]
    assert compile_path("$.a[?(@.x != 'b')].x").get(data) == ["ABc", "zz"]


def test_filter_equality_is_typed_except_numbers_against_their_text():
    data = {"a": [{"x": 1}, {"x": "1"}, {"x": True}, {"x": [1]}]}
    assert compile_path("$.a[?(@.x == 1)].x").get(data) == [1, "1"]
    assert compile_path("$.a[?(@.x == true)].x").get(data) == [True]
    assert compile_path("$.a[?(@.x < 2)].x").get(data) == [1]


def test_filter_compares_with_root_values():
    data = {"limit": 2, "a": [{"n": 1}, {"n": 3}]}
    assert compile_path("$.a[?(@.n > $.limit)]").get(data) == [{"n": 3}]


def test_bracket_names_keep_blanks_hyphens_and_backslashes():
    assert compile_path("$['a b']").get({"a b": 1}) == 1
    assert compile_path("$.sub-values").get({"sub-values": [1]}) == [1]
    # Recorded on AWS: the backslash is part of the property name.
    assert compile_path("$['Test\\\"\"Name\"']").get({'Test\\""Name"': 'Value"\\'}) == 'Value"\\'


def test_multiple_properties_at_the_end_merge_into_one_object():
    assert compile_path("$['a','b']").get({"a": 1, "b": 2, "c": 3}) == {"a": 1, "b": 2}


@pytest.mark.parametrize("path", ["$[*]", "$.item.items[*]", "$.item.items[1:5]", "$.item.items[1:5].itemValue"])
def test_indefinite_path_on_missing_data_is_an_empty_list(path):
    # Recorded on AWS with input {}: each gives [].
    assert compile_path(path).get({}) == []


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("$.NoSuchInputPath", "No results for path: $['NoSuchInputPath']"),
        ("$.a.b", "No results for path: $['a']['b']"),
        ("$.items[10]", "No results for path: $['items'][10]"),
        ("$.missing.b.c", "Missing property in path $['missing']"),
        ("$.items[0].x.y", "No results for path: $['items'][0]['x']['y']"),
        # A function is one more step (Jayway's FunctionPathToken follows the member): a member missing
        # before it is a missing property; anything else names the whole path, the function included.
        ("$.missing.length()", "Missing property in path $['missing']"),
        ("$.items[10].length()", "No results for path: $['items'][10].length()"),
    ],
)
def test_definite_path_that_misses_raises_with_jayway_text(path, detail):
    with pytest.raises(PathNotFound) as exc:
        compile_path(path).get({"a": "not an object", "items": [1]})
    assert exc.value.detail == detail
    assert exc.value.cause == f"Invalid path '{path}' : {detail}"
    assert exc.value.error == "States.Runtime"


def test_context_and_variable_roots():
    context = {"Execution": {"Id": "arn:x", "Input": {"input-value": 3}}, "Map": {"Item": {"Index": 2}}}
    assert compile_path("$$.Execution.Id").get({}, context) == "arn:x"
    assert compile_path("$$.Execution.Input.input-value").get({}, context) == 3
    assert compile_path("$$").get({}, context) is context
    variables = {"var": {"a": [7, 8]}, "n": 1}
    assert compile_path("$var.a[1]").get({}, None, variables) == 8
    assert compile_path("$var[?(@ > 7)]").get({}, None, {"var": [7, 8]}) == [8]
    assert compile_path("$n").get({}, None, variables) == 1
    with pytest.raises(PathNotFound):
        compile_path("$missing").get({}, None, variables)


def test_definite_and_reference_flags():
    assert compile_path("$.a[0].b").definite and compile_path("$.a[0].b").reference
    assert not compile_path("$.a[*]").definite
    assert not compile_path("$..a").definite
    assert not compile_path("$.a[?(@.x)]").reference
    assert not compile_path("$.a.length()").reference
    assert compile_path("$.a").jayway == "$['a']"


@pytest.mark.parametrize("path", ["$.a b", "$.a[", "$.a[x]", "$.a[?(@.x >)]", "a.b", "$.a.nosuch()"])
def test_malformed_paths_are_rejected_at_compile_time(path):
    with pytest.raises(PathSyntaxError):
        compile_path(path)


def test_compiled_once():
    assert compile_path("$.a.b") is compile_path("$.a.b")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4),
    max_leaves=20,
)


path_text = st.lists(st.sampled_from(list("$.[]()'\"?@*:,-019ab <>=!&|/") + ["..", "$$", "length()"]), max_size=20)


@given(path_text.map(lambda parts: "$" + "".join(parts)), json_values)
def test_any_text_either_compiles_or_is_rejected_and_never_crashes(text, data):
    try:
        path = compile_path(text)
    except PathSyntaxError:
        return
    try:
        path.get(data, {"c": 1}, {"ab": [1]})
    except PathError:
        pass


# Jayway forms that published AWS samples use (step-functions-workflows-collection).
@pytest.mark.parametrize(("path", "data", "expected"), [
    ("$.[0]", [{"body": 1}, 2], {"body": 1}),
    ("$.[0].body", [{"body": 1}], 1),
    ("$.Snapshots.[0].State", {"Snapshots": [{"State": "completed"}]}, "completed"),
    ("$.[?(@.OU > 0)]", [{"OU": 1}, {"OU": 0}], [{"OU": 1}]),
    ("$.[*].['bucket', 'key']", [{"bucket": "b", "key": "k", "x": 1}], [{"bucket": "b", "key": "k"}]),
    ("$.Labels[?(@.Name==Receipt)]", {"Labels": [{"Name": "Receipt"}, {"Name": "Menu"}]}, [{"Name": "Receipt"}]),
    ("$.F[?(@.Type.Text==AMOUNT_PAID)].V", {"F": [{"Type": {"Text": "AMOUNT_PAID"}, "V": 3},
                                                 {"Type": {"Text": "TAX"}, "V": 1}]}, [3]),
    ("$.xs[?(@.on == true)]", {"xs": [{"on": True}, {"on": "true"}]}, [{"on": True}]),
])
def test_jayway_dot_bracket_and_unquoted_filter_words(path, data, expected):
    assert compile_path(path).get(data) == expected


# Jayway's filter operators (its README: "in: left exists in right", "subsetof: left is a subset of
# right", "anyof: left has an intersection with right", "noneof: … no intersection", "size: size of left
# (array or string) should match right", "empty: left (array or string) should be empty", "contains: left
# (array or string) should include right"). Item 3 lacks `n`: a comparison with a missing value holds only
# for `!=`.
SHOP = {"limit": 2, "ref": {"k": 1}, "a": [
    {"id": 1, "n": 1, "s": "ab", "tags": ["x", "y"], "o": {"k": 1}, "f": True, "big": 9007199254740993},
    {"id": 2, "n": 2.5, "s": "b", "tags": [], "o": {"k": 2}, "f": 1, "p": "a/b"},
    {"id": 3, "s": "", "tags": ["z"], "o": {"k": 1, "j": 0}, "f": "1"},
]}


@pytest.mark.parametrize(("condition", "ids"), [
    ("@.n < 2", [1]), ("@.n < 1", []), ("@.n <= 2.5", [1, 2]), ("@.n <= 0.5", []),
    ("@.n > 1", [2]), ("@.n > 2.5", []), ("@.n >= 1", [1, 2]), ("@.n >= 2.5", [2]),
    ("@.s < 'b'", [1, 3]), ("@.s <= 'b'", [1, 2, 3]), ("@.s > 'ab'", [2]), ("@.s >= 'ab'", [1, 2]),
    ("@.s > 1", []), ("@.n < 'b'", []),                     # numbers and strings are never ordered
    ("@.n == 2.5", [2]), ("@.n != 1", [2, 3]), ("@.n == $.limit", []), ("@.n < $.limit", [1]),
    ("@.f == 1", [2, 3]), ("@.f == true", [1]), ("@.f != true", [2, 3]), ("@.s == 1", []),
    ("@.n == '1'", [1]), ("@.n == '2.50'", [2]), ("@.n == 'one'", []),
    ("@.tags == ['x', 'y']", [1]), ("@.tags == ['y', 'x']", []), ("@.tags == ['x']", []),
    ("@.o == $.ref", [1]), ("@.tags == $.ref", []),
    ("@.s =~ /a.*/", [1]), ("@.s =~ /A.*/", []), ("@.s =~ /A.*/i", [1]), ("@.s =~ /b/", [2]),
    ("@.n =~ /1/", []),
    ("@.n in [1, 3]", [1]), ("@.s in ['b', 'ab']", [1, 2]), ("@.n in $.limit", []),
    ("@.n nin [1, 3]", [2]), ("@.s nin ['b']", [1, 3]), ("@.n nin $.limit", []),
    ("@.tags subsetof ['x', 'y', 'z']", [1, 2, 3]), ("@.tags subsetof ['x']", [2]), ("@.s subsetof ['ab']", []),
    ("@.tags anyof ['y', 'q']", [1]), ("@.tags anyof []", []), ("@.s anyof ['ab']", []),
    ("@.tags noneof ['y']", [2, 3]), ("@.tags noneof ['x', 'z']", [2]), ("@.s noneof ['q']", []),
    ("@.tags size 2", [1]), ("@.s size 1", [2]), ("@.o size 2", [3]), ("@.n size 1", []), ("@.s size 'x'", []),
    ("@.tags empty true", [2]), ("@.s empty true", [3]), ("@.tags empty false", [1, 3]), ("@.n empty false", []),
    ("@.tags contains 'x'", [1]), ("@.s contains 'a'", [1]), ("@.s contains 1", []), ("@.n contains 1", []),
    ("@.n", [1, 2]), ("!(@.n)", [3]), ("!@.n", [3]),
    ("@.n > 0 && @.s == 'b'", [2]), ("@.n == 1 || @.s == ''", [1, 3]),
    ("@.n == 1 || @.n == 2.5 && @.s == 'x'", [1]), ("(@.n == 1 || @.n == 2.5) && @.s == 'b'", [2]),
    ("@.s == \"ab\"", [1]), ("@.s == 'a\\'b'", []), ("@.missing == null", []), ("@.n != null", [1, 2, 3]),
    ("@.n == 1.0", [1]), ("@.n != @.zzz", [1, 2]), ("@.n < 1E5", [1, 2]), ("@.big == 9007199254740993", [1]),
    ("@.big == 9007199254740992", []), ("@.s == 'ab' ", [1]), ("@.p =~ /a\\/b/", [2]),
])
def test_filter_operators_select_like_jayway(condition, ids):
    assert compile_path(f"$.a[?({condition})].id").get(SHOP) == ids


def test_a_filter_on_an_object_tests_the_object_itself():
    data = {"o": {"n": 1}, "p": {"n": 2}, "x": 5}
    assert compile_path("$.o[?(@.n == 1)]").get(data) == [{"n": 1}]
    assert compile_path("$.p[?(@.n == 1)]").get(data) == []
    assert compile_path("$.x[?(@ == 5)]").get(data) == []  # neither a list nor an object


@pytest.mark.parametrize("path", [
    "$.a[?(@.n ==)]", "$.a[?(@.n == 1", "$.a[?@.n]", "$.a[?(@.n == 1) ", "$.a[?((@.n == 1)]",
    "$.a[?(@.n == 1))]", "$.a[?(@.n == 1 &&)]", "$.a[?(@.n # 1)]", "$.a[?(@.n in [1,)]", "$.a[?(@.n == /x/)]",
])
def test_malformed_filters_are_rejected_at_compile_time(path):
    with pytest.raises(PathSyntaxError) as info:
        compile_path(path)
    assert info.value.path == path


TREE = {"p": {"n": 1, "m": [10, 20, 30, 40]}, "q": {"n": 2, "m": []}, "r": 3, "": 0, "a\\'": 5}


@pytest.mark.parametrize(("path", "expected"), [
    ("$['p','q'].n", [1, 2]),                      # several names inside a path fan out…
    ("$['p','x','q'].n", [1, 2]),                  # …skipping the missing one
    ("$['p','x']", {"p": TREE["p"]}),              # …and merge into one object at the end
    ("$.p.m[-1]", 40), ("$.p.m[-4]", 10),
    ("$.p.m[0,-1,9,-9]", [10, 40]),                # indexes past either end are skipped
    ("$.p.m[-4,4]", [10]), ("$..m[-4]", [10]), ("$..m[3]", [40]), ("$..m[4]", []),
    ("$..[0]", [10]), ("$.p.m[ 1 ]", 20), ("$.p.m[1 : 3]", [20, 30]), ("$.p.m[0:4:1]", [10, 20, 30, 40]),
    ("$.*.n", [1, 2]), ("$['p'] ['n']", 1), ("$['p']['n'] ", 1), ("$['']", 0), ("$['a\\'']", 5),
    ("$.r[0,1]", []),
    ("$.p.m[1:3]", [20, 30]), ("$.p.m[:-1]", [10, 20, 30]), ("$.p.m[::2]", [10, 30]),
    ("$.p.m[::-1]", [40, 30, 20, 10]), ("$.p.m[-3:-1]", [20, 30]), ("$.r[0:1]", []),
    ("$.p.*", [1, [10, 20, 30, 40]]), ("$.r.*", []),
    ("$..n", [1, 2]), ("$..m[0]", [10]),
    ("$.p.m.length()", 4), ("$.p.m.size()", 4), ("$.p.length()", 2),
    ("$.p.m.min()", 10), ("$.p.m.avg()", 25), ("$.p.m.stddev()", pytest.approx(11.180339887)),
    ("$.p.m.first()", 10), ("$.p.m.last()", 40), ("$.q.m.first()", None), ("$.p.keys()", ["n", "m"]),
])
def test_selectors_and_functions_read_like_jayway(path, expected):
    assert compile_path(path).get(TREE) == expected


@pytest.mark.parametrize(("path", "message"), [
    ("$.q.m.max()", "Aggregation function attempted to calculate value using empty array (max)"),
    ("$.r.sum()", "Aggregation function attempted to calculate value using empty array (sum)"),
    ("$.r.length()", "Invalid function length() applied to a value that has no length"),
])
def test_a_function_without_a_value_to_work_on_fails_with_jayway_text(path, message):
    with pytest.raises(PathError) as info:
        compile_path(path).get(TREE)
    assert (info.value.error, info.value.cause) == ("States.Runtime", message)


@pytest.mark.parametrize(("path", "present"), [
    ("$.p.n", True), ("$.p.x", False), ("$.p.m[*]", True), ("$.q.m[*]", False),
    ("$..nothing", False), ("$.q.m.length()", True), ("$.r.length()", False), ("$.p[?(@.n == 1)]", True),
])
def test_is_present_means_a_definite_value_a_function_result_or_a_nonempty_selection(path, present):
    assert compile_path(path).exists(TREE) is present


@pytest.mark.parametrize(("path", "detail"), [
    ("$$.Execution.Nope.x", "Missing property in path $$['Execution']['Nope']"),
    ("$v.a.b", "Missing property in path $v['a']"),
    ("$v.c", "No results for path: $v['c']"),
    ("$v.list[3]", "No results for path: $v['list'][3]"),
    ("$v.list['a','b']", "No results for path: $v['list']['a','b']"),  # not an object: nothing to merge
])
def test_a_missing_path_below_the_context_or_a_variable_is_named_from_its_root(path, detail):
    with pytest.raises(PathNotFound) as info:
        compile_path(path).get({}, {"Execution": {}}, {"v": {"list": [1]}})
    assert info.value.detail == detail
    assert str(info.value) == info.value.cause == f"Invalid path '{path}' : {detail}"


def test_a_missing_variable_is_named():
    with pytest.raises(PathNotFound) as info:
        compile_path("$nope.a").get({}, None, {"v": 1})
    assert info.value.cause == "Invalid path '$nope.a' : No variable found for name: nope"


def test_an_index_just_past_the_end_is_not_found():
    with pytest.raises(PathNotFound) as info:
        compile_path("$.xs[1]").get({"xs": [0]})
    assert info.value.detail == "No results for path: $['xs'][1]"


@pytest.mark.parametrize(("path", "reason"), [
    ("$.a[", "unclosed '[' at position 4"),
    ("$.a b", "use bracket notation ['my prop'] for a property with blanks at position 3"),
    ("$.a[?(@.n == 1 &&)]", "incomplete filter expression"),
    ("$.a[?(@.n == 1 2)]", "unexpected '2' in filter"),
    ("$.a[?((@.n == 1 @.m))]", "expected ')' in filter"),
    ("$.a[?(@.n # 1)]", "invalid filter expression near ' # 1'"),
    ("$.a.length().b", "a function must end the path at position 12"),
    ("$['a']#", "unexpected character '#' at position 6"),
    ("$.a.", "expected a property name at position 4"),
    ("$.a.nosuch()", "unsupported function nosuch() at position 10"),
    ("$..length()", "unsupported function length() at position 9"),
    ("$['a'", "expected ']' at position 5"),
    ("$['a',", "expected a quoted property name at position 6"),
    ("$['a',b]", "expected a quoted property name at position 6"),
    ("$['b", "unterminated quoted property name at position 2"),
    ("$.a[1:2:1:]", "invalid array slice [1:2:1:] at position 11"),
    ("$.a[a:b]", "invalid array slice [a:b] at position 8"),
    ("$.a[::0]", "slice step cannot be zero at position 8"),
    ("$.a[x]", "invalid array index [x] at position 6"),
    ("$.a[X]", "invalid array index [X] at position 6"),
    ("$.a[1", "unclosed '[' at position 4"),
    ("$['a',XbX]", "expected a quoted property name at position 6"),
    ("$.a[?", "expected '(' after '?' at position 5"),
    ("$.a[?@.x]", "expected '(' after '?' at position 5"),
    ("$.a[?(@.x == 1]", "unclosed filter '(...)' at position 5"),
    ("$.a[?(@.x in [1,])]", "invalid list [1,]"),
    ("$.a[?(@.x == empty)]", "unexpected 'empty' in filter"),
    ("$.a[?(@.x == /a/)]", "unexpected '/a/' in filter"),
    ("$.a[?(/a/ == 1)]", "unexpected '/a/' in filter"),
])
def test_a_malformed_path_says_what_is_wrong_and_where(path, reason):
    with pytest.raises(PathSyntaxError) as info:
        compile_path(path)
    assert (info.value.path, info.value.reason) == (path, reason)
    assert str(info.value) == info.value.cause == f"Invalid path '{path}': {reason}"


def test_filters_compare_with_the_root_inside_and_or_and_not():
    data = {"lo": 1, "hi": 3, "a": [{"n": 0}, {"n": 2}, {"n": 4}]}
    assert compile_path("$.a[?(@.n > $.lo && @.n < $.hi)].n").get(data) == [2]
    assert compile_path("$.a[?(@.n < $.lo || @.n > $.hi)].n").get(data) == [0, 4]
    assert compile_path("$.a[?(!(@.n > $.lo))].n").get(data) == [0]
    assert compile_path("$.a[?($.lo)].n").get(data) == [0, 2, 4]
    assert compile_path("$.a[?($.hi > @.n)].n").get(data) == [0, 2]
    assert compile_path("$..a[?(@.n == $.hi)]").get(data) == []
    assert compile_path("$.o[?(@.n == $.lo)]").get({"lo": 2, "o": {"n": 2}}) == [{"n": 2}]
    assert compile_path("$..[?(@.n == $.lo)]").get({"lo": 2, "o": {"n": 2}, "p": {"n": 3}}) == [{"n": 2}]


def test_a_filter_string_may_hold_an_escaped_quote_and_a_closing_parenthesis():
    data = {"a": [{"s": "it's"}, {"s": ")"}, {"s": "x"}]}
    assert compile_path("$.a[?(@.s == 'it\\'s')].s").get(data) == ["it's"]
    assert compile_path("$.a[?(@.s == ')')].s").get(data) == [")"]
    assert compile_path("$.a[?(@.s == 'x\\'')].s").get({"a": [{"s": "x'"}, {"s": "x"}]}) == ["x'"]
    assert compile_path("$.a[?(@.s == ')\\'')].s").get({"a": [{"s": ")'"}, {"s": ")"}]}) == [")'"]
    assert compile_path("$.a[?(@.X == 1)].X").get({"a": [{"X": 1}, {"X": 2}]}) == [1]
    assert compile_path("$.a[?(@.n < 1e5)].n").get({"a": [{"n": 1}, {"n": 1e6}]}) == [1]
    assert compile_path("$.a[?(@.s == \"it's\" || @.s == 'x')].s").get(data) == ["it's", "x"]


@pytest.mark.parametrize(("path", "text"), [
    ("$.m.avg()", "25"), ("$.big.avg()", "200"), ("$.m.stddev()", "11.180339887498949"), ("$.two.avg()", "2.5"),
    ("$.huge.avg()", "1e+19"), ("$.edge.avg()", "9.223372036854776e+18"), ("$.bools.sum()", "1"),
])
def test_averages_that_are_whole_print_as_integers_and_booleans_are_not_numbers(path, text):
    data = {"m": [10, 20, 30, 40], "two": [2, 3], "huge": [1e19, 1e19], "edge": [2.0 ** 63], "bools": [1, True],
            "big": [200, 200]}
    assert json.dumps(compile_path(path).get(data)) == text


def test_is_present_reads_the_context_and_variables():
    assert compile_path("$$.Execution.Id").exists({}, {"Execution": {"Id": "x"}}, None)
    assert compile_path("$v.a").exists({}, None, {"v": {"a": 1}})
    assert not compile_path("$v.b").exists({}, None, {"v": {"a": 1}})


def test_a_context_path_that_misses_at_its_end_is_named_from_its_root():
    with pytest.raises(PathNotFound) as info:
        compile_path("$$.Execution.x").get({}, {"Execution": {}})
    assert info.value.detail == "No results for path: $$['Execution']['x']"
