"""YAML loading: every value keeps its file:line:col; what is not our YAML is refused with a place."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.errors import SpecErrors
from compiler.load import read_document
from compiler.model import SourcePlace


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "flow.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def messages(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(SpecErrors) as caught:
        read_document(write(tmp_path, text), "workflows/flow.yaml")
    return [str(error) for error in caught.value.errors]


def test_every_value_and_key_has_its_place(tmp_path: Path) -> None:
    doc = read_document(write(tmp_path, "steps:\n  - name: A\n    pass: {result: [1, 'two']}\n"), "wf.yaml")
    assert doc.data == {"steps": [{"name": "A", "pass": {"result": [1, "two"]}}]}
    assert doc.places[("steps", 0)] == SourcePlace("wf.yaml", 2, 5)
    assert doc.places[("steps", 0, "name")] == SourcePlace("wf.yaml", 2, 11)
    assert doc.places[("steps", 0, "pass", "result", 1)] == SourcePlace("wf.yaml", 3, 24)
    assert doc.key_places[("steps", 0, "pass")] == SourcePlace("wf.yaml", 3, 5)
    assert ("steps", 0, "pass", "result", 1) in doc.quoted


def test_where_falls_back_to_the_closest_parent(tmp_path: Path) -> None:
    doc = read_document(write(tmp_path, "steps:\n  - name: A\n"), "wf.yaml")
    assert doc.where(("steps", 0, "missing", "deeper")) == SourcePlace("wf.yaml", 2, 5)


def test_dates_stay_strings(tmp_path: Path) -> None:
    doc = read_document(write(tmp_path, "when: 2026-01-01T00:00:00Z\nday: 2026-01-01\n"), "wf.yaml")
    assert doc.data == {"when": "2026-01-01T00:00:00Z", "day": "2026-01-01"}


def test_duplicate_keys_are_errors_at_the_second_one(tmp_path: Path) -> None:
    assert messages(tmp_path, "name: a\nsteps: []\nname: b\n") == [
        "workflows/flow.yaml:3:1: duplicate key 'name' (first defined at line 1)"]


def test_cloudformation_tags_are_refused(tmp_path: Path) -> None:
    assert messages(tmp_path, "steps:\n  - name: !Sub '${AWS::Region}'\n") == [
        ("workflows/flow.yaml:2:11: YAML tag !Sub is not part of the spec language "
        "(reference deploy-time values as ${param:Name} and resources as ${resource:name})")]


def test_merge_keys_and_syntax_errors(tmp_path: Path) -> None:
    assert messages(tmp_path, "base: &b {x: 1}\nother:\n  <<: *b\n") == [
        "workflows/flow.yaml:3:3: YAML merge keys (<<) are not supported (write the keys out)"]
    assert messages(tmp_path, "steps:\n  - name: A\n   bad: indent\n") == [
        "workflows/flow.yaml:3:4: invalid YAML: expected <block end>, but found '<block mapping start>'"]


def test_empty_file(tmp_path: Path) -> None:
    assert messages(tmp_path, "# nothing\n") == [
        "workflows/flow.yaml:1:1: the spec is empty (a workflow needs at least `steps:`)"]


# PyYAML itself folds YAML 1.1 line breaks (NEL, LS, PS) and control characters: leave them out.
text = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=10)
# A key "<<" is dumped unquoted, which YAML reads as a merge key (refused on purpose, tested above).
keys = text.filter(lambda key: key and key != "<<")
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), text),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(keys, json_values, min_size=1, max_size=4),
       st.sampled_from([False, True]))
def test_any_document_reads_back_with_a_place_for_every_value(tmp_path: Path, data: dict, flow: bool) -> None:
    path = tmp_path / "any.yaml"
    path.write_text(yaml.safe_dump(data, default_flow_style=flow, allow_unicode=True), encoding="utf-8")
    doc = read_document(path, "any.yaml")
    assert doc.data == data

    def paths(value: object, prefix: tuple = ()) -> list[tuple]:
        children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
        return [prefix, *(p for key, child in children for p in paths(child, (*prefix, key)))]

    for key_path in paths(data):
        assert key_path in doc.places
        assert doc.places[key_path].line >= 1 and doc.places[key_path].col >= 1
