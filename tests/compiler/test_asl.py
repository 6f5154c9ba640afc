"""What each spec construct compiles to in Amazon States Language."""

import textwrap

import pytest

from compiler.asl import build_definition
from compiler.load import build_workflow, read_document
from engine.asl.validate import check_definition


def compile_asl(tmp_path, text, name="demo"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(text))
    workflow, errors = build_workflow(read_document(path), path)
    assert errors == []
    definition, substitutions = build_definition(workflow)
    assert check_definition(definition, endless_loops=False) == []
    return definition, substitutions


def states(tmp_path, steps, header=""):
    definition, _ = compile_asl(tmp_path, header + "steps:\n" + textwrap.indent(textwrap.dedent(steps), "  "))
    return definition["States"]


def test_steps_run_in_order_with_implicit_next_and_the_last_one_ends(tmp_path):
    definition, _ = compile_asl(tmp_path, """
        description: Two steps.
        steps:
          - name: First
            pass: {}
          - name: Second
            pass: {}
        """)
    assert definition == {
        "Comment": "Two steps.",
        "StartAt": "First",
        "States": {"First": {"Type": "Pass", "Next": "Second"}, "Second": {"Type": "Pass", "End": True}},
    }


def test_explicit_next_and_end_override_the_order(tmp_path):
    result = states(tmp_path, """
        - name: A
          pass: {}
          next: C
        - name: B
          pass: {}
          end: true
        - name: C
          pass: {}
          next: B
        """)
    assert result["A"]["Next"] == "C"
    assert result["B"] == {"Type": "Pass", "End": True}
    assert result["C"]["Next"] == "B"


def test_handler_step_calls_the_function_arn_through_a_definition_substitution(tmp_path):
    definition, substitutions = compile_asl(tmp_path, """
        steps:
          - name: Collect faces
            handler: face_blur.collect_faces
            result_path: $.faces
            retry: [lambda]
        """, name="face-blur")
    assert definition["States"]["Collect faces"] == {
        "Type": "Task",
        "Resource": "${FaceBlurCollectFacesFunctionArn}",
        "ResultPath": "$.faces",
        "Retry": [{"ErrorEquals": ["Lambda.ServiceException", "Lambda.AWSLambdaException",
                                   "Lambda.SdkClientException", "Lambda.TooManyRequestsException"],
                   "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 2.0}],
        "End": True,
    }
    assert substitutions == {"FaceBlurCollectFacesFunctionArn": {"Fn::GetAtt": ["FaceBlurCollectFacesFunction",
                                                                                "Arn"]}}


def test_handler_task_timeout_is_task_timeout_not_the_lambda_timeout(tmp_path):
    result = states(tmp_path, """
        - name: Slow
          handler: app.slow
          timeout: 900
          task_timeout: 950
          heartbeat: 60
        """)
    assert result["Slow"]["TimeoutSeconds"] == 950
    assert result["Slow"]["HeartbeatSeconds"] == 60


def test_service_step_uses_the_aws_sdk_integration_with_shaping_fields(tmp_path):
    result = states(tmp_path, """
        - name: Start detection
          service: rekognition:startFaceDetection
          parameters:
            Video: {S3Object: {Bucket.$: $.bucket, Name.$: $.key}}
          result_selector: {JobId.$: $.JobId}
          result_path: $.job
          output_path: $
          input_path: $.detail
          timeout: 300
          retry: [throttling]
        """)
    assert result["Start detection"] == {
        "Type": "Task",
        "Resource": "arn:aws:states:::aws-sdk:rekognition:startFaceDetection",
        "InputPath": "$.detail",
        "Parameters": {"Video": {"S3Object": {"Bucket.$": "$.bucket", "Name.$": "$.key"}}},
        "ResultSelector": {"JobId.$": "$.JobId"},
        "ResultPath": "$.job",
        "OutputPath": "$",
        "TimeoutSeconds": 300,
        # The preset is named by the integration: Rekognition's own throttling errors, prefixed.
        "Retry": [{"ErrorEquals": ["Rekognition.ThrottlingException",
                                   "Rekognition.ProvisionedThroughputExceededException",
                                   "Rekognition.LimitExceededException"],
                   "IntervalSeconds": 2, "MaxAttempts": 6, "BackoffRate": 2.0, "MaxDelaySeconds": 60,
                   "JitterStrategy": "FULL"}],
        "End": True,
    }


@pytest.mark.parametrize("service, resource", [
    ("sagemaker:createTrainingJob.sync", "arn:aws:states:::sagemaker:createTrainingJob.sync"),
    ("sagemaker:createTransformJob.sync", "arn:aws:states:::sagemaker:createTransformJob.sync"),
    ("sagemaker:createModel", "arn:aws:states:::sagemaker:createModel"),
    ("sagemaker:updateEndpoint", "arn:aws:states:::sagemaker:updateEndpoint"),
    ("sns:publish", "arn:aws:states:::sns:publish"),
    ("dynamodb:putItem", "arn:aws:states:::dynamodb:putItem"),
    ("states:startExecution.sync", "arn:aws:states:::states:startExecution.sync"),
    ("sagemaker:describeEndpoint", "arn:aws:states:::aws-sdk:sagemaker:describeEndpoint"),
    ("s3:listObjectsV2", "arn:aws:states:::aws-sdk:s3:listObjectsV2"),
])
def test_optimized_integrations_by_name_and_everything_else_through_aws_sdk(tmp_path, service, resource):
    result = states(tmp_path, f"""
        - name: Call
          service: {service}
          parameters: {{}}
        """)
    assert result["Call"]["Resource"] == resource


def test_resource_param_and_function_references_become_substitutions(tmp_path):
    definition, substitutions = compile_asl(tmp_path, """
        parameters:
          Stage: {type: String, default: dev}
        resources:
          alerts: {type: topic}
          videos-out: {type: bucket}
        steps:
          - name: Notify
            service: sns:publish
            parameters:
              TopicArn: ${resource:alerts}
              Message: "done in s3://${resource:videos-out}/${param:Stage}/"
              Callback: ${function:Work}
          - name: Work
            handler: app.work
        """, name="notify")
    assert definition["States"]["Notify"]["Parameters"] == {
        "TopicArn": "${AlertsTopic}",
        "Message": "done in s3://${VideosOutBucket}/${Stage}/",
        "Callback": "${NotifyWorkFunctionArn}",
    }
    assert substitutions == {
        "AlertsTopic": {"Ref": "AlertsTopic"},
        "NotifyWorkFunctionArn": {"Fn::GetAtt": ["NotifyWorkFunction", "Arn"]},
        "Stage": {"Ref": "Stage"},
        "VideosOutBucket": {"Ref": "VideosOutBucket"},
    }


def test_catch_goes_to_a_step_with_result_path(tmp_path):
    result = states(tmp_path, """
        - name: Work
          handler: app.work
          catch: [{errors: [States.ALL], next: Report failure, result_path: $.error}]
        - name: Done
          succeed: {}
        - name: Report failure
          fail: {error: WorkFailed, cause: the work failed}
        """)
    assert result["Work"]["Catch"] == [{"ErrorEquals": ["States.ALL"], "Next": "Report failure",
                                        "ResultPath": "$.error"}]
    assert result["Done"] == {"Type": "Succeed"}
    assert result["Report failure"] == {"Type": "Fail", "Error": "WorkFailed", "Cause": "the work failed"}


def test_full_retry_objects(tmp_path):
    result = states(tmp_path, """
        - name: Work
          handler: app.work
          retry:
            - {errors: [Timeout], interval: 5, max_attempts: 2, backoff: 1.5, max_delay: 30, jitter: NONE}
        """)
    assert result["Work"]["Retry"] == [{"ErrorEquals": ["Timeout"], "IntervalSeconds": 5, "MaxAttempts": 2,
                                        "BackoffRate": 1.5, "MaxDelaySeconds": 30, "JitterStrategy": "NONE"}]


POLL = """
- name: Wait for faces
  poll:
    service: rekognition:getFaceDetection
    parameters: {JobId.$: $.job.JobId, MaxResults: 1}
    result_path: $.detection
    every: 10
    until: $.detection.JobStatus == "SUCCEEDED"
    fail_if: $.detection.JobStatus == "FAILED"
    error: FaceDetectionFailed
    cause: Rekognition could not analyse the video
    timeout: 3600
- name: Collect
  pass: {}
"""


def test_poll_compiles_to_a_counter_task_choice_and_wait_loop(tmp_path):
    result = states(tmp_path, POLL)
    assert list(result) == ["Wait for faces: start", "Wait for faces", "Wait for faces: check",
                            "Wait for faces: wait", "Wait for faces: failed", "Wait for faces: timed out", "Collect"]
    assert result["Wait for faces: start"] == {
        "Type": "Pass", "Comment": "Start polling: give up after 3600 s",
        "Assign": {"polls_wait_for_faces": 0}, "Next": "Wait for faces"}
    assert result["Wait for faces"] == {
        "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:rekognition:getFaceDetection",
        "Parameters": {"JobId.$": "$.job.JobId", "MaxResults": 1}, "ResultPath": "$.detection",
        "Next": "Wait for faces: check"}
    assert result["Wait for faces: check"] == {
        "Type": "Choice",
        "Choices": [
            {"Variable": "$.detection.JobStatus", "StringEquals": "FAILED", "Next": "Wait for faces: failed"},
            {"Variable": "$.detection.JobStatus", "StringEquals": "SUCCEEDED", "Next": "Collect"},
            {"Variable": "$polls_wait_for_faces", "NumericGreaterThanEquals": 360,
             "Next": "Wait for faces: timed out"},
        ],
        "Default": "Wait for faces: wait"}
    assert result["Wait for faces: wait"] == {
        "Type": "Wait", "Seconds": 10,
        "Assign": {"polls_wait_for_faces.$": "States.MathAdd($polls_wait_for_faces, 1)"},
        "Next": "Wait for faces"}
    assert result["Wait for faces: failed"] == {
        "Type": "Fail", "Error": "FaceDetectionFailed", "Cause": "Rekognition could not analyse the video"}
    assert result["Wait for faces: timed out"] == {
        "Type": "Fail", "Error": "Wait for faces.TimedOut",
        "Cause": "Wait for faces did not finish within 3600 seconds"}


def test_transitions_into_a_poll_land_on_its_counter(tmp_path):
    definition, _ = compile_asl(tmp_path, "steps:\n" + textwrap.indent(
        "- name: Begin\n  pass: {}\n" + POLL, "  "))
    assert definition["States"]["Begin"]["Next"] == "Wait for faces: start"


def test_poll_without_timeout_or_fail_if_as_the_last_step(tmp_path):
    result = states(tmp_path, """
        - name: Until ready
          poll:
            service: sagemaker:describeEndpoint
            parameters: {EndpointName: model}
            result_path: $.endpoint
            every: 30
            until: $.endpoint.EndpointStatus == "InService"
        """)
    assert list(result) == ["Until ready", "Until ready: check", "Until ready: wait", "Until ready: done"]
    assert result["Until ready: check"]["Choices"] == [
        {"Variable": "$.endpoint.EndpointStatus", "StringEquals": "InService", "Next": "Until ready: done"}]
    assert result["Until ready: wait"] == {"Type": "Wait", "Seconds": 30, "Next": "Until ready"}
    assert result["Until ready: done"] == {"Type": "Pass", "End": True}


CHOICE = """
- name: Route
  choice:
    - if: $.metrics.accuracy >= 0.9 and $.metrics.drift < 0.1
      then: Promote
    - if: $.status is present and $.status matches "FAIL*"
      then: Fail it
    - if: not ($.approved == true or $.count != 3)
      then: Promote
    - if: $.when > "2026-01-01T00:00:00Z" as timestamp
      then: Promote
    - if: $.a <= $.b as numeric
      then: Promote
    - if: $.name is string and $.x is null and $.y is absent
      then: Promote
  default: Keep
- name: Promote
  succeed: {}
- name: Keep
  succeed: {}
- name: Fail it
  fail: {error: Failed}
"""


def test_choice_conditions_become_rules_with_the_operator_of_the_value_type(tmp_path):
    choices = states(tmp_path, CHOICE)["Route"]
    assert choices["Default"] == "Keep"
    assert choices["Choices"] == [
        {"And": [{"Variable": "$.metrics.accuracy", "NumericGreaterThanEquals": 0.9},
                 {"Variable": "$.metrics.drift", "NumericLessThan": 0.1}], "Next": "Promote"},
        {"And": [{"Variable": "$.status", "IsPresent": True},
                 {"Variable": "$.status", "StringMatches": "FAIL*"}], "Next": "Fail it"},
        {"Not": {"Or": [{"Variable": "$.approved", "BooleanEquals": True},
                        {"Not": {"Variable": "$.count", "NumericEquals": 3}}]}, "Next": "Promote"},
        {"Variable": "$.when", "TimestampGreaterThan": "2026-01-01T00:00:00Z", "Next": "Promote"},
        {"Variable": "$.a", "NumericLessThanEqualsPath": "$.b", "Next": "Promote"},
        {"And": [{"Variable": "$.name", "IsString": True}, {"Variable": "$.x", "IsNull": True},
                 {"Variable": "$.y", "IsPresent": False}], "Next": "Promote"},
    ]


def test_choice_without_default_has_no_default(tmp_path):
    result = states(tmp_path, """
        - name: Route
          choice:
            - if: $.ok == true
              then: Done
        - name: Done
          succeed: {}
        """)
    assert "Default" not in result["Route"]


@pytest.mark.parametrize("wait, fields", [
    ("30", {"Seconds": 30}),
    ("{seconds_path: $.delay}", {"SecondsPath": "$.delay"}),
    ('{until: "2026-01-01T00:00:00Z"}', {"Timestamp": "2026-01-01T00:00:00Z"}),
    ("{until_path: $.at}", {"TimestampPath": "$.at"}),
])
def test_wait(tmp_path, wait, fields):
    result = states(tmp_path, f"""
        - name: Pause
          wait: {wait}
        """)
    assert result["Pause"] == {"Type": "Wait", **fields, "End": True}


def test_pass_with_result_and_result_path(tmp_path):
    result = states(tmp_path, """
        - name: Shape
          pass: {result: {n: 1}}
          result_path: $.shaped
        """)
    assert result["Shape"] == {"Type": "Pass", "Result": {"n": 1}, "ResultPath": "$.shaped", "End": True}


def test_inline_map(tmp_path):
    result = states(tmp_path, """
        - name: Each image
          map:
            items: $.images
            item_selector: {image.$: $$.Map.Item.Value, bucket.$: $.bucket}
            concurrency: 10
            steps:
              - name: Resize
                handler: app.resize
          result_path: $.resized
        """)
    assert result["Each image"] == {
        "Type": "Map",
        "ItemsPath": "$.images",
        "ItemSelector": {"image.$": "$$.Map.Item.Value", "bucket.$": "$.bucket"},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Resize",
                          "States": {"Resize": {"Type": "Task", "Resource": "${DemoResizeFunctionArn}",
                                                "End": True}}},
        "MaxConcurrency": 10,
        "ResultPath": "$.resized",
        "End": True,
    }


def test_distributed_map_reads_and_writes_s3(tmp_path):
    result = states(tmp_path, """
        - name: Each row
          map:
            mode: distributed
            reader: {bucket: images, key: manifest.csv, format: csv}
            batch: {max_items: 100}
            writer: {bucket: results, prefix: runs/}
            concurrency: 50
            tolerated_failure_percentage: 5
            steps:
              - name: Score
                handler: app.score
        """, header="resources:\n  images: {type: bucket}\n  results: {type: bucket}\n")
    state = result["Each row"]
    assert state["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert state["ItemReader"] == {"Resource": "arn:aws:states:::s3:getObject",
                                   "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
                                   "Parameters": {"Bucket": "${ImagesBucket}", "Key": "manifest.csv"}}
    assert state["ItemBatcher"] == {"MaxItemsPerBatch": 100}
    assert state["ResultWriter"] == {"Resource": "arn:aws:states:::s3:putObject",
                                     "Parameters": {"Bucket": "${ResultsBucket}", "Prefix": "runs/"}}
    assert state["MaxConcurrency"] == 50
    assert state["ToleratedFailurePercentage"] == 5


def test_parallel_branches(tmp_path):
    result = states(tmp_path, """
        - name: Both
          parallel:
            - steps:
                - name: Left
                  pass: {}
            - steps:
                - name: Right 1
                  pass: {}
                - name: Right 2
                  succeed: {}
          result_path: $.both
        """)
    assert result["Both"] == {
        "Type": "Parallel",
        "Branches": [
            {"StartAt": "Left", "States": {"Left": {"Type": "Pass", "End": True}}},
            {"StartAt": "Right 1", "States": {"Right 1": {"Type": "Pass", "Next": "Right 2"},
                                              "Right 2": {"Type": "Succeed"}}},
        ],
        "ResultPath": "$.both",
        "End": True,
    }


def test_fail_with_paths(tmp_path):
    result = states(tmp_path, """
        - name: Broken
          fail: {error_path: $.error.Error, cause_path: $.error.Cause}
        """)
    assert result["Broken"] == {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}


def test_jsonata_workflow(tmp_path):
    definition, _ = compile_asl(tmp_path, """
        query_language: JSONata
        resources:
          work: {type: bucket}
        steps:
          - name: List
            service: s3:listObjectsV2
            arguments: {Bucket: "${resource:work}", Prefix: "{% $states.input.prefix %}"}
            output: "{% $states.result.Contents %}"
            assign: {count: "{% $count($states.result.Contents) %}"}
          - name: Route
            choice:
              - if: $count > 10
                then: Many
            default: Few
          - name: Many
            succeed: {}
          - name: Few
            succeed: {}
        """)
    assert definition["QueryLanguage"] == "JSONata"
    assert definition["States"]["List"] == {
        "Type": "Task", "Resource": "arn:aws:states:::aws-sdk:s3:listObjectsV2",
        "Arguments": {"Bucket": "${WorkBucket}", "Prefix": "{% $states.input.prefix %}"},
        "Output": "{% $states.result.Contents %}",
        "Assign": {"count": "{% $count($states.result.Contents) %}"},
        "Next": "Route"}
    assert definition["States"]["Route"]["Choices"] == [{"Condition": "{% $count > 10 %}", "Next": "Many"}]


def test_jsonata_poll_counts_with_jsonata(tmp_path):
    definition, _ = compile_asl(tmp_path, """
        query_language: JSONata
        steps:
          - name: Ready
            poll:
              service: sagemaker:describeEndpoint
              arguments: {EndpointName: model}
              every: 60
              until: $states.input.EndpointStatus = "InService"
              timeout: 600
        """)
    result = definition["States"]
    assert result["Ready: check"]["Choices"] == [
        {"Condition": '{% $states.input.EndpointStatus = "InService" %}', "Next": "Ready: done"},
        {"Condition": "{% $polls_ready >= 10 %}", "Next": "Ready: timed out"}]
    assert result["Ready: wait"]["Assign"] == {"polls_ready": "{% $polls_ready + 1 %}"}


def test_express_workflow_and_state_level_query_language(tmp_path):
    definition, _ = compile_asl(tmp_path, """
        type: express
        steps:
          - name: Shape
            query_language: JSONata
            pass: {}
            output: "{% $states.input.a %}"
        """)
    assert definition["States"]["Shape"] == {"Type": "Pass", "QueryLanguage": "JSONata",
                                             "Output": "{% $states.input.a %}", "End": True}


def test_compiling_is_deterministic(tmp_path):
    first = compile_asl(tmp_path, "steps:\n" + textwrap.indent(textwrap.dedent(CHOICE), "  "))
    second = compile_asl(tmp_path, "steps:\n" + textwrap.indent(textwrap.dedent(CHOICE), "  "))
    assert first == second


def test_wait_for_token_handler_invokes_through_lambda_invoke_with_the_token(tmp_path):
    result = states(tmp_path, """
        - name: Review
          handler: app.request_review
          wait_for_token: true
          heartbeat: 3600
          result_path: $.review
        """)
    assert result["Review"] == {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {"FunctionName": "${DemoReviewFunctionArn}",
                       "Payload": {"Input.$": "$", "TaskToken.$": "$$.Task.Token"}},
        "ResultPath": "$.review",
        "HeartbeatSeconds": 3600,
        "End": True,
    }


class ScriptedJobStatus:
    """A task dispatcher answering a poll's status call from a script (then IN_PROGRESS forever)."""

    def __init__(self, *statuses):
        self.statuses = list(statuses)
        self.calls = 0

    def run_task(self, call):
        self.calls += 1
        return {"JobStatus": self.statuses.pop(0) if self.statuses else "IN_PROGRESS"}


@pytest.mark.parametrize("statuses, status, error, calls", [
    (["IN_PROGRESS", "IN_PROGRESS", "SUCCEEDED"], "SUCCEEDED", None, 3),
    (["IN_PROGRESS", "FAILED"], "FAILED", "FaceDetectionFailed", 2),
    ([], "FAILED", "Wait for faces.TimedOut", 361),  # 360 waits of 10 s = the 3600 s give-up time
])
def test_the_compiled_poll_loop_runs_in_the_engine(tmp_path, statuses, status, error, calls):
    from engine import execute

    definition, _ = compile_asl(tmp_path, "steps:\n" + textwrap.indent(textwrap.dedent(POLL), "  "))
    dispatcher = ScriptedJobStatus(*statuses)
    result = execute(definition, '{"job": {"JobId": "j-1"}}', dispatcher=dispatcher)
    assert (result.status, result.error, dispatcher.calls) == (status, error, calls)
