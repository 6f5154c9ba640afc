"""The same permissions as AWS: local calls are checked against the compiled roles, refused as AWS refuses."""
import json
import shutil
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner

from compiler.iam import IAM_ACTIONS, iam_actions
from engine.app import App
from engine.aws import LocalAWS
from engine.aws.access import acting_as
from engine.aws.requests import authorizations
from engine.cli import main
from engine.iam_eval import evaluate
from engine.tasks import LambdaRunner

GUARDED = Path(__file__).parent / "fixtures" / "guarded"
ACCOUNT, REGION = "111111111111", "us-east-1"
LEDGER, AUDIT = "guarded-LedgerTable", "guarded-AuditTable"


def stepsmith(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "guarded"
    shutil.copytree(GUARDED, root)
    monkeypatch.chdir(root)
    return root


def run(*flags: str, note_to: str, record_to: str):
    return stepsmith("run", "guarded", *flags, "--input", json.dumps({"note_to": note_to, "record_to": record_to}))


def items(project: Path, table: str) -> list:
    path = project / ".stepsmith/dynamodb" / f"{table}.json"
    return json.loads(path.read_text())["Items"] if path.exists() else []


def test_a_handler_writing_a_table_it_did_not_declare_gets_access_denied(project):
    result = run(note_to=AUDIT, record_to=LEDGER)
    assert result.exit_code == 1
    history = json.loads(next((project / ".stepsmith/executions").glob("*.json")).read_text())
    failed = next(event for event in history["events"] if event["type"] == "ExecutionFailed")
    details = failed["executionFailedEventDetails"]
    assert details["error"] == "ClientError"
    message = json.loads(details["cause"])["errorMessage"]
    assert message == (
        "An error occurred (AccessDeniedException) when calling the PutItem operation: User: "
        f"arn:aws:sts::{ACCOUNT}:assumed-role/guarded-GuardedNoteFunctionRole/guarded-GuardedNoteFunction is not "
        f"authorized to perform: dynamodb:PutItem on resource: arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{AUDIT} "
        "because no identity-based policy allows the dynamodb:PutItem action")
    assert items(project, AUDIT) == []


def test_declared_writes_work_for_the_handler_and_the_state_machine(project):
    result = run(note_to=LEDGER, record_to=LEDGER)
    assert result.exit_code == 0, result.stderr
    assert sorted(item["id"]["S"] for item in items(project, LEDGER)) == ["noted", "recorded"]


def test_the_state_machine_role_is_enforced_for_service_steps(project):
    result = run("--name", "audit-1", note_to=LEDGER, record_to=AUDIT)
    assert result.exit_code == 1
    assert (f"DynamoDB.AccessDeniedException: User: arn:aws:sts::{ACCOUNT}:assumed-role/"
            f"guarded-GuardedStateMachineRole/audit-1 is not authorized to perform: dynamodb:PutItem on resource: "
            f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{AUDIT} because no identity-based policy allows the "
            "dynamodb:PutItem action (Service: AmazonDynamoDBv2; Status Code: 400; Error Code: "
            "AccessDeniedException;") in result.stderr
    assert items(project, AUDIT) == []
    assert [item["id"]["S"] for item in items(project, LEDGER)] == ["noted"]   # the handler's step did run


def test_no_iam_turns_the_checks_off(project):
    result = run("--no-iam", note_to=AUDIT, record_to=AUDIT)
    assert result.exit_code == 0, result.stderr
    assert sorted(item["id"]["S"] for item in items(project, AUDIT)) == ["noted", "recorded"]


def test_the_engine_own_calls_are_not_checked_and_each_action_is(project, tmp_path):
    assert stepsmith("compile").exit_code == 0
    app = App.load(project)
    function = app.function("GuardedNoteFunction")
    with LocalAWS(tmp_path / "state", app=app) as aws:
        dynamodb = aws.client("dynamodb")
        dynamodb.put_item(TableName=AUDIT, Item={"id": {"S": "engine"}})     # no caller: the engine itself
        with acting_as(function.arn):
            dynamodb.put_item(TableName=LEDGER, Item={"id": {"S": "mine"}})   # writes: [ledger]
            # ...but no reads: GetItem on its own table is refused, as on AWS.
            with pytest.raises(ClientError) as error:
                dynamodb.get_item(TableName=LEDGER, Key={"id": {"S": "mine"}})
    assert error.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "dynamodb:GetItem on resource: arn:aws:dynamodb" in str(error.value)


def test_threads_a_handler_starts_are_still_the_function(project, tmp_path):
    # boto3's S3 transfer manager uploads from worker threads; they must be judged as the function.
    assert stepsmith("compile").exit_code == 0
    app = App.load(project)
    function = app.function("GuardedNoteFunction")
    (project / "handlers" / "notes.py").write_text(
        "import threading, boto3\n"
        "def note(event, context):\n"
        "    errors = []\n"
        "    def call():\n"
        "        try:\n"
        "            boto3.client('dynamodb').put_item(TableName=event['note_to'], Item={'id': {'S': 't'}})\n"
        "        except Exception as error:\n"
        "            errors.append(type(error).__name__ + ': ' + str(error))\n"
        "    worker = threading.Thread(target=call); worker.start(); worker.join()\n"
        "    return errors\n")
    with LocalAWS(tmp_path / "state", app=app):
        invocation = LambdaRunner().invoke(function, {"note_to": AUDIT})
    assert len(invocation.payload) == 1 and "AccessDeniedException" in invocation.payload[0]


def test_requests_name_the_resources_aws_authorizes():
    def asked(service, prefix, operation, **params):
        return [(a.action, a.resource) for a in authorizations(service, prefix, operation, params, REGION, ACCOUNT)]

    assert asked("s3", "s3", "HeadObject", Bucket="b", Key="k/1") == [("s3:GetObject", "arn:aws:s3:::b/k/1")]
    assert asked("s3", "s3", "ListObjectsV2", Bucket="b", Prefix="p/") == [("s3:ListBucket", "arn:aws:s3:::b")]
    assert asked("s3", "s3", "CopyObject", Bucket="b", Key="k", CopySource={"Bucket": "a", "Key": "x"}) == [
        ("s3:GetObject", "arn:aws:s3:::a/x"), ("s3:PutObject", "arn:aws:s3:::b/k")]
    assert asked("dynamodb", "dynamodb", "Query", TableName="t", IndexName="i") == [
        ("dynamodb:Query", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t/index/i")]
    assert asked("dynamodb", "dynamodb", "TransactWriteItems", TransactItems=[
        {"Put": {"TableName": "a"}}, {"Delete": {"TableName": "b"}}]) == [
        ("dynamodb:PutItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/a"),
        ("dynamodb:DeleteItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/b")]
    assert asked("sqs", "sqs", "SendMessageBatch", QueueUrl=f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/q") == [
        ("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:q")]
    assert asked("ssm", "ssm", "GetParameter", Name="/app/x") == [
        ("ssm:GetParameter", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/app/x")]
    assert asked("lambda", "lambda", "Invoke", FunctionName="f") == [
        ("lambda:InvokeFunction", f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f")]
    assert asked("sagemaker-runtime", "sagemaker", "InvokeEndpoint", EndpointName="Trays") == [
        ("sagemaker:InvokeEndpoint", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/trays")]
    assert asked("sagemaker", "sagemaker", "CreateTrainingJob", TrainingJobName="Job",
                 RoleArn="arn:aws:iam::1:role/r") == [
        ("sagemaker:CreateTrainingJob", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/job"),
        ("iam:PassRole", "arn:aws:iam::1:role/r")]
    package = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/trays/3"
    assert asked("sagemaker", "sagemaker", "CreateModelPackage", ModelPackageGroupName="Trays") == [
        ("sagemaker:CreateModelPackage", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/trays/*")]
    assert asked("sagemaker", "sagemaker", "UpdateModelPackage", ModelPackageArn=package) == [
        ("sagemaker:UpdateModelPackage", package)]
    assert asked("sagemaker", "sagemaker", "DescribeModelPackage", ModelPackageName=package) == [
        ("sagemaker:DescribeModelPackage", package)]
    assert asked("sagemaker", "sagemaker", "ListModelPackages", ModelPackageGroupName="reviews") == [
        ("sagemaker:ListModelPackages", "*")]
    assert asked("rekognition", "rekognition", "StartFaceDetection", Video={}) == [
        ("rekognition:StartFaceDetection", "*")]
    assert asked("sts", "sts", "GetCallerIdentity") == []


def test_an_unknown_resource_is_refused_only_when_no_statement_allows_the_action():
    policy = [{"Effect": "Allow", "Action": "kinesis:PutRecord", "Resource": "arn:aws:kinesis:*:*:stream/s"}]
    assert evaluate(policy, "kinesis:PutRecord", None).allowed
    assert not evaluate(policy, "kinesis:DeleteStream", None).allowed
    deny = [*policy, {"Effect": "Deny", "Action": "kinesis:*", "Resource": "arn:aws:kinesis:*:*:stream/other"}]
    assert evaluate(deny, "kinesis:PutRecord", None).allowed
    assert not evaluate([*policy, {"Effect": "Deny", "Action": "kinesis:*", "Resource": "*"}],
                        "kinesis:PutRecord", None).allowed


def test_a_local_aws_without_an_app_checks_nothing(tmp_path):
    with LocalAWS(tmp_path, persist=False), acting_as("arn:aws:states:us-east-1:1:stateMachine:x"):
        boto3.client("s3").create_bucket(Bucket="free")


def test_work_done_as_a_role_arn_is_judged_by_that_role(project, tmp_path):
    # The hook a local SageMaker job uses: it works as the RoleArn it was created with.
    assert stepsmith("compile").exit_code == 0
    app = App.load(project)
    role = f"arn:aws:iam::{ACCOUNT}:role/guarded-GuardedNoteFunctionRole"
    with LocalAWS(tmp_path / "state", app=app) as aws, acting_as(role, "SageMaker"):
        dynamodb = aws.client("dynamodb")
        dynamodb.put_item(TableName=LEDGER, Item={"id": {"S": "job"}})
        with pytest.raises(ClientError) as error:
            dynamodb.put_item(TableName=AUDIT, Item={"id": {"S": "job"}})
    assert f"assumed-role/guarded-GuardedNoteFunctionRole/SageMaker is not authorized to perform: " \
           f"dynamodb:PutItem on resource: arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{AUDIT}" in str(error.value)


def test_a_task_may_invoke_only_the_functions_its_state_machine_role_allows(app, aws, dispatcher):
    from engine import execute

    machine = app.state_machines["DemoStateMachine"]
    allowed, other = app.functions["DemoGreetFunction"], app.functions["DemoCountFunction"]
    definition = {"StartAt": "Greet", "States": {
        "Greet": {"Type": "Task", "Resource": allowed.arn, "ResultPath": "$.greeting", "Next": "Count"},
        "Count": {"Type": "Task", "Resource": other.arn, "End": True}}}
    result = execute(definition, "{}", state_machine_name=machine.name, execution_name="ex-1",
                     account=app.account, region=app.region, dispatcher=dispatcher)
    assert result.status == "FAILED"
    assert result.error == "Lambda.AWSLambdaException"
    assert result.cause.startswith(
        f"User: arn:aws:sts::{app.account}:assumed-role/demo-DemoStateMachineRole/ex-1 is not authorized to "
        f"perform: lambda:InvokeFunction on resource: {other.arn} because no identity-based policy allows the "
        "lambda:InvokeFunction action (Service: AWSLambda; Status Code: 403; Error Code: AccessDeniedException;")


def test_a_role_whose_policy_cannot_be_decided_is_reported_and_not_checked(tmp_path, capsys):
    root = tmp_path / "app"
    (root / "build").mkdir(parents=True)
    (root / "build" / "template.yaml").write_text("""
Parameters:
  Domain: {Type: String}
Resources:
  Machine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Definition: {StartAt: P, States: {P: {Type: Pass, End: true}}}
      Policies:
        - Statement:
            - {Effect: Allow, Action: sagemaker:CreatePresignedDomainUrl, Resource: !Sub "arn:aws:sagemaker:::${Domain}"}
  Tables:
    Type: AWS::Serverless::Function
    Properties:
      Handler: h.handler
      CodeUri: .
      Policies:
        - DynamoDBCrudPolicy: {TableName: t}
""")
    app = App.load(root, stack="s")
    with LocalAWS(tmp_path / "state", app=app, persist=False) as aws:
        for caller in (f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:s-Machine",
                       f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:s-Tables"):
            with acting_as(caller):
                aws.client("s3").list_buckets()     # not refused: these roles cannot be decided locally
    err = capsys.readouterr().err
    assert "IAM not checked for role s-Machine: its policy needs parameter Domain, which has no value" in err
    assert "IAM not checked for role s-TablesRole: SAM policy template DynamoDBCrudPolicy cannot be " \
           "evaluated locally" in err


@pytest.mark.parametrize("service, action", [
    *IAM_ACTIONS,
    ("sfn", "startExecution"), ("eventbridge", "putEvents"), ("sagemakerruntime", "invokeEndpoint"),
    ("secretsmanager", "getSecretValue"), ("ssm", "getParameters"), ("rekognition", "startFaceDetection"),
    ("sqs", "sendMessageBatch"), ("sqs", "deleteMessageBatch"), ("sns", "publishBatch"), ("s3", "putObject"),
    ("dynamodb", "batchWriteItem"), ("sagemaker", "createTrainingJob")])
def test_what_the_compiler_grants_a_service_step_is_what_the_check_asks(service, action):
    # The compiler names the IAM actions of each aws-sdk step; the local check names those of the same
    # API call. If they drift, a compiled workflow is refused locally (and, if the compiler is wrong, on AWS).
    import botocore.session

    from engine.tasks import boto3_service

    client = boto3_service(service)
    prefix = botocore.session.get_session().get_service_model(client).signing_name
    operation = action[:1].upper() + action[1:]
    asked = {need.action for need in authorizations(client, prefix, operation, {}, REGION, ACCOUNT)}
    assert asked <= set(iam_actions(service, action))
