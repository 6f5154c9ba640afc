"""Task dispatch: real handlers (env, context, errors, timeouts), aws-sdk and optimized integrations."""
import json
import threading

import boto3
import pytest

from engine.asl import tokens
from engine.asl.tasks import TaskCall, TaskFailed
from engine.tasks import pascal_service_name

ACCOUNT, REGION = "111111111111", "us-east-1"


def arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:demo-{name}"


def call(resource: str, arguments, *, timeout=None, token=None) -> TaskCall:
    return TaskCall(state_name="S", resource=resource, arguments=arguments, timeout_seconds=timeout,
                    heartbeat_seconds=None, task_token=token, credentials=None, context={})


def test_handler_gets_event_environment_and_lambda_context(dispatcher):
    result = dispatcher.run_task(call(arn("DemoGreetFunction"), {"name": "Ada"}))
    assert result["greeting"] == "hello Ada"
    assert result["bucket"] == "demo-databucket"
    assert result["stage"] == "dev-local" and result["log_level"] == "INFO"
    assert result["function"] == "demo-DemoGreetFunction"
    assert result["arn"] == arn("DemoGreetFunction")
    assert result["memory"] == "512"
    assert 0 < result["remaining_ms"] <= 30_000
    assert len(result["request_id"]) == 36


def test_function_environment_is_removed_after_the_call(dispatcher):
    import os

    dispatcher.run_task(call(arn("DemoGreetFunction"), {}))
    assert "DATA_BUCKET" not in os.environ and "AWS_LAMBDA_FUNCTION_NAME" not in os.environ


def test_exception_becomes_lambda_error_shape(dispatcher):
    with pytest.raises(TaskFailed) as failure:
        dispatcher.run_task(call(arn("DemoFailFunction"), {"kind": "custom"}))
    assert failure.value.error == "ValidationFailed"
    cause = json.loads(failure.value.cause)
    assert list(cause) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert cause["errorMessage"] == "the input is not valid"
    assert cause["errorType"] == "ValidationFailed"
    assert any("demo.py" in frame and "in fail" in frame for frame in cause["stackTrace"])


def test_function_timeout_is_reported_as_lambda_unknown(dispatcher):
    with pytest.raises(TaskFailed) as failure:
        dispatcher.run_task(call(arn("DemoSlowFunction"), {"seconds": 3}))
    assert failure.value.error == "Lambda.Unknown"
    assert failure.value.cause.startswith("The cause could not be determined because Lambda did not return")
    assert "Task timed out after 1.00 seconds" in failure.value.cause


def test_task_timeout_shorter_than_function_timeout_is_states_timeout(dispatcher):
    with pytest.raises(TaskFailed) as failure:
        dispatcher.run_task(call(arn("DemoSlowFunction"), {"seconds": 1}, timeout=0.2))
    assert failure.value.error == "States.Timeout"


def test_unknown_function_is_resource_not_found(dispatcher):
    with pytest.raises(TaskFailed) as failure:
        dispatcher.run_task(call(arn("Missing"), {}))
    assert failure.value.error == "Lambda.ResourceNotFoundException"


def test_unserializable_result_is_a_marshal_error(app, dispatcher):
    import dataclasses

    function = dataclasses.replace(app.functions["DemoGreetFunction"], handler="demo.not_serializable",
                                   name="demo-Bad", arn=arn("Bad"))
    app.functions["Bad"] = function
    with pytest.raises(TaskFailed) as failure:
        dispatcher.run_task(call(arn("Bad"), {}))
    assert failure.value.error == "Runtime.MarshalError"


def test_modules_stay_warm_between_invocations(dispatcher):
    first = dispatcher.run_task(call(arn("DemoCountFunction"), {}))
    assert dispatcher.run_task(call(arn("DemoCountFunction"), {})) == first + 1


def test_functions_sharing_a_code_uri_keep_their_own_module_state(dispatcher):
    assert dispatcher.run_task(call(arn("DemoGreetFunction"), {}))["stage"] == "dev-local"
    count = dispatcher.run_task(call(arn("DemoCountFunction"), {}))
    assert dispatcher.run_task(call(arn("DemoCountTwinFunction"), {})) == 1     # its own container
    assert dispatcher.run_task(call(arn("DemoCountFunction"), {})) == count + 1
    # module-level code ran with this function's environment, not the first importer's
    assert dispatcher.run_task(call(arn("DemoStageFunction"), {})) == "other-stage"


def test_code_roots_do_not_share_module_caches(dispatcher):
    assert dispatcher.run_task(call(arn("DemoOtherFunction"), {})) == "other"
    assert dispatcher.run_task(call(arn("DemoSameNameFunction"), {})) == "handlers"
    assert dispatcher.run_task(call(arn("DemoOtherFunction"), {})) == "other"


def test_lambda_invoke_wraps_the_payload(dispatcher):
    result = dispatcher.run_task(call("arn:aws:states:::lambda:invoke",
                                      {"FunctionName": "demo-DemoGreetFunction", "Payload": {"name": "Bo"}}))
    assert set(result) == {"ExecutedVersion", "Payload", "SdkHttpMetadata", "SdkResponseMetadata", "StatusCode"}
    assert result["StatusCode"] == 200 and result["ExecutedVersion"] == "$LATEST"
    assert result["Payload"]["greeting"] == "hello Bo"
    assert result["SdkHttpMetadata"]["HttpStatusCode"] == 200


def test_lambda_invoke_errors_keep_the_function_error_name(dispatcher):
    with pytest.raises(TaskFailed) as failure:
        dispatcher.run_task(call("arn:aws:states:::lambda:invoke",
                                 {"FunctionName": arn("DemoFailFunction"), "Payload": {}}))
    assert failure.value.error == "ValueError"


def test_handler_boto3_reaches_local_s3(dispatcher, aws):
    dispatcher.run_task(call(arn("DemoWriteFunction"), {"key": "out/a.txt", "body": "hi"}))
    body = aws.client("s3").get_object(Bucket="demo-databucket", Key="out/a.txt")["Body"].read()
    assert body == b"hi"


def test_aws_sdk_call_against_local_s3(dispatcher, aws):
    aws.client("s3").put_object(Bucket="demo-databucket", Key="in.json", Body=b'{"a": 1}')
    result = dispatcher.run_task(call("arn:aws:states:::aws-sdk:s3:getObject",
                                      {"Bucket": "demo-databucket", "Key": "in.json"}))
    assert result["Body"] == '{"a": 1}'
    assert result["ContentLength"] == 8
    assert result["LastModified"].endswith("Z")
    assert "ResponseMetadata" not in result


def test_aws_sdk_error_names_follow_aws_rule(dispatcher):
    with pytest.raises(TaskFailed) as failure:
        dispatcher.run_task(call("arn:aws:states:::aws-sdk:s3:getObject",
                                 {"Bucket": "demo-databucket", "Key": "missing"}))
    assert failure.value.error == "S3.NoSuchKeyException"
    assert "(Service: S3, Status Code: 404" in failure.value.cause


def test_aws_sdk_pascal_case_parameters_reach_camel_case_apis(dispatcher):
    # Step Functions' own API is camelCase (stateMachineArn); the integration takes PascalCase.
    with pytest.raises(TaskFailed) as failure:
        dispatcher.run_task(call("arn:aws:states:::aws-sdk:sfn:describeStateMachine",
                                 {"StateMachineArn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:nope"}))
    assert failure.value.error == "Sfn.StateMachineDoesNotExistException"


def test_service_names_in_error_prefixes():
    assert pascal_service_name("DynamoDB") == "DynamoDb"
    assert pascal_service_name("ACM PCA") == "AcmPca"
    assert pascal_service_name("S3") == "S3"
    assert pascal_service_name("SageMaker") == "SageMaker"


def test_optimized_dynamodb_put_and_get(dispatcher):
    put = dispatcher.run_task(call("arn:aws:states:::dynamodb:putItem",
                                   {"TableName": "demo-ItemsTable", "Item": {"id": {"S": "1"}, "n": {"N": "2"}}}))
    assert put["SdkHttpMetadata"]["HttpStatusCode"] == 200
    got = dispatcher.run_task(call("arn:aws:states:::dynamodb:getItem",
                                   {"TableName": "demo-ItemsTable", "Key": {"id": {"S": "1"}}}))
    assert got["Item"] == {"id": {"S": "1"}, "n": {"N": "2"}}


def test_optimized_dynamodb_conditional_failure_name(dispatcher):
    item = {"TableName": "demo-ItemsTable", "Item": {"id": {"S": "x"}},
            "ConditionExpression": "attribute_not_exists(id)"}
    dispatcher.run_task(call("arn:aws:states:::dynamodb:putItem", item))
    with pytest.raises(TaskFailed) as failure:
        dispatcher.run_task(call("arn:aws:states:::dynamodb:putItem", item))
    assert failure.value.error == "DynamoDB.ConditionalCheckFailedException"


def test_sns_publish_serialises_object_messages(dispatcher, aws):
    queue_url = aws.client("sqs").create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = aws.client("sqs").get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    topic = "arn:aws:sns:us-east-1:111111111111:demo-AlertsTopic"
    aws.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"],
                                Attributes={"RawMessageDelivery": "true"})
    result = dispatcher.run_task(call("arn:aws:states:::sns:publish", {"TopicArn": topic, "Message": {"x": 1}}))
    assert "MessageId" in result and "SdkResponseMetadata" in result
    message = aws.client("sqs").receive_message(QueueUrl=queue_url)["Messages"][0]
    assert json.loads(message["Body"]) == {"x": 1}


def test_wait_for_task_token_answered_by_the_handler_through_boto3(dispatcher):
    token = tokens.new_token()
    outcome = {}
    waiter = threading.Thread(target=lambda: outcome.update(result=tokens.wait(token, 5, None)))
    waiter.start()
    dispatcher.run_task(call("arn:aws:states:::lambda:invoke.waitForTaskToken",
                             {"FunctionName": "demo-DemoAnswerFunction", "Payload": {"token": token}},
                             token=token))
    waiter.join(5)
    failed, output, _, _ = outcome["result"]
    assert not failed and output == {"answered": True}


def test_send_task_success_with_unknown_token_is_task_does_not_exist(aws):
    client = boto3.client("stepfunctions")
    with pytest.raises(client.exceptions.TaskDoesNotExist):
        client.send_task_success(taskToken="nope", output="{}")


def test_unknown_resource_is_a_runtime_error(dispatcher):
    with pytest.raises(TaskFailed) as failure:
        dispatcher.run_task(call("arn:aws:states:::nothing", {}))
    assert failure.value.error == "States.Runtime"


def _training_definition(hyperparameters: dict) -> dict:
    return {"StartAt": "Train", "States": {"Train": {
        "Type": "Task", "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
        "Parameters": {
            "TrainingJobName": "job-1", "RoleArn": "arn:aws:iam::111111111111:role/r",
            "AlgorithmSpecification": {"TrainingImage": "111111111111.dkr.ecr.us-east-1.amazonaws.com/trainer:1",
                                       "TrainingInputMode": "File",
                                       "MetricDefinitions": [{"Name": "accuracy", "Regex": "accuracy=(\\S+)"}]},
            "HyperParameters": hyperparameters,
            "OutputDataConfig": {"S3OutputPath": "s3://demo-databucket/models"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 60}},
        "ResultSelector": {"status.$": "$.TrainingJobStatus", "model.$": "$.ModelArtifacts.S3ModelArtifacts",
                           "metrics.$": "$.FinalMetricDataList[*].Value"},
        "End": True}}}


def test_sagemaker_sync_waits_for_the_job_and_returns_its_description(app, dispatcher):
    from engine import execute

    # images/trainer in the fixture app: the local SageMaker really runs its train.py
    result = execute(_training_definition({}), "{}", dispatcher=dispatcher)
    assert result.status == "SUCCEEDED", result.cause
    assert json.loads(result.output) == {"status": "Completed", "metrics": [0.75],
                                         "model": "s3://demo-databucket/models/job-1/output/model.tar.gz"}


def test_sagemaker_sync_fails_the_task_with_the_jobs_description(app, dispatcher):
    from engine import execute

    result = execute(_training_definition({"fail": "no labels"}), "{}", dispatcher=dispatcher)
    assert result.status == "FAILED" and result.error == "States.TaskFailed"
    described = json.loads(result.cause)
    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"] == "AlgorithmError: no labels"


def test_start_execution_sync_runs_the_child_state_machine(app, dispatcher):
    from engine import execute

    child = app.state_machines["DemoStateMachine"]
    definition = {"StartAt": "Child", "States": {"Child": {
        "Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
        "Parameters": {"StateMachineArn": child.arn, "Input": {"name": "kid"}},
        "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "Child failed"}],
        "End": True}, "Child failed": {"Type": "Pass", "End": True}}}
    result = execute(definition, "{}", dispatcher=dispatcher)
    output = json.loads(result.output)
    assert output["Status"] == "SUCCEEDED"
    assert output["Output"]["greeting"]["greeting"] == "hello kid"      # .sync:2 parses the child's output
    assert output["StateMachineArn"] == child.arn

    definition["States"]["Child"]["Parameters"]["Input"] = {"fail": True}
    failed = json.loads(execute(definition, "{}", dispatcher=dispatcher).output)
    assert failed["Error"] == "States.TaskFailed"
    assert json.loads(failed["Cause"])["Error"] == "Demo.Failed"


def test_distributed_map_reads_items_and_writes_results_in_local_s3(dispatcher, aws):
    from engine import execute

    s3 = aws.client("s3")
    s3.put_object(Bucket="demo-databucket", Key="items.csv", Body=b"name\nAda\nBo\n")
    definition = {"StartAt": "Each", "States": {"Each": {
        "Type": "Map",
        "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "CSV"},
                       "Parameters": {"Bucket": "demo-databucket", "Key": "items.csv"}},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                          "StartAt": "Greet", "States": {"Greet": {
                              "Type": "Task", "Resource": arn("DemoGreetFunction"),
                              "ResultSelector": {"g.$": "$.greeting"}, "End": True}}},
        "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject",
                         "Parameters": {"Bucket": "demo-databucket", "Prefix": "runs"}},
        "End": True}}}
    result = execute(definition, "{}", dispatcher=dispatcher)
    assert result.status == "SUCCEEDED", result.cause
    manifest_key = json.loads(result.output)["ResultWriterDetails"]["Key"]
    manifest = json.loads(s3.get_object(Bucket="demo-databucket", Key=manifest_key)["Body"].read())
    (succeeded,) = manifest["ResultFiles"]["SUCCEEDED"]
    entries = json.loads(s3.get_object(Bucket="demo-databucket", Key=succeeded["Key"])["Body"].read())
    assert sorted(json.loads(entry["Output"])["g"] for entry in entries) == ["hello Ada", "hello Bo"]


def test_task_work_advances_the_virtual_clock_by_its_real_duration(app, aws):
    from engine.asl.clock import VirtualClock
    from engine.tasks import LocalDispatcher

    clock = VirtualClock()
    before = clock.now()
    LocalDispatcher(app, clock=clock).run_task(call(arn("DemoSlowFunction"), {"seconds": 0.3}))
    assert 0.3 <= clock.now() - before < 5
