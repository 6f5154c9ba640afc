"""The IAM statements each construct needs: exactly the actions used, scoped to the resources touched."""

import json
import textwrap

import pytest

from compiler import iam, validate_project
from compiler.load import build_workflow, read_document


def workflow_of(tmp_path, text, name="demo"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(textwrap.dedent(text))
    workflow, errors = build_workflow(read_document(path), path)
    assert errors == []
    return workflow


def machine_policy(tmp_path, text, name="demo"):
    """State machine statements as {Sid: policy statement}."""
    return {s.sid: s.to_cfn() for s in iam.state_machine_statements(workflow_of(tmp_path, text, name))}


def sub(text):
    return {"Fn::Sub": text}


def test_handler_tasks_may_invoke_exactly_their_functions(tmp_path):
    policy = machine_policy(tmp_path, """
        steps:
          - name: One
            handler: app.one
          - name: Two
            handler: app.two
        """)
    assert policy == {"InvokeFunctions": {
        "Sid": "InvokeFunctions", "Effect": "Allow", "Action": ["lambda:InvokeFunction"],
        "Resource": [{"Fn::GetAtt": ["DemoOneFunction", "Arn"]}, {"Fn::GetAtt": ["DemoTwoFunction", "Arn"]},
                     sub("${DemoOneFunction.Arn}:*"), sub("${DemoTwoFunction.Arn}:*")]}}


def test_rekognition_cannot_be_scoped_and_says_why(tmp_path):
    statements = iam.state_machine_statements(workflow_of(tmp_path, """
        resources:
          videos-in: {type: bucket}
        steps:
          - name: Start
            service: rekognition:startFaceDetection
            parameters: {Video: {S3Object: {Bucket: "${resource:videos-in}", Name.$: $.key}}}
          - name: Get
            service: rekognition:getFaceDetection
            parameters: {JobId.$: $.JobId}
        """))
    by_sid = {s.sid: s for s in statements}
    unscoped = by_sid["RekognitionUnscoped"]
    assert unscoped.actions == ("rekognition:GetFaceDetection", "rekognition:StartFaceDetection")
    assert unscoped.resources == ("*",)
    assert "no resource-level permissions" in unscoped.reason
    # Rekognition reads the video with the caller's credentials: the role needs the object.
    assert by_sid["RekognitionReadsObjects"].to_cfn()["Resource"] == sub("${VideosInBucket.Arn}/*")
    assert by_sid["RekognitionReadsObjects"].actions == ("s3:GetObject",)


def test_no_statement_ever_has_a_wildcard_action(tmp_path):
    statements = iam.state_machine_statements(workflow_of(tmp_path, """
        resources:
          work: {type: bucket}
        steps:
          - name: A
            service: textract:startDocumentAnalysis
            parameters: {}
          - name: B
            service: s3:getObject
            parameters: {Bucket: "${resource:work}", Key: x}
        """))
    assert all("*" not in action for s in statements for action in s.actions)


def test_s3_sdk_calls_split_object_and_bucket_actions(tmp_path):
    policy = machine_policy(tmp_path, """
        resources:
          work: {type: bucket}
        steps:
          - name: List
            service: s3:listObjectsV2
            parameters: {Bucket: "${resource:work}"}
          - name: Read
            service: s3:getObject
            parameters: {Bucket: "${resource:work}", Key.$: $.key}
        """)
    assert policy["S3Buckets"]["Action"] == ["s3:ListBucket"]
    assert policy["S3Buckets"]["Resource"] == {"Fn::GetAtt": ["WorkBucket", "Arn"]}
    assert policy["S3Objects"]["Action"] == ["s3:GetObject"]
    assert policy["S3Objects"]["Resource"] == sub("${WorkBucket.Arn}/*")


@pytest.mark.parametrize(("listed", "expected"), [
    ("", [sub("${ABucket.Arn}/*"), sub("${BBucket.Arn}/*")]),  # every declared bucket
    ("reads: [a]", sub("${ABucket.Arn}/*")),                     # only what the step lists
])
def test_a_bucket_chosen_at_run_time_is_scoped_to_the_listed_or_else_the_declared_buckets(tmp_path, listed,
                                                                                        expected):
    policy = machine_policy(tmp_path, f"""
        resources:
          a: {{type: bucket}}
          b: {{type: bucket}}
        steps:
          - name: Read
            service: s3:getObject
            parameters: {{Bucket.$: $.bucket, Key.$: $.key}}
            {listed}
        """)
    assert policy["S3Objects"]["Resource"] == expected


def test_rekognition_reads_only_the_buckets_its_start_step_lists_and_fetching_results_reads_none(tmp_path):
    policy = machine_policy(tmp_path, """
        resources:
          videos-in: {type: bucket}
          videos-out: {type: bucket}
        steps:
          - name: Start
            service: rekognition:startFaceDetection
            parameters: {Video: {S3Object.$: $.video}}
            reads: [videos-in]
          - name: Get
            service: rekognition:getFaceDetection
            parameters: {JobId.$: $.JobId}
        """)
    assert policy["RekognitionReadsObjects"]["Resource"] == sub("${VideosInBucket.Arn}/*")


def test_sagemaker_training_sync_needs_the_managed_rule_and_pass_role(tmp_path):
    policy = machine_policy(tmp_path, """
        resources:
          training-role: {type: role, service: sagemaker}
        steps:
          - name: Train
            service: sagemaker:createTrainingJob.sync
            parameters:
              TrainingJobName.$: $.name
              RoleArn: ${resource:training-role}
        """)
    region = "arn:${AWS::Partition}:%s:${AWS::Region}:${AWS::AccountId}:%s"
    assert policy["SageMaker"] == {
        "Sid": "SageMaker", "Effect": "Allow",
        "Action": ["sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob"],
        "Resource": sub(region % ("sagemaker", "training-job/*"))}
    assert policy["SyncJobEvents"] == {
        "Sid": "SyncJobEvents", "Effect": "Allow",
        "Action": ["events:DescribeRule", "events:PutRule", "events:PutTargets"],
        "Resource": sub(region % ("events", "rule/StepFunctionsGetEventsForSageMakerTrainingJobsRule"))}
    assert policy["PassRoleToSagemaker"] == {
        "Sid": "PassRoleToSagemaker", "Effect": "Allow", "Action": ["iam:PassRole"],
        "Resource": {"Fn::GetAtt": ["TrainingRoleRole", "Arn"]},
        "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}}


def test_sagemaker_transform_sync_uses_the_transform_rule(tmp_path):
    policy = machine_policy(tmp_path, """
        steps:
          - name: Score
            service: sagemaker:createTransformJob.sync
            parameters: {TransformJobName.$: $.name}
        """)
    assert policy["SageMaker"]["Action"] == ["sagemaker:CreateTransformJob", "sagemaker:DescribeTransformJob",
                                             "sagemaker:StopTransformJob"]
    assert policy["SyncJobEvents"]["Resource"]["Fn::Sub"].endswith(
        "rule/StepFunctionsGetEventsForSageMakerTransformJobsRule")
    assert "PassRoleToSagemaker" not in policy


@pytest.mark.parametrize("service, actions, resources", [
    ("sagemaker:createModel", ["sagemaker:CreateModel"], ["model/*"]),
    ("sagemaker:createEndpointConfig", ["sagemaker:CreateEndpointConfig"], ["endpoint-config/*"]),
    ("sagemaker:updateEndpoint", ["sagemaker:UpdateEndpoint"], ["endpoint-config/*", "endpoint/*"]),
    ("sagemaker:describeEndpoint", ["sagemaker:DescribeEndpoint"], ["endpoint/*"]),
])
def test_sagemaker_calls_are_scoped_to_their_resource_type(tmp_path, service, actions, resources):
    policy = machine_policy(tmp_path, f"""
        steps:
          - name: Call
            service: {service}
            parameters: {{}}
        """)
    resource = policy["SageMaker"]["Resource"]
    resource = resource if isinstance(resource, list) else [resource]
    assert policy["SageMaker"]["Action"] == actions
    assert [r["Fn::Sub"].rsplit(":", 1)[1] for r in resource] == resources


def test_optimized_sns_and_dynamodb_are_scoped_to_the_named_resources(tmp_path):
    policy = machine_policy(tmp_path, """
        resources:
          alerts: {type: topic}
          ids: {type: table, key: id}
        steps:
          - name: Remember
            service: dynamodb:putItem
            parameters: {TableName: "${resource:ids}", Item: {id: {S.$: $.id}}}
          - name: Tell
            service: sns:publish
            parameters: {TopicArn: "${resource:alerts}", Message: hi}
        """)
    assert policy["SnsTopics"] == {"Sid": "SnsTopics", "Effect": "Allow", "Action": ["sns:Publish"],
                                   "Resource": {"Ref": "AlertsTopic"}}
    assert policy["DynamodbTables"] == {
        "Sid": "DynamodbTables", "Effect": "Allow", "Action": ["dynamodb:PutItem"],
        "Resource": [{"Fn::GetAtt": ["IdsTable", "Arn"]}, sub("${IdsTable.Arn}/index/*")]}


def test_distributed_map_may_start_its_own_children_and_use_its_buckets(tmp_path):
    policy = machine_policy(tmp_path, """
        resources:
          images: {type: bucket}
          results: {type: bucket}
        steps:
          - name: Each
            map:
              mode: distributed
              reader: {bucket: images, prefix: in/, format: objects}
              writer: {bucket: results, prefix: out/}
              steps:
                - name: Look
                  pass: {}
        """, name="tray-count")
    assert policy["DistributedMapExecutions"]["Resource"] == sub(
        "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${AWS::StackName}-tray-count")
    assert policy["DistributedMapChildren"]["Action"] == ["states:DescribeExecution", "states:StopExecution"]
    assert policy["MapReaderBuckets"] == {"Sid": "MapReaderBuckets", "Effect": "Allow",
                                          "Action": ["s3:ListBucket"],
                                          "Resource": {"Fn::GetAtt": ["ImagesBucket", "Arn"]}}
    assert policy["MapReaderObjects"]["Resource"] == sub("${ImagesBucket.Arn}/*")
    assert policy["MapResultWriter"]["Action"] == ["s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
                                                   "s3:PutObject"]
    assert policy["MapResultWriter"]["Resource"] == sub("${ResultsBucket.Arn}/*")


def test_function_role_follows_declared_reads_and_writes(tmp_path):
    workflow = workflow_of(tmp_path, """
        resources:
          videos-in: {type: bucket}
          ids: {type: table, key: id}
          threshold: {type: parameter, value: "0.8"}
          alerts: {type: topic}
        steps:
          - name: Work
            handler: app.work
            reads: [videos-in, threshold, ids]
            writes: [ids, alerts]
        """)
    step = next(workflow.handler_steps())
    policy = {s.sid: s.to_cfn() for s in iam.function_statements(workflow, step)}
    assert sorted(policy) == ["ReadIdsTable", "ReadThresholdParameter", "ReadVideosInBucket",
                              "ReadVideosInBucketObjects", "WriteAlertsTopic", "WriteIdsTable", "WriteLogs"]
    assert policy["ReadVideosInBucketObjects"]["Action"] == ["s3:GetObject"]
    assert policy["ReadVideosInBucket"]["Action"] == ["s3:ListBucket"]
    assert policy["WriteIdsTable"]["Action"] == ["dynamodb:BatchWriteItem", "dynamodb:DeleteItem",
                                                 "dynamodb:PutItem", "dynamodb:UpdateItem"]
    assert policy["ReadThresholdParameter"] == {
        "Sid": "ReadThresholdParameter", "Effect": "Allow", "Action": ["ssm:GetParameter", "ssm:GetParameters"],
        "Resource": sub("arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
                        "/${AWS::StackName}/threshold")}
    assert policy["WriteAlertsTopic"]["Resource"] == {"Ref": "AlertsTopic"}
    assert policy["WriteLogs"]["Resource"] == [
        sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/${AWS::StackName}-*"),
        sub("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:/aws/lambda/"
            "${AWS::StackName}-*:*")]


def test_external_resources_are_scoped_by_their_names(tmp_path):
    workflow = workflow_of(tmp_path, """
        parameters:
          Shared: {type: String}
        resources:
          archive: {type: bucket, external: {name: "${param:Shared}"}}
        steps:
          - name: Work
            handler: app.work
            writes: [archive]
        """)
    policy = {s.sid: s.to_cfn() for s in iam.function_statements(workflow, next(workflow.handler_steps()))}
    assert policy["WriteArchiveBucketObjects"]["Resource"] == sub("arn:${AWS::Partition}:s3:::${Shared}/*")


@pytest.mark.parametrize("service, action, expected", [
    ("rekognition", "startFaceDetection", ("rekognition:StartFaceDetection",)),
    ("sfn", "startExecution", ("states:StartExecution",)),
    ("sagemakerruntime", "invokeEndpoint", ("sagemaker:InvokeEndpoint",)),
    ("cloudwatchlogs", "putLogEvents", ("logs:PutLogEvents",)),
    ("s3", "listObjectsV2", ("s3:ListBucket",)),
    ("s3", "copyObject", ("s3:GetObject", "s3:PutObject")),
    ("lambda", "invoke", ("lambda:InvokeFunction",)),
])
def test_sdk_service_and_action_names_map_to_iam_actions(service, action, expected):
    assert iam.iam_actions(service, action) == expected


@pytest.mark.parametrize("service, parameters, resources", [
    ("sagemaker:createTrainingJob.sync", "{TrainingJobName.$: \"States.Format('Retrain-{}', $$.Execution.Name)\"}",
     ["training-job/retrain-*"]),
    ("sagemaker:updateEndpoint", "{EndpointName: Reviews, EndpointConfigName.$: $.config}",
     ["endpoint/reviews", "endpoint-config/*"]),
    ("sagemaker:describeEndpoint", "{EndpointName: reviews}", ["endpoint/reviews"]),
    ("sagemaker:createModel", "{ModelName.$: \"States.Format('{}-model', $.job)\"}", ["model/*"]),
    ("sagemaker:describeEndpoint", "{EndpointName: \"${param:Endpoint}\"}", ["endpoint/${Endpoint}"]),
    ("sagemaker:createModelPackage", "{ModelPackageGroupName: Trays, ModelApprovalStatus: Approved}",
     ["model-package/trays/*"]),
    ("sagemaker:updateModelPackage", "{ModelPackageArn.$: $.package, ModelApprovalStatus: Rejected}",
     ["model-package/*"]),
])
def test_sagemaker_calls_are_scoped_to_the_names_known_at_compile_time(tmp_path, service, parameters, resources):
    policy = machine_policy(tmp_path, f"""
        parameters:
          Endpoint: {{default: reviews}}
        steps:
          - name: Call
            service: {service}
            parameters: {parameters}
        """)
    resource = policy["SageMaker"]["Resource"]
    resource = resource if isinstance(resource, list) else [resource]
    assert sorted(r["Fn::Sub"].rsplit(":", 1)[1] for r in resource) == sorted(resources)


@pytest.mark.parametrize("service", ["sqs:sendMessage", "aws-sdk:sqs:sendMessage"])
def test_sqs_calls_are_scoped_to_the_queue_their_queue_url_names(tmp_path, service):
    policy = machine_policy(tmp_path, f"""
        resources:
          jobs: {{type: queue}}
          dead-letters: {{type: queue}}
        steps:
          - name: Enqueue
            service: {service}
            parameters: {{QueueUrl: "${{resource:jobs}}", MessageBody.$: $}}
        """)
    assert policy["SqsQueues"] == {"Sid": "SqsQueues", "Effect": "Allow", "Action": ["sqs:SendMessage"],
                                   "Resource": {"Fn::GetAtt": ["JobsQueue", "Arn"]}}


def test_a_table_parameter_naming_a_bucket_grants_nothing_on_the_bucket(tmp_path):
    # `validate` rejects this spec (test_misnamed_resource_is_a_validate_error); the grant must stay narrow anyway.
    policy = machine_policy(tmp_path, """
        resources:
          videos: {type: bucket}
          ids: {type: table, key: id}
        steps:
          - name: Remember
            service: dynamodb:putItem
            parameters: {TableName: "${resource:videos}", Item: {id: {S.$: $.id}}}
        """)
    granted = json.dumps(policy["DynamodbTables"])
    assert "VideosBucket" not in granted
    assert policy["DynamodbTables"]["Action"] == ["dynamodb:PutItem"]


@pytest.mark.parametrize(("service", "key", "named", "message"), [
    ("dynamodb:putItem", "TableName", "videos",
     "TableName names resource 'videos', a bucket; dynamodb:putItem needs a table"),
    ("aws-sdk:sqs:sendMessage", "QueueUrl", "alerts",
     "QueueUrl names resource 'alerts', a topic; sqs:sendMessage needs a queue"),
    ("s3:getObject", "Bucket", "ids", "Bucket names resource 'ids', a table; s3:getObject needs a bucket"),
])
def test_misnamed_resource_is_a_validate_error(tmp_path, service, key, named, message):
    (tmp_path / "workflows").mkdir()
    spec = tmp_path / "workflows" / "demo.yaml"
    spec.write_text(textwrap.dedent(f"""\
        resources:
          videos: {{type: bucket}}
          ids: {{type: table, key: id}}
          alerts: {{type: topic}}
        steps:
          - name: Call
            service: {service}
            parameters: {{{key}: "${{resource:{named}}}", Other: x}}
        """))
    errors = [e for e in validate_project(tmp_path) if "names resource" in e.message]  # not the botocore checks
    assert [(e.place.line, e.message) for e in errors] == [(8, message)]
    assert errors[0].place.file.endswith("demo.yaml")


def test_resources_of_the_right_type_pass_validate(tmp_path):
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "demo.yaml").write_text(textwrap.dedent("""\
        resources:
          ids: {type: table, key: id}
          jobs: {type: queue}
        steps:
          - name: Remember
            service: dynamodb:putItem
            parameters: {TableName: "${resource:ids}", Item: {id: {S.$: $.id}}}
          - name: Enqueue
            service: sqs:sendMessage
            parameters: {QueueUrl: "${resource:jobs}", MessageBody.$: $}
        """))
    assert validate_project(tmp_path) == []


def test_a_table_chosen_at_run_time_is_scoped_to_the_listed_tables_of_that_type(tmp_path):
    policy = machine_policy(tmp_path, """
        resources:
          ids: {type: table, key: id}
          names: {type: table, key: id}
          videos: {type: bucket}
        steps:
          - name: Remember
            service: dynamodb:putItem
            parameters: {TableName.$: $.table, Item: {id: {S.$: $.id}}}
            writes: [videos, ids]
        """)
    assert policy["DynamodbTables"]["Resource"] == [{"Fn::GetAtt": ["IdsTable", "Arn"]}, sub("${IdsTable.Arn}/index/*")]


def test_a_queue_chosen_at_run_time_with_no_queue_declared_is_a_commented_wildcard(tmp_path):
    statements = iam.state_machine_statements(workflow_of(tmp_path, """
        steps:
          - name: Enqueue
            service: sqs:sendMessage
            parameters: {QueueUrl.$: $.queue, MessageBody.$: $}
        """))
    queues = {s.sid: s for s in statements}["SqsQueues"]
    assert queues.resources == ("*",)
    assert queues.reason == "QueueUrl is chosen at run time names no queue the workflow declares"


def test_a_jsonata_expression_that_may_name_a_table_is_chosen_at_run_time(tmp_path):
    # The expression may answer the declared table or another: every declared table, not just the one named.
    policy = machine_policy(tmp_path, """
        query_language: JSONata
        resources:
          ids: {type: table, key: id}
          names: {type: table, key: id}
        steps:
          - name: Remember
            service: dynamodb:putItem
            arguments: {TableName: "{% $states.input.table ? $states.input.table : '${resource:ids}' %}",
                        Item: {id: {S: "{% $states.input.id %}"}}}
        """)
    granted = json.dumps(policy["DynamodbTables"])
    assert "IdsTable" in granted and "NamesTable" in granted


def test_a_table_named_by_a_template_parameter_is_not_taken_for_a_resource(tmp_path):
    policy = machine_policy(tmp_path, """
        parameters:
          Table: {default: legacy}
        resources:
          ids: {type: table, key: id}
        steps:
          - name: Remember
            service: dynamodb:putItem
            parameters: {TableName: "${param:Table}", Item: {id: {S.$: $.id}}}
        """)
    assert policy["DynamodbTables"]["Resource"] == [{"Fn::GetAtt": ["IdsTable", "Arn"]}, sub("${IdsTable.Arn}/index/*")]


def test_a_parameter_named_like_a_resource_is_still_chosen_at_deploy_time(tmp_path):
    # `${param:ids}` names the template parameter, not the table `ids`: the call may reach either table.
    policy = machine_policy(tmp_path, """
        parameters:
          ids: {default: legacy}
        resources:
          ids: {type: table, key: id}
          audit: {type: table, key: id}
        steps:
          - name: Remember
            service: dynamodb:putItem
            parameters: {TableName: "${param:ids}", Item: {id: {S.$: $.id}}}
        """)
    arns = policy["DynamodbTables"]["Resource"]
    assert {"Fn::GetAtt": ["IdsTable", "Arn"]} in arns and {"Fn::GetAtt": ["AuditTable", "Arn"]} in arns


def _validate(tmp_path, spec):
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "demo.yaml").write_text(textwrap.dedent(spec))
    return validate_project(tmp_path)


def test_misnamed_resources_are_found_in_polls_jsonata_steps_and_after_other_steps(tmp_path):
    errors = _validate(tmp_path, """\
        resources:
          videos: {type: bucket}
          ids: {type: table, key: id}
        steps:
          - name: Begin
            pass: null
          - name: Detect
            service: rekognition:startFaceDetection
            parameters: {Video: {S3Object: {Bucket: "${resource:videos}", Name.$: $.key}}}
          - name: Wait for it
            poll:
              service: dynamodb:getItem
              parameters: {TableName: "${resource:videos}", Key: {id: {S.$: $.id}}}
              until: $.Item is not null
          - name: Remember
            query_language: JSONata
            service: dynamodb:putItem
            arguments: {TableName: "${resource:videos}", Item: {id: {S: "{% $states.input.id %}"}}}
          - name: Expression
            query_language: JSONata
            service: dynamodb:putItem
            arguments: "{% {'TableName': $states.input.t} %}"
        """)
    message = "TableName names resource 'videos', a bucket; dynamodb:{} needs a table"
    assert [(e.place.line, e.message, e.hint) for e in errors] == [
        (13, message.format("getItem"), "name a table resource"),
        (18, message.format("putItem"), "name a table resource"),
    ]
    assert [e.place.col for e in errors] == [31, 28]  # the value, not the start of its mapping
