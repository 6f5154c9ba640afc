"""Definitions nobody here wrote, each with the verdict AWS gives it: the validator and the loader agree.

The fixtures are the ASL test files of asl-validator and statelint and every state machine of
aws-samples' step-functions-workflows-collection (see README.md for sources and licences). A fixture's
expected verdict is its suite's own (upstream.json) unless judged.json overrides it with the reason.
"""
import json
from pathlib import Path

import pytest

from engine import execute
from engine.asl import DefinitionError
from engine.asl.definition import load
from engine.asl.validate import check_definition

HERE = Path(__file__).resolve().parent
UPSTREAM = json.loads((HERE / "upstream.json").read_text())
JUDGED = json.loads((HERE / "judged.json").read_text())
CONFORMANCE = HERE.parents[1] / ".." / "shared" / "conformance" / "aws-recorded.jsonl"


def expected_valid(fixture: str) -> bool:
    return JUDGED.get(fixture, UPSTREAM[fixture])["valid"]


def validator_accepts(text: str) -> bool:
    try:
        definition = json.loads(text)
    except ValueError:
        return False  # CreateStateMachine refuses text that is not JSON
    return check_definition(definition) == []


def loader_accepts(text: str) -> bool:
    try:
        load(text)
    except DefinitionError:
        return False
    return True


@pytest.mark.parametrize("fixture", sorted(UPSTREAM))
def test_validator_and_loader_give_the_expected_verdict(fixture):
    text = (HERE / fixture).read_text()
    expected = expected_valid(fixture)
    assert validator_accepts(text) == expected, check_definition(json.loads(text)) if expected else "accepted"
    assert loader_accepts(text) == expected


def test_every_judged_fixture_exists_differs_from_its_suite_and_says_why():
    for fixture, judgement in JUDGED.items():
        assert fixture in UPSTREAM, fixture
        assert judgement["valid"] != UPSTREAM[fixture]["valid"], f"{fixture} agrees with its suite"
        assert len(judgement["reason"]) > 20, fixture


def test_fixtures_are_exactly_the_listed_ones_with_their_licences():
    on_disk = {str(p.relative_to(HERE)) for p in HERE.glob("*/*.json")}
    assert on_disk == set(UPSTREAM)
    for suite in ("asl-validator", "statelint", "workflows-collection"):
        assert (HERE / suite / "LICENSE").is_file(), suite
    for fixture, source in UPSTREAM.items():
        assert source["repo"].startswith("https://github.com/") and len(source["commit"]) == 40, fixture


def _calls_services(value) -> bool:
    if isinstance(value, dict):
        if value.get("Type") == "Task" or "ItemReader" in value or "ResultWriter" in value:
            return True
        return any(_calls_services(v) for v in value.values())
    if isinstance(value, list):
        return any(_calls_services(v) for v in value)
    return False


def test_published_samples_without_service_calls_run_to_the_end_they_describe():
    samples = {f for f in UPSTREAM if f.startswith("workflows-collection/") and expected_valid(f)
               and not _calls_services(json.loads((HERE / f).read_text()))}
    assert samples == {
        "workflows-collection/path-based-on-data__statemachine__statemachine.asl.json",
        "workflows-collection/either-or-parallel-pattern__statemachine__statemachine.asl.json",
    }
    path_based = (HERE / "workflows-collection/path-based-on-data__statemachine__statemachine.asl.json").read_text()
    routed = {}
    for data in ({"type": "Public"}, {"type": "Private", "value": 0}, {"type": "Private", "value": 25},
                 {"type": "Private", "value": 7}):
        result = execute(path_based, json.dumps(data))
        assert result.status == "SUCCEEDED", result.cause
        routed[json.dumps(data)] = [e["stateEnteredEventDetails"]["name"] for e in result.history
                                    if "stateEnteredEventDetails" in e][-1]
    assert list(routed.values()) == ["NEXT_STATE_ONE", "NEXT_STATE_TWO", "NEXT_STATE_TWO", "DEFAULT_STATE"]
    # The either-or sample polls in two branches until one reports completion; the catcher routes on
    # which branch failed first. With neither process completing, the third branch's 15 s timeout
    # fails the Parallel while the others still poll (they are stopped), as AWS ends it.
    either_or = (HERE / "workflows-collection/either-or-parallel-pattern__statemachine__statemachine.asl.json")
    for data, error, last in (({"Process1ToComplete": True}, "States.FauxFailure1", "Next Step If Process1 Completes"),
                              ({"Process2ToComplete": True}, "States.FauxFailure2", "Next Step if Process 2 Completes"),
                              ({}, "States.RanOutOfTime", "Next Step if Process Ran out of time")):
        result = execute(either_or.read_text(), json.dumps(data))
        assert result.status == "SUCCEEDED"
        assert json.loads(result.output)["Error"] == error
        assert [e["stateEnteredEventDetails"]["name"] for e in result.history
                if "stateEnteredEventDetails" in e][-1] == last
    assert result.stop_date - result.start_date == 15


@pytest.mark.skipif(not CONFORMANCE.is_file(), reason="the AWS-recorded corpus is only on the project's machines")
def test_every_definition_aws_ran_passes_the_validator_and_loads():
    seen = set()
    for line in CONFORMANCE.read_text().splitlines():
        definition = json.loads(line)["definition"]
        text = definition if isinstance(definition, str) else json.dumps(definition)
        if text in seen:
            continue
        seen.add(text)
        assert check_definition(json.loads(text)) == [], text[:200]
        assert loader_accepts(text), text[:200]
