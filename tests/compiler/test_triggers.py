"""Several triggers per workflow, EventBridge event-pattern triggers, and what they compile to."""
import textwrap

from compiler.load import build_workflow, read_document
from compiler.sam import build_template
from compiler.validate import check_schema, check_workflow


def load(tmp_path, text, name="retrain"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(text))
    doc = read_document(path)
    assert check_schema(doc) == []
    workflow, errors = build_workflow(doc, path)
    assert errors == []
    return workflow, doc


def messages(tmp_path, text):
    workflow, doc = load(tmp_path, text)
    return [f"{error.place.line}: {error.message}" for error in check_workflow(workflow, doc, tmp_path)]


NEW_DATA_OR_SCHEDULE = """
    resources:
      datasets: {type: bucket}
      models: {type: topic}
    triggers:
      - s3: {bucket: datasets, prefix: manifests/, suffix: .manifest}
      - schedule: {cron: "0 3 ? * SUN *", input: {manifest: latest, fired: <aws.scheduler.scheduled-time>}}
      - event:
          description: A model package was approved in the registry
          pattern:
            source: [aws.sagemaker]
            detail-type: [SageMaker Model Package State Change]
            detail:
              ModelPackageGroupName: ["${resource:datasets}-group"]
              ModelApprovalStatus: [Approved]
    steps:
      - name: Done
        succeed: {}
    """


def test_each_trigger_starts_the_same_state_machine_through_one_role(tmp_path):
    workflow, _ = load(tmp_path, NEW_DATA_OR_SCHEDULE)
    resources = build_template([workflow], tmp_path)["Resources"]
    machine = {"Ref": "RetrainStateMachine"}
    rule, schedule, event = (resources[key] for key in ("RetrainTrigger", "RetrainSchedule", "RetrainEventTrigger"))
    assert rule["Properties"]["EventPattern"]["detail"]["object"]["key"] == [  # a long suffix with a prefix: as written, lower, upper
        {"wildcard": "manifests/*.manifest"}, {"wildcard": "manifests/*.MANIFEST"}]
    assert schedule["Properties"]["ScheduleExpression"] == "cron(0 3 ? * SUN *)"
    assert schedule["Properties"]["Target"]["Input"] == (
        '{"fired": "<aws.scheduler.scheduled-time>", "manifest": "latest"}')
    assert event["Properties"]["Description"] == "A model package was approved in the registry"
    pattern = event["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.sagemaker"]
    # ${resource:x} in a pattern is the resource's name, as the event carries it
    assert pattern["detail"]["ModelPackageGroupName"] == [{"Fn::Sub": "${DatasetsBucket}-group"}]
    for target in (rule["Properties"]["Targets"][0], event["Properties"]["Targets"][0],
                   schedule["Properties"]["Target"]):
        assert target["Arn"] == machine
        assert target["RoleArn"] == {"Fn::GetAtt": ["RetrainTriggerRole", "Arn"]}
    trust = resources["RetrainTriggerRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"]["Service"] == ["events.amazonaws.com", "scheduler.amazonaws.com"]
    # the S3 trigger still turns on EventBridge notifications for its bucket
    assert "NotificationConfiguration" in resources["DatasetsBucket"]["Properties"]


def test_second_trigger_of_a_kind_gets_a_numbered_id(tmp_path):
    workflow, _ = load(tmp_path, """
        resources:
          a: {type: bucket}
          b: {type: bucket}
        triggers:
          - s3: {bucket: a}
          - s3: {bucket: b}
          - schedule: rate(1 day)
          - schedule: rate(7 days)
        steps:
          - {name: Done, succeed: {}}
        """)
    resources = build_template([workflow], tmp_path)["Resources"]
    assert {"RetrainTrigger", "RetrainTrigger2", "RetrainSchedule", "RetrainSchedule2"} <= set(resources)
    buckets = [resources[key]["Properties"]["EventPattern"]["detail"]["bucket"]["name"]
               for key in ("RetrainTrigger", "RetrainTrigger2")]
    assert buckets == [[{"Ref": "ABucket"}], [{"Ref": "BBucket"}]]


def test_a_single_schedule_keeps_its_role_trusting_only_scheduler(tmp_path):
    workflow, _ = load(tmp_path, """
        trigger:
          schedule: rate(1 day)
        steps:
          - {name: Done, succeed: {}}
        """)
    role = build_template([workflow], tmp_path)["Resources"]["RetrainTriggerRole"]
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "scheduler.amazonaws.com"}


def test_event_patterns_are_checked_where_eventbridge_would_refuse_them(tmp_path):
    found = messages(tmp_path, """
        triggers:
          - event:
              pattern:
                source: aws.sagemaker
                detail_type: [SageMaker Training Job State Change]
                detail: {TrainingJobStatus: Completed, Tags: {team: []}}
        steps:
          - {name: Done, succeed: {}}
        """)
    assert "5: 'source' must be a list of values or filters in an event pattern" in found
    assert "6: 'detail_type' is not a field of an EventBridge event" in found
    assert "7: 'TrainingJobStatus' must be a list of values or filters in an event pattern" in found
    assert "7: 'team' must be a list of values or filters in an event pattern" in found
    assert len(found) == 4


def test_trigger_and_triggers_together_and_two_apis_are_errors(tmp_path):
    found = messages(tmp_path, """
        trigger:
          schedule: rate(1 day)
        triggers:
          - api: {method: GET, path: /a}
          - api: {method: POST, path: /b}
        steps:
          - {name: Done, succeed: {}}
        """)
    assert found == ["4: a workflow has `trigger` or `triggers`, not both"]
    found = messages(tmp_path, """
        triggers:
          - api: {method: GET, path: /a}
          - api: {method: POST, path: /b}
        steps:
          - {name: Done, succeed: {}}
        """)
    assert found == ["4: a workflow has at most one api trigger"]


def test_schedule_rates_are_checked_in_a_list_too(tmp_path):
    found = messages(tmp_path, """
        triggers:
          - schedule: rate(1 days)
        steps:
          - {name: Done, succeed: {}}
        """)
    assert found == ["3: rate(1 days) is not a valid rate"]
